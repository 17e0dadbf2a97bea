import { expect, it } from 'vitest';
import { newId } from '../../src/platform/ids.ts';
import { migrationScratch } from '../support/migration-scratch.ts';

/**
 * Search migration 0007 on a dashboard that counted orders before it: the orders already counted as
 * paid are known to it (from the payment events its inbox processed, and from statuses that say so),
 * so that a later refund of one of them still counts. Its own scratch database, dropped after.
 */
const scratch = migrationScratch('search', 'search/0007_refunds_of_paid_orders');

it('knows the orders counted as paid before it, and no others', async () => {
  const { db } = scratch;
  const sellerId = newId();
  const [paidThenCancelled, shipped, cancelledUnpaid, pending, parkedPayment] = [newId(), newId(), newId(), newId(), newId()];
  const orderRow = (orderId: string, status: string) =>
    db.query(
      `INSERT INTO order_list_view (order_id, buyer_id, seller_id, order_number, status, total_amount, currency, item_count, order_version, created_at, updated_at)
       VALUES ($1, $2, $3, $4, $5, 1000, 'USD', 1, 2, '2026-05-01T10:00:00Z', '2026-05-02T10:00:00Z')`,
      [orderId, newId(), sellerId, `BZ-${orderId.slice(0, 8)}`, status],
    );
  const paymentEvent = (orderId: string, status: string) =>
    db.query(
      `INSERT INTO search_inbox_events (consumer, event_id, source, aggregate_id, event_type, envelope, status)
       VALUES ('search.seller_dashboard', $1, '/bazaar/orders', $2, 'orders.order_paid.v1', $3, $4)`,
      [newId(), orderId, JSON.stringify({ data: { orderId, sellerId, currency: 'USD', paidAt: '2026-05-01T11:00:00.000Z' } }), status],
    );
  await orderRow(paidThenCancelled, 'cancelled');
  await paymentEvent(paidThenCancelled, 'processed');
  await orderRow(shipped, 'shipped');
  await orderRow(cancelledUnpaid, 'cancelled');
  await orderRow(pending, 'pending_payment');
  await orderRow(parkedPayment, 'pending_payment');
  await paymentEvent(parkedPayment, 'dead');

  await scratch.apply();
  const { rows } = await db.query<{ order_id: string; paid_at: Date }>('SELECT order_id, paid_at FROM seller_dashboard_paid_orders ORDER BY paid_at');
  expect(new Set(rows.map((r) => r.order_id))).toEqual(new Set([paidThenCancelled, shipped]));
  expect(rows.find((r) => r.order_id === paidThenCancelled)?.paid_at.toISOString()).toBe('2026-05-01T11:00:00.000Z');
  expect((await db.query('SELECT count(*)::int AS n FROM seller_dashboard_held_refunds')).rows[0]).toEqual({ n: 0 });
});
