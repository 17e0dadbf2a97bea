import type { PaymentAllocationFacts } from '../../contracts/payments.ts';
import type { Queryable } from '../../platform/db/pool.ts';
import { appendEvents } from '../../platform/messaging/outbox.ts';
import { type AllocationRow, type IntentRow, readAllocations } from './sql.ts';

type IntentEventType =
  | 'payments.payment_authorized.v1'
  | 'payments.payment_captured.v1'
  | 'payments.payment_failed.v1'
  | 'payments.payment_voided.v1';

/**
 * Writes an intent's event to the payments outbox, in the transaction that made the change. The
 * intent's allocations are read unless the caller has them already (`known`).
 */
export async function emitIntentEvent(
  tx: Queryable,
  intent: IntentRow,
  type: IntentEventType,
  at: Date,
  extra: Record<string, unknown>,
  known?: readonly AllocationRow[],
): Promise<void> {
  const allocations: PaymentAllocationFacts[] = (known ?? (await readAllocations(tx, intent.id))).map((a) => ({
    orderId: a.order_id,
    sellerId: a.seller_id,
    amount: a.amount,
  }));
  await appendEvents(
    tx,
    'payments',
    [
      {
        type,
        aggregateId: intent.id,
        aggregateType: 'payment_intent',
        data: {
          intentId: intent.id,
          checkoutSessionId: intent.checkout_session_id,
          buyerId: intent.buyer_id,
          amount: intent.amount,
          currency: intent.currency,
          allocations,
          ...extra,
        },
      },
    ],
    at,
  );
}
