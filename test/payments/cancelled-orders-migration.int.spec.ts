import { expect, it } from 'vitest';
import { newId } from '../../src/platform/ids.ts';
import { migrationScratch } from '../support/migration-scratch.ts';

/**
 * Payments migration 0005 on a payments database that already learned of cancelled orders: their
 * events are in its inbox, and a refund of such an order declined after the upgrade must still be
 * followed by the rest. Its own scratch database, dropped after.
 */
const scratch = migrationScratch('payments', 'payments/0005_cancelled_orders');

it('records the cancellations payments learned before it, from the inbox, once per order', async () => {
  const { db } = scratch;
  const [orderId, buyerId] = [newId(), newId()];
  const cancelledEvent = (data: Record<string, unknown>) => ({ id: newId(), type: 'orders.order_cancelled.v1', source: '/bazaar/orders', subject: orderId, data });
  // Delivered twice (a re-published event): one row.
  for (let i = 0; i < 2; i++) {
    const event = cancelledEvent({ orderId, reason: 'cancelled by buyer', cancelledBy: buyerId });
    await db.query(
      `INSERT INTO payments_inbox_events (consumer, event_id, source, aggregate_id, event_type, envelope) VALUES ($1, $2, 'orders', $3, $4, $5)`,
      ['payments.release_cancelled_order', event.id, orderId, event.type, JSON.stringify(event)],
    );
  }
  await scratch.apply();
  const { rows } = await db.query('SELECT order_id, reason, cancelled_by FROM cancelled_orders');
  expect(rows).toEqual([{ order_id: orderId, reason: 'cancelled by buyer', cancelled_by: buyerId }]);
});
