import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newId } from '../../src/platform/ids.ts';
import { beforeStatement as beforePoolStatement } from '../support/before-statement.ts';
import { deferred } from '../support/deferred.ts';
import { type InventoryHarness, expectConsistent, newVariant, startInventory } from './support.ts';

/**
 * The "sold out" mark of this process must never outlive stock that came back in it: a batch that
 * sells out marks the variant after its work, and a release in between (while the batch looks up
 * the keys it refused) used to be undone by that late mark, every buyer then told "sold out" from
 * memory for a second while a unit was there.
 */
let h: InventoryHarness;
beforeAll(async () => {
  h = await startInventory();
});
afterAll(async () => {
  await h?.close();
});

/** Runs `before` ahead of the first `times` statements on the inventory pool whose text matches. */
const beforeStatement = (matches: RegExp, before: () => Promise<void>, times = 1) => beforePoolStatement(h.pool, matches, before, times);

const nextTurn = () => new Promise((resolve) => setImmediate(resolve));


const buy = (variantId: string) => h.api.reserve({ idempotencyKey: newId(), ownerId: newId(), items: [{ variantId, quantity: 1 }] });

describe('the sold-out memo and stock that comes back', () => {
  it('is not set by a batch that sold out when a unit came back while it looked up its refused buyers', async () => {
    const v = newVariant();
    await h.api.receiveStock([{ ...v, quantity: 0 }]);
    // Two units; the adjustment leaves the row as the known state, so batches take the one-statement path.
    await h.api.adjustStock(v.sellerId, v.variantId, { amount: 2, reason: 'received' });

    // The first buyer's batch is held at its write while three more buyers queue behind it: they
    // make the next batch, which takes the last unit and refuses two.
    const held = deferred();
    const writing = deferred();
    beforeStatement(/UPDATE stock_items/, async () => {
      writing.resolve();
      await held.promise;
    });
    const first = buy(v.variantId);
    await writing.promise;
    const wave = [buy(v.variantId), buy(v.variantId), buy(v.variantId)];
    held.resolve();
    const firstReservation = await first;

    // While that batch looks up the keys it refused, the first buyer lets the unit go.
    beforeStatement(/idempotency_key = ANY/, async () => {
      await h.api.release(firstReservation.id, 'changed their mind');
    });
    const answers = await Promise.allSettled(wave);
    expect(answers.map((a) => a.status).sort()).toEqual(['fulfilled', 'rejected', 'rejected']);

    // A unit is there: the next buyer gets it, not "sold out" from memory.
    const next = await buy(v.variantId);
    expect(next.status).toBe('active');
    await expectConsistent(h.pool, [v.variantId]);
  });

  it('is asked again by a buyer who waited in the sold-out lane: one whose turn comes after a unit came back gets it', async () => {
    const v = newVariant();
    await h.api.receiveStock([{ ...v, quantity: 0 }]);
    await h.api.adjustStock(v.sellerId, v.variantId, { amount: 1, reason: 'received' });
    const sold = await buy(v.variantId);
    // Sold out and marked: the next buyers take the sold-out lane, whose three key lookups are held
    // (one per turn of the event loop), so a fourth buyer waits in the lane for a turn.
    const gate = deferred();
    let held = 0;
    beforeStatement(
      /idempotency_key = ANY/,
      async () => {
        held += 1;
        await gate.promise;
      },
      3,
    );
    const early: Promise<unknown>[] = [];
    for (let i = 0; i < 3; i++) {
      early.push(buy(v.variantId));
      await nextTurn();
    }
    expect(held).toBe(3);
    // It sends its request twice (a client's retry, same key): one reservation for both.
    const same = { idempotencyKey: newId(), ownerId: newId(), items: [{ variantId: v.variantId, quantity: 1 }] };
    const waiting = h.api.reserve(same);
    const retried = h.api.reserve(same);
    await nextTurn();
    // The unit comes back while that buyer waits.
    await h.api.release(sold.id, 'changed their mind');
    gate.resolve();
    for (const answer of await Promise.allSettled(early)) expect(answer).toMatchObject({ status: 'rejected', reason: { code: 'OUT_OF_STOCK' } });
    const [first, again] = await Promise.all([waiting, retried]);
    expect(first.status).toBe('active');
    expect(again.id).toBe(first.id);
    await expectConsistent(h.pool, [v.variantId]);
  });
});
