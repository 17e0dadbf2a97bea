import type { Tx } from '../../platform/db/pool.ts';
import { recordRefund } from './record-refund.ts';
import type { AllocationRow, RefundRow } from './sql.ts';

/**
 * A cancelled order's part of a payment is refunded in full. The cancellation refunds what is left
 * of it at that moment, counting refunds still pending as done: their amount is reserved, and
 * refunding it again could exceed the capture. If one of those is declined later, its amount would
 * never reach the buyer; so payments keep which orders were cancelled (cancelled_orders), and a
 * declined refund of one is followed by a refund of what is left when the decline is known.
 */

export interface OrderCancellation {
  orderId: string;
  reason: string;
  cancelledBy: string | null;
}

const KEY_PREFIX = 'order_cancelled:';

/** Whether a refund is one payments made for a cancelled order (its key), not a seller's. */
export function isCancellationRefund(refund: Pick<RefundRow, 'idempotency_key'>): boolean {
  return refund.idempotency_key.startsWith(KEY_PREFIX);
}

/** The key of the refund a cancellation makes for the order's part of an intent: one per pair. */
export function cancellationRefundKey(orderId: string, intentId: string): string {
  return `${KEY_PREFIX}${orderId}:${intentId}`;
}

/** Records, once, that the order was cancelled (in the cancellation handler's transaction). */
export async function recordCancelledOrder(tx: Tx, cancellation: OrderCancellation): Promise<void> {
  await tx.query('INSERT INTO cancelled_orders (order_id, reason, cancelled_by) VALUES ($1, $2, $3) ON CONFLICT (order_id) DO NOTHING', [
    cancellation.orderId,
    cancellation.reason,
    cancellation.cancelledBy,
  ]);
}

/**
 * After a refund was declined and its amount given back (under the intent's and the allocation's
 * locks, so `left` is exact), records a refund of its amount (at most what is left of the order's
 * part) if the order was cancelled, for the payments worker to send. Not after a declined refund made for the cancellation
 * itself: asking a card that refuses refunds for the same money again would never end; that one is
 * left to an operator, as before. Answers whether a refund was recorded.
 */
export async function refundRestOfCancelledOrder(tx: Tx, declined: RefundRow, allocation: AllocationRow, left: number): Promise<boolean> {
  if (left <= 0 || isCancellationRefund(declined)) return false;
  const { rows } = await tx.query<{ reason: string }>('SELECT reason FROM cancelled_orders WHERE order_id = $1', [declined.order_id]);
  const cancelled = rows[0];
  if (!cancelled) return false;
  const { created } = await recordRefund(
    tx,
    {
      idempotencyKey: `${cancellationRefundKey(declined.order_id, declined.payment_intent_id)}:after:${declined.id}`,
      intentId: declined.payment_intent_id,
      orderId: declined.order_id,
      sellerId: allocation.seller_id,
      // What this refund would have returned, within what is left: a declined cancellation refund
      // (left to an operator) may have given its amount back first, and is not asked for again here.
      amount: Math.min(left, Number(declined.amount)),
      reason: cancelled.reason,
      requestedBy: null,
    },
    { onExisting: 'accept' },
  );
  return created;
}
