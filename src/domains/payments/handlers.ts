import { OrderCancelledV1 } from '../../contracts/orders.ts';
import type { Tx } from '../../platform/db/pool.ts';
import type { Subscription } from '../../platform/messaging/subscription.ts';
import { type OrderCancellation, cancellationRefundKey, recordCancelledOrder } from './cancelled-orders.ts';
import type { PaymentsDeps } from './deps.ts';
import { recordRefund } from './record-refund.ts';
import { type AllocationRow, lockIntent } from './sql.ts';
import { requestVoid } from './void-payment.ts';

/**
 * What a cancelled order means for its payment, decided from payments' own records (not from the
 * event's wasPaid): an authorization still held is voided, a capture is refunded for what is left
 * of the order's part (refunds still pending count as done; if one is declined later, its amount is
 * refunded then: see cancelled-orders.ts, which is why the cancellation itself is recorded). Only the
 * intention is recorded here, in the handler's transaction; the payments worker sends it to the
 * gateway. Replays find the refund under the same key, or the void already asked for, and add nothing.
 */
export async function releaseOrderPayment(tx: Tx, cancellation: OrderCancellation): Promise<{ voids: number; refunds: number }> {
  await recordCancelledOrder(tx, cancellation);
  const { rows: allocations } = await tx.query<AllocationRow>(
    'SELECT * FROM payment_allocations WHERE order_id = $1 ORDER BY created_at, id LIMIT 20',
    [cancellation.orderId],
  );
  let voids = 0;
  let refunds = 0;
  for (const found of allocations) {
    const intent = await lockIntent(tx, found.payment_intent_id);
    if (!intent) continue;
    if (intent.status === 'processing' || intent.status === 'authorized') {
      // A capture in flight makes requestVoid throw: the event is retried once the capture has an outcome.
      if (await requestVoid(tx, intent)) voids += 1;
      continue;
    }
    if (intent.status !== 'captured' && intent.status !== 'partially_refunded') continue;
    const { rows } = await tx.query<AllocationRow>('SELECT * FROM payment_allocations WHERE id = $1', [found.id]);
    const allocation = rows[0] as AllocationRow;
    const left = allocation.captured_amount - allocation.refunded_amount;
    if (left <= 0) continue;
    const { created } = await recordRefund(
      tx,
      {
        idempotencyKey: cancellationRefundKey(cancellation.orderId, intent.id),
        intentId: intent.id,
        orderId: cancellation.orderId,
        sellerId: allocation.seller_id,
        amount: left,
        reason: cancellation.reason,
        requestedBy: cancellation.cancelledBy,
      },
      { onExisting: 'accept' },
    );
    if (created) refunds += 1;
  }
  return { voids, refunds };
}

export function paymentsSubscriptions(deps: PaymentsDeps): Subscription[] {
  return [
    {
      consumer: 'payments.release_cancelled_order',
      domain: 'payments',
      events: [OrderCancelledV1.type],
      async handle(ctx, event) {
        const data = event.data as OrderCancelledV1;
        const released = await releaseOrderPayment(ctx.tx, { orderId: data.orderId, reason: data.reason, cancelledBy: data.cancelledBy });
        // The worker polls too; waking it may be early (before this commit), never harmful.
        if (released.voids + released.refunds > 0) deps.wakeWorker();
      },
    },
  ];
}
