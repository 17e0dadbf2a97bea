import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newId } from '../../src/platform/ids.ts';
import { eventually } from '../support/eventually.ts';
import { type InventoryHarness, deadlockCount, expectConsistent, lockWaiters, startInventory, stockedVariant } from './support.ts';

let h: InventoryHarness;
beforeAll(async () => {
  h = await startInventory({}, 6);
});
afterAll(async () => {
  await h?.close();
});

describe('a retry of a key whose reservation the sweeper is expiring (found by a review)', () => {
  for (const kind of ['multi-item', 'single-item (a batch)'] as const) {
    it(`replays a ${kind} request without a deadlock`, async () => {
      const a = await stockedVariant(h.api, 100);
      const b = await stockedVariant(h.api, 100);
      const items = kind === 'multi-item' ? [a, b].map((v) => ({ variantId: v.variantId, quantity: 1 })) : [{ variantId: a.variantId, quantity: 1 }];
      const input = { idempotencyKey: newId(), ownerId: newId(), items, ttlSeconds: 30 };
      const r = await h.api.reserve(input);
      h.clock.advance(30_000);
      const before = await deadlockCount(h.pool);
      const blocker = await h.pool.connect();
      let sweeping: Promise<unknown>;
      let retry: Promise<unknown>;
      try {
        await blocker.query('BEGIN');
        // Stops the sweeper at the reservation's lines, past whatever it takes before them.
        await blocker.query('SELECT 1 FROM stock_reservations WHERE reservation_id = $1 FOR UPDATE', [r.id]);
        sweeping = h.api.expireDue().then(
          (n) => n,
          (e: { code?: string }) => `sweep failed: ${e.code ?? String(e)}`,
        );
        await eventually(async () => expect(await lockWaiters(h.pool, 'UPDATE stock_reservations%')).toBe(1));
        // The buyer's checkout sends its reservation again with the same key: it waits for a lock (a
        // key's claim, or its items) or is answered.
        let answered = false;
        retry = h.api.reserve(input).then(
          (x) => {
            answered = true;
            return x;
          },
          (e: { code?: string }) => {
            answered = true;
            return `retry failed: ${e.code ?? String(e)}`;
          },
        );
        await eventually(async () => expect(answered || (await lockWaiters(h.pool, 'INSERT INTO reservations%', '%FROM stock_items WHERE variant_id = ANY%', '%UPDATE stock_items%')) === 1).toBe(true));
        await blocker.query('COMMIT');
      } finally {
        blocker.release();
      }
      expect(await sweeping).toBe(1);
      expect(await retry).toMatchObject({ id: r.id, replayed: true });
      expect((await deadlockCount(h.pool)) - before).toBe(0);
      await expectConsistent(h.pool, [a.variantId, b.variantId]);
    }, 30_000);
  }
});
