import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { giveBackCancelledOrder } from '../../src/domains/inventory/cancelled-order-stock.ts';
import { withTransaction } from '../../src/platform/db/pool.ts';
import { newId } from '../../src/platform/ids.ts';
import { type InventoryHarness, startInventory, stockedVariant } from './support.ts';

let h: InventoryHarness;
beforeAll(async () => {
  // One connection: the cancellation's statements and the statistics read below share a backend.
  h = await startInventory({}, 1);
});
afterAll(async () => {
  await h?.close();
});

/** Rows of reservations read so far by any scan, this backend's pending counts flushed first. */
async function reservationRowsRead(): Promise<number> {
  await h.pool.query('SELECT pg_stat_force_next_flush()');
  await h.pool.query('SELECT pg_stat_clear_snapshot()');
  const { rows } = await h.pool.query<{ n: string }>(
    `SELECT (coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0))::text AS n FROM pg_stat_user_tables WHERE relname = 'reservations'`,
  );
  return Number(rows[0]?.n ?? 0);
}

describe("an order's cancellation finds its reservations (found by a review)", () => {
  it('through the indexes, not by reading every reservation ever made', async () => {
    await h.pool.query(`INSERT INTO reservations (id, idempotency_key, request_hash, owner_id, reference_id, expires_at, created_at, updated_at)
      SELECT gen_random_uuid(), 'other-' || g, 'x', gen_random_uuid(), gen_random_uuid(), now(), now(), now() FROM generate_series(1, 20000) g`);
    await h.pool.query('ANALYZE reservations');
    const mug = await stockedVariant(h.api, 10);
    const sessionId = newId();
    const buyerId = newId();
    const r = await h.api.reserve({ idempotencyKey: `checkout:${sessionId}:reserve`, ownerId: buyerId, referenceId: sessionId, items: [{ variantId: mug.variantId, quantity: 2 }] });
    const orderId = newId();
    await h.api.confirm(r.id, { orders: [{ sellerId: mug.sellerId, orderId }] });

    const before = await reservationRowsRead();
    const given = await withTransaction(h.pool, (tx) =>
      giveBackCancelledOrder(tx, { orderId, buyerId, sellerId: mug.sellerId, checkoutSessionId: sessionId, reason: 'changed my mind', wasPaid: true }, h.clock.now(), null),
    );
    const read = (await reservationRowsRead()) - before;
    expect(given.restocked.map((i) => i.variant_id)).toEqual([mug.variantId]);
    expect(read, "reservation rows read to find one order's reservation").toBeLessThan(100);
  }, 60_000);
});
