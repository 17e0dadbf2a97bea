import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '../../src/platform/http/errors.ts';
import { newId } from '../../src/platform/ids.ts';
import { eventually } from '../support/eventually.ts';
import { type InventoryHarness, eventCount, expectConsistent, lockWaiters, startInventory, stockedVariant } from './support.ts';

let h: InventoryHarness;
beforeAll(async () => {
  h = await startInventory();
});
afterAll(async () => {
  await h?.close();
});

const codeOf = (r: PromiseSettledResult<unknown>) => (r.status === 'rejected' ? ((r.reason as AppError).code ?? String(r.reason)) : 'OK');
const one = (variantId: string, ownerId: string, idempotencyKey = newId()) => ({ idempotencyKey, ownerId, items: [{ variantId, quantity: 1 }] });

/** Units the buyer holds (active) or bought (confirmed) of the variant, by the database. */
async function unitsOf(ownerId: string, variantId: string): Promise<number> {
  const { rows } = await h.pool.query<{ units: number }>(
    `SELECT coalesce(sum(l.quantity), 0)::int AS units
       FROM reservations r JOIN stock_reservations l ON l.reservation_id = r.id JOIN stock_items s ON s.id = l.stock_item_id
      WHERE r.owner_id = $1 AND s.variant_id = $2 AND l.status IN ('active', 'confirmed')`,
    [ownerId, variantId],
  );
  return rows[0]?.units ?? 0;
}

describe("a seller's limit of units per buyer", () => {
  it("gives one buyer's 40 simultaneous requests exactly the limit, while other buyers are served", async () => {
    const v = await stockedVariant(h.api, 1000);
    await h.api.setPurchaseLimit(v.sellerId, v.variantId, { maxPerBuyer: 3 });
    const greedy = newId();
    const attempts = Array.from({ length: 240 }, (_, i) => h.api.reserve(one(v.variantId, i % 6 === 0 ? greedy : newId())));
    const results = await Promise.allSettled(attempts);
    const greedyCodes = results.filter((_, i) => i % 6 === 0).map(codeOf);
    expect(greedyCodes.filter((c) => c === 'OK')).toHaveLength(3);
    expect(greedyCodes.filter((c) => c === 'PURCHASE_LIMIT_EXCEEDED')).toHaveLength(37);
    expect(results.filter((_, i) => i % 6 !== 0).map(codeOf)).toEqual(Array(200).fill('OK'));
    expect(await unitsOf(greedy, v.variantId)).toBe(3);

    const refused = results.find((r, i) => i % 6 === 0 && r.status === 'rejected') as PromiseRejectedResult;
    expect(refused.reason).toBeInstanceOf(AppError);
    expect((refused.reason as AppError).status).toBe(409);
    expect((refused.reason as AppError).extensions).toEqual({ variantId: v.variantId, maxPerBuyer: 3, held: 3, requested: 1 });
    await expectConsistent(h.pool, [v.variantId]);
  });

  it('holds when two processes (two queues, each planning from what it last saw) serve the same buyer', async () => {
    const v = await stockedVariant(h.api, 500);
    await h.api.setPurchaseLimit(v.sellerId, v.variantId, { maxPerBuyer: 5 });
    const [first, second] = [h.other({ batchSizeMax: 3 }), h.other({ batchSizeMax: 3 })];
    const buyer = newId();
    const attempts = Array.from({ length: 120 }, (_, i) => (i % 2 === 0 ? first : second).reserve(one(v.variantId, i % 3 === 0 ? buyer : newId())));
    const results = await Promise.allSettled(attempts);
    const codes = results.filter((_, i) => i % 3 === 0).map(codeOf);
    expect(codes.filter((c) => c === 'OK')).toHaveLength(5);
    expect(codes.filter((c) => c === 'PURCHASE_LIMIT_EXCEEDED')).toHaveLength(35);
    expect(results.filter((_, i) => i % 3 !== 0).every((r) => r.status === 'fulfilled')).toBe(true);
    expect(await unitsOf(buyer, v.variantId)).toBe(5);
    await expectConsistent(h.pool, [v.variantId]);
  });

  it('applies at once in a process that planned from the item as it was before the limit', async () => {
    const v = await stockedVariant(h.api, 100);
    const elsewhere = h.other();
    const buyer = newId();
    // The other process now knows the item's state (no limit) and would plan its next batch from it.
    await elsewhere.reserve(one(v.variantId, buyer));
    h.clock.advance(1000);
    await h.api.setPurchaseLimit(v.sellerId, v.variantId, { maxPerBuyer: 1 });
    // The hold made before the limit was set does not count against it: one more, then no more.
    await elsewhere.reserve(one(v.variantId, buyer));
    await expect(elsewhere.reserve(one(v.variantId, buyer))).rejects.toMatchObject({ code: 'PURCHASE_LIMIT_EXCEEDED', extensions: { held: 1 } });
    await expect(h.api.reserve(one(v.variantId, buyer))).rejects.toMatchObject({ code: 'PURCHASE_LIMIT_EXCEEDED' });
    expect(await unitsOf(buyer, v.variantId)).toBe(2);
  });

  it('counts requests that took their time before a new limit and were decided under it', async () => {
    // Stock items are locked in id order, and ids grow: `first` is locked before the others.
    const first = await stockedVariant(h.api, 100);
    const limited = await stockedVariant(h.api, 100);
    const other = await stockedVariant(h.api, 100);
    await h.api.setPurchaseLimit(limited.sellerId, limited.variantId, { maxPerBuyer: 2 });
    const buyer = newId();
    await h.api.reserve({ ...one(limited.variantId, buyer), items: [{ variantId: limited.variantId, quantity: 2 }] });
    // Two multi-item requests take their time now, then wait for their first item (another
    // transaction holds it) while the seller sets a new limit a second later. (The harness has four
    // connections: the blocker, the two requests and the seller's change.)
    const blocker = await h.pool.connect();
    try {
      await blocker.query('BEGIN');
      await blocker.query('SELECT 1 FROM stock_items WHERE variant_id = $1 FOR UPDATE', [first.variantId]);
      const items = [first, limited, other].map((v) => ({ variantId: v.variantId, quantity: 1 }));
      const requests = [newId(), newId()].map((idempotencyKey) => h.api.reserve({ idempotencyKey, ownerId: buyer, items }));
      await eventually(async () => expect(await lockWaiters(h.pool, '%FROM stock_items WHERE variant_id = ANY%FOR UPDATE')).toBe(2));
      h.clock.advance(1000);
      await h.api.setPurchaseLimit(limited.sellerId, limited.variantId, { maxPerBuyer: 1 });
      await blocker.query('ROLLBACK');
      const codes = (await Promise.allSettled(requests)).map(codeOf);
      // Decided under the new limit, they count against it though their time is older.
      expect(codes.sort()).toEqual(['OK', 'PURCHASE_LIMIT_EXCEEDED']);
    } finally {
      blocker.release();
    }
    await expectConsistent(h.pool, [first.variantId, limited.variantId, other.variantId]);
  });

  it('answers a request over both the limit and the stock with the limit, whether it holds one item or several', async () => {
    const v = await stockedVariant(h.api, 3);
    const w = await stockedVariant(h.api, 10);
    await h.api.setPurchaseLimit(v.sellerId, v.variantId, { maxPerBuyer: 2 });
    const buyer = newId();
    await expect(h.api.reserve({ idempotencyKey: newId(), ownerId: buyer, items: [{ variantId: v.variantId, quantity: 5 }] })).rejects.toMatchObject({ code: 'PURCHASE_LIMIT_EXCEEDED' });
    await expect(
      h.api.reserve({ idempotencyKey: newId(), ownerId: buyer, items: [{ variantId: v.variantId, quantity: 5 }, { variantId: w.variantId, quantity: 1 }] }),
    ).rejects.toMatchObject({ code: 'PURCHASE_LIMIT_EXCEEDED' });
  });

  it('answers the limit first also when another item of the request is known to be sold out (found by a helper: it was OUT_OF_STOCK for a second, from memory)', async () => {
    const soldOut = await stockedVariant(h.api, 1);
    const limited = await stockedVariant(h.api, 10);
    await h.api.setPurchaseLimit(limited.sellerId, limited.variantId, { maxPerBuyer: 1 });
    const buyer = newId();
    await h.api.reserve(one(limited.variantId, buyer));
    // Another buyer takes the last unit: this process now answers the item sold out from memory.
    await h.api.reserve(one(soldOut.variantId, newId()));
    await expect(h.api.reserve(one(soldOut.variantId, newId()))).rejects.toMatchObject({ code: 'OUT_OF_STOCK' });
    await expect(
      h.api.reserve({ idempotencyKey: newId(), ownerId: buyer, items: [{ variantId: soldOut.variantId, quantity: 1 }, { variantId: limited.variantId, quantity: 1 }] }),
    ).rejects.toMatchObject({ code: 'PURCHASE_LIMIT_EXCEEDED', extensions: { variantId: limited.variantId, maxPerBuyer: 1, held: 1 } });
    // A buyer within the limit is told the item is sold out, by the transaction.
    await expect(
      h.api.reserve({ idempotencyKey: newId(), ownerId: newId(), items: [{ variantId: soldOut.variantId, quantity: 1 }, { variantId: limited.variantId, quantity: 1 }] }),
    ).rejects.toMatchObject({ code: 'OUT_OF_STOCK' });
  });

  it('keeps a limit set by another process out of the sold-out memory of a multi-item refusal (found by a review: OUT_OF_STOCK from memory for a second)', async () => {
    const limited = await stockedVariant(h.api, 2);
    const other = await stockedVariant(h.api, 5);
    const b = h.other();
    // The second process knows the item as it was: no limit.
    await b.reserve(one(limited.variantId, newId()));
    h.clock.advance(1000);
    await h.api.setPurchaseLimit(limited.sellerId, limited.variantId, { maxPerBuyer: 1 });
    const buyer = newId();
    await h.api.reserve(one(limited.variantId, buyer)); // the last unit; the buyer is at the limit
    await expect(
      b.reserve({ idempotencyKey: newId(), ownerId: newId(), items: [{ variantId: limited.variantId, quantity: 1 }, { variantId: other.variantId, quantity: 1 }] }),
    ).rejects.toMatchObject({ code: 'OUT_OF_STOCK' });
    await expect(b.reserve(one(limited.variantId, buyer))).rejects.toMatchObject({ code: 'PURCHASE_LIMIT_EXCEEDED' });
    // Nor may the second process's old copy vouch that an item has no limit when another item of
    // the request is sold out: the buyer past the limit is told the limit.
    const gone = await stockedVariant(h.api, 1);
    await b.reserve(one(gone.variantId, newId()));
    await expect(b.reserve(one(gone.variantId, newId()))).rejects.toMatchObject({ code: 'OUT_OF_STOCK' });
    const fresh = await stockedVariant(h.api, 5);
    await b.reserve(one(fresh.variantId, newId())); // the second process knows it without a limit
    h.clock.advance(1000);
    await h.api.setPurchaseLimit(fresh.sellerId, fresh.variantId, { maxPerBuyer: 1 });
    await h.api.reserve(one(fresh.variantId, buyer));
    await b.reserve(one(gone.variantId, newId())).catch(() => undefined); // sold out again in its memory
    await expect(
      b.reserve({ idempotencyKey: newId(), ownerId: buyer, items: [{ variantId: gone.variantId, quantity: 1 }, { variantId: fresh.variantId, quantity: 1 }] }),
    ).rejects.toMatchObject({ code: 'PURCHASE_LIMIT_EXCEEDED', extensions: { variantId: fresh.variantId } });
  });

  it('answers the retry of a granted request with its reservation, not with the limit it reached', async () => {
    const v = await stockedVariant(h.api, 10);
    await h.api.setPurchaseLimit(v.sellerId, v.variantId, { maxPerBuyer: 1 });
    const buyer = newId();
    const first = await h.api.reserve(one(v.variantId, buyer, 'retried-key'));
    // The retry and a new request of the same buyer in a batch that grants other buyers' requests
    // (planned from the known state: the retry is refused by the plan, then found by its key).
    const [before, alongside, retry, other] = await Promise.allSettled([
      h.api.reserve(one(v.variantId, newId())),
      h.api.reserve(one(v.variantId, newId())),
      h.api.reserve(one(v.variantId, buyer, 'retried-key')),
      h.api.reserve(one(v.variantId, buyer)),
    ]);
    expect([codeOf(before), codeOf(alongside)]).toEqual(['OK', 'OK']);
    expect(retry.status === 'fulfilled' && retry.value).toMatchObject({ id: first.id, replayed: true });
    expect(codeOf(other)).toBe('PURCHASE_LIMIT_EXCEEDED');
  });

  it('holds multi-item reservations to it too, all or nothing, also when one buyer sends ten at once', async () => {
    const limited = await stockedVariant(h.api, 50);
    const free = await stockedVariant(h.api, 50);
    await h.api.setPurchaseLimit(limited.sellerId, limited.variantId, { maxPerBuyer: 2 });
    const buyer = newId();
    const both = () =>
      h.api.reserve({
        idempotencyKey: newId(),
        ownerId: buyer,
        items: [
          { variantId: free.variantId, quantity: 1 },
          { variantId: limited.variantId, quantity: 1 },
        ],
      });
    const codes = (await Promise.allSettled(Array.from({ length: 10 }, both))).map(codeOf);
    expect(codes.filter((c) => c === 'OK')).toHaveLength(2);
    expect(codes.filter((c) => c === 'PURCHASE_LIMIT_EXCEEDED')).toHaveLength(8);
    // Nothing of the refused ones was kept, the free item's units included.
    expect(await unitsOf(buyer, limited.variantId)).toBe(2);
    expect(await unitsOf(buyer, free.variantId)).toBe(2);
    await expect(
      h.api.reserve({ idempotencyKey: newId(), ownerId: buyer, items: [{ variantId: limited.variantId, quantity: 3 }, { variantId: free.variantId, quantity: 1 }] }),
    ).rejects.toMatchObject({ code: 'PURCHASE_LIMIT_EXCEEDED', extensions: { variantId: limited.variantId, maxPerBuyer: 2, held: 2, requested: 3 } });
    await expectConsistent(h.pool, [limited.variantId, free.variantId]);
  });

  it('counts what the buyer holds and bought, not what was released or expired', async () => {
    const v = await stockedVariant(h.api, 20);
    await h.api.setPurchaseLimit(v.sellerId, v.variantId, { maxPerBuyer: 2 });
    const buyer = newId();
    const bought = await h.api.reserve(one(v.variantId, buyer));
    await h.api.confirm(bought.id);
    const released = await h.api.reserve(one(v.variantId, buyer));
    await h.api.release(released.id, 'changed my mind');
    const expiring = await h.api.reserve({ ...one(v.variantId, buyer), ttlSeconds: 60 });
    // Held: the bought unit and the expiring hold; a third is refused.
    await expect(h.api.reserve(one(v.variantId, buyer))).rejects.toMatchObject({ code: 'PURCHASE_LIMIT_EXCEEDED', extensions: { held: 2 } });
    h.clock.advance(61_000);
    expect(await h.api.expireDue()).toBeGreaterThanOrEqual(1);
    expect((await h.api.getReservation(expiring.id))?.status).toBe('expired');
    const again = await h.api.reserve(one(v.variantId, buyer));
    expect(again.status).toBe('active');
    await expect(h.api.reserve(one(v.variantId, buyer))).rejects.toMatchObject({ code: 'PURCHASE_LIMIT_EXCEEDED', extensions: { held: 2 } });
  });

  it('starts a fresh count when set anew, keeps it when set to the same value, and ends when cleared', async () => {
    const v = await stockedVariant(h.api, 20);
    const buyer = newId();
    const before = await eventCount(h.pool, 'inventory.purchase_limit_changed.v1');
    const set = await h.api.setPurchaseLimit(v.sellerId, v.variantId, { maxPerBuyer: 1 });
    expect(set).toMatchObject({ variantId: v.variantId, maxPerBuyer: 1, purchaseLimitSince: h.clock.now().toISOString() });
    await h.api.reserve(one(v.variantId, buyer));
    await expect(h.api.reserve(one(v.variantId, buyer))).rejects.toMatchObject({ code: 'PURCHASE_LIMIT_EXCEEDED' });

    // The same value again: nothing changes, not the count's start, and nothing is announced.
    h.clock.advance(1000);
    expect(await h.api.setPurchaseLimit(v.sellerId, v.variantId, { maxPerBuyer: 1 })).toMatchObject({ maxPerBuyer: 1, purchaseLimitSince: set.purchaseLimitSince });
    await expect(h.api.reserve(one(v.variantId, buyer))).rejects.toMatchObject({ code: 'PURCHASE_LIMIT_EXCEEDED' });
    expect(await eventCount(h.pool, 'inventory.purchase_limit_changed.v1')).toBe(before + 1);

    // A new value counts from now: the hold made before does not count against it.
    const raised = await h.api.setPurchaseLimit(v.sellerId, v.variantId, { maxPerBuyer: 2 });
    expect(raised.purchaseLimitSince).toBe(h.clock.now().toISOString());
    await h.api.reserve(one(v.variantId, buyer));
    await h.api.reserve(one(v.variantId, buyer));
    await expect(h.api.reserve(one(v.variantId, buyer))).rejects.toMatchObject({ code: 'PURCHASE_LIMIT_EXCEEDED', extensions: { held: 2 } });

    // Cleared: no limit.
    expect(await h.api.setPurchaseLimit(v.sellerId, v.variantId, { maxPerBuyer: null })).toMatchObject({ maxPerBuyer: null, purchaseLimitSince: null });
    await h.api.reserve({ ...one(v.variantId, buyer), items: [{ variantId: v.variantId, quantity: 5 }] });
    expect(await unitsOf(buyer, v.variantId)).toBe(8);
    expect(await eventCount(h.pool, 'inventory.purchase_limit_changed.v1')).toBe(before + 3);
    const { rows } = await h.pool.query<{ payload: unknown }>(
      `SELECT payload FROM inventory_outbox_events WHERE event_type = 'inventory.purchase_limit_changed.v1' AND payload->>'variantId' = $1 ORDER BY seq`,
      [v.variantId],
    );
    expect(rows.map((r) => r.payload)).toMatchObject([{ maxPerBuyer: 1 }, { maxPerBuyer: 2, since: raised.purchaseLimitSince }, { maxPerBuyer: null, since: null }]);
    await expectConsistent(h.pool, [v.variantId]);
  });

  it("refuses another seller's variant, a variant without stock item and values out of range", async () => {
    const v = await stockedVariant(h.api, 5);
    await expect(h.api.setPurchaseLimit(newId(), v.variantId, { maxPerBuyer: 1 })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(h.api.setPurchaseLimit(v.sellerId, newId(), { maxPerBuyer: 1 })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    for (const maxPerBuyer of [0, -1, 1.5, 1_000_001]) {
      await expect(h.api.setPurchaseLimit(v.sellerId, v.variantId, { maxPerBuyer })).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
    }
    // The database refuses what the code would let through.
    await expect(h.pool.query('UPDATE stock_items SET max_per_buyer = 0, purchase_limit_since = now() WHERE variant_id = $1', [v.variantId])).rejects.toThrow(/check/);
    await expect(h.pool.query('UPDATE stock_items SET max_per_buyer = 2 WHERE variant_id = $1', [v.variantId])).rejects.toThrow(/stock_items_purchase_limit_check/);
  });
});
