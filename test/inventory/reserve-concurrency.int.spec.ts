import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '../../src/platform/http/errors.ts';
import { newId } from '../../src/platform/ids.ts';
import { type InventoryHarness, expectConsistent, ledger, startInventory, stockedVariant } from './support.ts';

let h: InventoryHarness;
beforeAll(async () => {
  h = await startInventory();
});
afterAll(async () => {
  await h?.close();
});

const codeOf = (r: PromiseSettledResult<unknown>) => (r.status === 'rejected' ? (r.reason as AppError).code : 'OK');

describe('reserving one hot variant from many buyers at once', () => {
  it('grants exactly the 100 units to 100 of 2,000 simultaneous buyers and tells the rest it is out of stock', async () => {
    const v = await stockedVariant(h.api, 100);
    const attempts = Array.from({ length: 2000 }, () =>
      h.api.reserve({ idempotencyKey: newId(), ownerId: newId(), items: [{ variantId: v.variantId, quantity: 1 }] }),
    );
    const results = await Promise.allSettled(attempts);

    const codes = results.map(codeOf);
    expect(codes.filter((c) => c === 'OK')).toHaveLength(100);
    expect(codes.filter((c) => c === 'OUT_OF_STOCK')).toHaveLength(1900);
    const refused = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    expect(refused.reason).toBeInstanceOf(AppError);
    expect((refused.reason as AppError).status).toBe(409);

    const [item] = (await ledger(h.pool)).filter((i) => i.variantId === v.variantId);
    expect(item).toMatchObject({ total: 100, available: 0, reserved: 100, activeReserved: 100, movementsSum: 100 });
    const { rows } = await h.pool.query<{ reservations: number; lines: number; units: number }>(
      `SELECT count(DISTINCT r.id)::int AS reservations, count(l.id)::int AS lines, coalesce(sum(l.quantity), 0)::int AS units
         FROM reservations r JOIN stock_reservations l ON l.reservation_id = r.id JOIN stock_items s ON s.id = l.stock_item_id
        WHERE s.variant_id = $1 AND r.status = 'active'`,
      [v.variantId],
    );
    expect(rows[0]).toEqual({ reservations: 100, lines: 100, units: 100 });
    await expectConsistent(h.pool);
  });

  it('never oversells when two processes (two queues) reserve the same variant at once', async () => {
    const v = await stockedVariant(h.api, 50);
    // Small batches, so that each process often plans from a state the other has changed since.
    const [first, second] = [h.other({ batchSizeMax: 3 }), h.other({ batchSizeMax: 3 })];
    const attempts = Array.from({ length: 400 }, (_, i) =>
      (i % 2 === 0 ? first : second).reserve({ idempotencyKey: newId(), ownerId: newId(), items: [{ variantId: v.variantId, quantity: 1 }] }),
    );
    const codes = (await Promise.allSettled(attempts)).map(codeOf);
    expect(codes.filter((c) => c === 'OK')).toHaveLength(50);
    expect(codes.filter((c) => c === 'OUT_OF_STOCK')).toHaveLength(350);
    await expectConsistent(h.pool);

    // Each process plans from what it last saw; the events must still tell the true sequence.
    const { rows } = await h.pool.query<{ item: { available: number; reserved: number; total: number; version: number } }>(
      `SELECT payload->'items'->0 AS item FROM inventory_outbox_events
        WHERE event_type = 'inventory.stock_reserved.v1' AND payload->'items'->0->>'variantId' = $1`,
      [v.variantId],
    );
    expect(rows).toHaveLength(50);
    const levels = rows.map((r) => r.item).sort((a, b) => a.version - b.version);
    // Version 1 was the receipt of 50 units; each reservation after it takes one.
    expect(levels).toMatchObject(levels.map((_, i) => ({ available: 49 - i, reserved: i + 1, total: 50, version: i + 2 })));
  });

  it('holds all-or-nothing multi-item reservations to the stock of every item under contention', async () => {
    const a = await stockedVariant(h.api, 30);
    const b = await stockedVariant(h.api, 20);
    const attempts = Array.from({ length: 120 }, (_, i) =>
      h.api.reserve({
        idempotencyKey: newId(),
        ownerId: newId(),
        // Opposite orders on purpose: the items are still locked in one order, so no deadlock.
        items: i % 2 === 0 ? [{ variantId: a.variantId, quantity: 1 }, { variantId: b.variantId, quantity: 1 }] : [{ variantId: b.variantId, quantity: 1 }, { variantId: a.variantId, quantity: 1 }],
      }),
    );
    const codes = (await Promise.allSettled(attempts)).map(codeOf);
    expect(codes.filter((c) => c === 'OK')).toHaveLength(20);
    expect(codes.filter((c) => c === 'OUT_OF_STOCK')).toHaveLength(100);
    const items = await ledger(h.pool);
    expect(items.find((i) => i.variantId === a.variantId)).toMatchObject({ available: 10, reserved: 20 });
    expect(items.find((i) => i.variantId === b.variantId)).toMatchObject({ available: 0, reserved: 20 });
    await expectConsistent(h.pool);
  });

  it('returns one reservation to every concurrent retry of the same key, and makes only one', async () => {
    const v = await stockedVariant(h.api, 10);
    const key = newId();
    const ownerId = newId();
    const results = await Promise.all(
      Array.from({ length: 20 }, () => h.api.reserve({ idempotencyKey: key, ownerId, items: [{ variantId: v.variantId, quantity: 2 }] })),
    );
    expect(new Set(results.map((r) => r.id)).size).toBe(1);
    expect(results.filter((r) => !r.replayed)).toHaveLength(1);
    expect((await ledger(h.pool)).find((i) => i.variantId === v.variantId)).toMatchObject({ available: 8, reserved: 2 });
  });

  it('replays a retried key that the batch planned from the known state refuses, and refuses it with another body', async () => {
    const v = await stockedVariant(h.api, 3);
    const ownerId = newId();
    const key = newId();
    const item = (quantity: number) => [{ variantId: v.variantId, quantity }];
    const first = await h.api.reserve({ idempotencyKey: key, ownerId, items: item(1) });
    // One buyer's batch in flight; a new buyer and two retries of the first key queue behind it and
    // go as one batch planned from the known state, which has one unit left for the new buyer.
    const inFlight = h.api.reserve({ idempotencyKey: newId(), ownerId: newId(), items: item(1) });
    const other = h.api.reserve({ idempotencyKey: newId(), ownerId: newId(), items: item(1) });
    const retry = h.api.reserve({ idempotencyKey: key, ownerId, items: item(1) });
    const changed = h.api.reserve({ idempotencyKey: key, ownerId, items: item(2) }).catch((error: AppError) => error);
    await Promise.all([inFlight, other]);
    expect((await retry).id).toBe(first.id);
    expect(((await changed) as AppError).code).toBe('IDEMPOTENCY_KEY_REUSED');
    expect((await ledger(h.pool)).find((i) => i.variantId === v.variantId)).toMatchObject({ available: 0, reserved: 3 });
  });

  it('lets the database itself refuse a change that would take available below zero', async () => {
    const v = await stockedVariant(h.api, 1);
    await expect(
      h.pool.query('UPDATE stock_items SET available_quantity = available_quantity - 2, reserved_quantity = reserved_quantity + 2 WHERE variant_id = $1', [v.variantId]),
    ).rejects.toThrow(/stock_items_available_check/);
    await expect(h.pool.query('UPDATE stock_items SET available_quantity = available_quantity - 1 WHERE variant_id = $1', [v.variantId])).rejects.toThrow(
      /stock_items_quantities_add_up/,
    );
  });

  it('answers sold-out buyers from memory without writing anything, and sells again once stock is added', async () => {
    const v = await stockedVariant(h.api, 1);
    const sellerId = (await h.pool.query<{ seller_id: string }>('SELECT seller_id FROM stock_items WHERE variant_id = $1', [v.variantId])).rows[0]?.seller_id as string;
    await h.api.reserve({ idempotencyKey: newId(), ownerId: newId(), items: [{ variantId: v.variantId, quantity: 1 }] });
    const before = await h.pool.query<{ n: number; xact: number }>(
      `SELECT (SELECT count(*)::int FROM inventory_outbox_events) AS n, (SELECT version::int FROM stock_items WHERE variant_id = $1) AS xact`,
      [v.variantId],
    );
    // Another transaction holds the item's row: a late buyer answered by locking or writing it would
    // wait for it; answered from memory, none does.
    const holder = await h.pool.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT 1 FROM stock_items WHERE variant_id = $1 FOR UPDATE', [v.variantId]);
      const late = Promise.allSettled(
        Array.from({ length: 50 }, () => h.api.reserve({ idempotencyKey: newId(), ownerId: newId(), items: [{ variantId: v.variantId, quantity: 1 }] })),
      );
      const waited = new Promise<'waited'>((resolve) => setTimeout(() => resolve('waited'), 5_000).unref());
      const answered = await Promise.race([late, waited]);
      expect(answered, 'the late buyers waited on the locked row').not.toBe('waited');
      expect((answered as PromiseSettledResult<unknown>[]).map(codeOf).every((c) => c === 'OUT_OF_STOCK')).toBe(true);
    } finally {
      await holder.query('ROLLBACK');
      holder.release();
    }
    const after = await h.pool.query<{ n: number; xact: number }>(
      `SELECT (SELECT count(*)::int FROM inventory_outbox_events) AS n, (SELECT version::int FROM stock_items WHERE variant_id = $1) AS xact`,
      [v.variantId],
    );
    expect(after.rows[0]).toEqual(before.rows[0]);
    // The sale that emptied it said so once, and nothing the late buyers did said it again.
    const { rows: soldOut } = await h.pool.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM inventory_outbox_events WHERE event_type = 'inventory.stock_sold_out.v1' AND payload->>'variantId' = $1",
      [v.variantId],
    );
    expect(soldOut).toEqual([{ n: 1 }]);

    await h.api.adjustStock(sellerId, v.variantId, { amount: 1, reason: 'received' });
    const again = await h.api.reserve({ idempotencyKey: newId(), ownerId: newId(), items: [{ variantId: v.variantId, quantity: 1 }] });
    expect(again.status).toBe('active');
  });
});
