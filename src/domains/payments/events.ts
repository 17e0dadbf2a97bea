import type { PaymentAllocationFacts } from '../../contracts/payments.ts';
import type { Queryable } from '../../platform/db/pool.ts';
import type { Statement } from '../../platform/db/statements.ts';
import type { Trace } from '../../platform/messaging/envelope.ts';
import { type NewEvent, appendEvents, outboxStatement } from '../../platform/messaging/outbox.ts';
import { type AllocationFacts, type IntentRow, readAllocations } from './sql.ts';

type IntentEventType =
  | 'payments.payment_authorized.v1'
  | 'payments.payment_captured.v1'
  | 'payments.payment_failed.v1'
  | 'payments.payment_voided.v1';

/** An intent's event (payload from the intent and its allocations), as an outbox statement. */
export function intentEventStatement(
  intent: IntentRow,
  type: IntentEventType,
  at: Date,
  trace: Trace | null,
  extra: Record<string, unknown>,
  allocations: readonly AllocationFacts[],
): Statement | undefined {
  return outboxStatement('payments', [intentEvent(intent, type, extra, allocations)], trace, at);
}

function intentEvent(intent: IntentRow, type: IntentEventType, extra: Record<string, unknown>, allocations: readonly AllocationFacts[]): NewEvent {
  const facts: PaymentAllocationFacts[] = allocations.map((a) => ({ orderId: a.order_id, sellerId: a.seller_id, amount: a.amount }));
  return {
    type,
    aggregateId: intent.id,
    aggregateType: 'payment_intent',
    data: {
      intentId: intent.id,
      checkoutSessionId: intent.checkout_session_id,
      buyerId: intent.buyer_id,
      amount: intent.amount,
      currency: intent.currency,
      allocations: facts,
      ...extra,
    },
  };
}

/**
 * Writes an intent's event to the payments outbox, in the transaction that made the change. The
 * intent's allocations are read unless the caller has them already (`known`).
 */
export async function emitIntentEvent(
  tx: Queryable,
  intent: IntentRow,
  type: IntentEventType,
  at: Date,
  trace: Trace | null,
  extra: Record<string, unknown>,
  known?: readonly AllocationFacts[],
): Promise<void> {
  const allocations = known ?? (await readAllocations(tx, intent.id));
  await appendEvents(tx, 'payments', [intentEvent(intent, type, extra, allocations)], trace, at);
}
