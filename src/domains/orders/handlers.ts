import type {
  PaymentAuthorizedV1,
  PaymentCapturedV1,
  PaymentFailedV1,
  PaymentVoidedV1,
  RefundSucceededV1,
} from '../../contracts/payments.ts';
import type { Tx } from '../../platform/db/pool.ts';
import { newId } from '../../platform/ids.ts';
import type { EventEnvelope } from '../../platform/messaging/envelope.ts';
import type { HandlerContext, Subscription } from '../../platform/messaging/subscription.ts';
import { type OrderRow, insertRefund, lockOrders, markPaymentRefunded, paymentCaptured, paymentsUpsert, upsertPayments } from './sql.ts';
import { SYSTEM } from './status-machine.ts';
import { applyCommands } from './transitions.ts';

/**
 * Orders learn about money only from payments events; they never call payments. Each handler runs
 * in the orders transaction of the inbox consumer (the inbox drops an event id seen before), and is
 * idempotent on its own too: order_payments is unique per (order, payment), order_refunds per
 * (order, refund), and the status machine treats a repeated capture as already done. A handler that
 * throws is retried with backoff (e.g. a refund that arrives before its capture).
 */
type IntentEvent = PaymentAuthorizedV1 | PaymentCapturedV1 | PaymentFailedV1 | PaymentVoidedV1;

const paymentFacts = (event: IntentEvent, status: string) =>
  event.allocations.map((a) => ({ orderId: a.orderId, paymentId: event.intentId, amount: a.amount, currency: event.currency, status }));

async function recordIntent(ctx: HandlerContext, event: IntentEvent, status: string): Promise<void> {
  await upsertPayments(ctx.tx, paymentFacts(event, status), ctx.now, newId);
}

/** Locks the orders the event names; an order this database does not hold is an error worth retrying, then parking. */
async function lockNamedOrders(tx: Tx, orderIds: string[], eventType: string): Promise<Map<string, OrderRow>> {
  const orders = await lockOrders(tx, orderIds);
  const byId = new Map(orders.map((o) => [o.id, o]));
  const missing = orderIds.filter((id) => !byId.has(id));
  if (missing.length > 0) throw new Error(`${eventType} names unknown order(s) ${missing.join(', ')}`);
  return byId;
}

async function onCaptured(ctx: HandlerContext, event: PaymentCapturedV1): Promise<void> {
  const orders = await lockNamedOrders(ctx.tx, event.allocations.map((a) => a.orderId), 'payments.payment_captured.v1');
  for (const a of event.allocations) {
    const order = orders.get(a.orderId) as OrderRow;
    // The allocation must pay exactly this order; anything else is a bug to park, not to paper over.
    if (order.currency !== event.currency || order.total_amount !== a.amount || order.seller_id !== a.sellerId) {
      throw new Error(`capture ${event.intentId} allocates ${a.amount} ${event.currency} to order ${order.id} of total ${order.total_amount} ${order.currency}`);
    }
  }
  // The payment is recorded in the statement that moves the orders.
  await applyCommands(
    ctx.tx,
    event.allocations.map((a) => ({
      order: orders.get(a.orderId) as OrderRow,
      command: { type: 'record_payment' } as const,
      payment: { paymentId: event.intentId, amount: a.amount },
    })),
    { actor: SYSTEM, reason: 'payment captured', now: ctx.now, trace: ctx.trace, alsoWrite: [paymentsUpsert(paymentFacts(event, 'captured'), ctx.now, newId)] },
  );
}

async function onRefundSucceeded(ctx: HandlerContext, event: RefundSucceededV1): Promise<void> {
  const orders = await lockNamedOrders(ctx.tx, [event.orderId], 'payments.refund_succeeded.v1');
  const order = orders.get(event.orderId) as OrderRow;
  if (order.currency !== event.currency) throw new Error(`refund ${event.refundId} is in ${event.currency}, order ${order.id} in ${order.currency}`);
  // A refund returns captured money: before its capture is recorded it is retried, whatever the
  // order's status (found by an audit: on an order cancelled while unpaid the refund was counted
  // against nothing paid, and the capture that came next left the payment row captured for good).
  if (!(await paymentCaptured(ctx.tx, order.id, event.intentId))) {
    throw new Error(`refund ${event.refundId} of order ${order.id} refused: the capture of payment ${event.intentId} is not recorded yet`);
  }
  const fresh = await insertRefund(
    ctx.tx,
    { id: newId(), orderId: order.id, refundId: event.refundId, amount: event.amount, currency: event.currency, reason: event.reason },
    ctx.now,
  );
  if (!fresh) return;
  const [result] = await applyCommands(ctx.tx, [{ order, command: { type: 'record_refund', amount: event.amount } }], {
    actor: SYSTEM,
    reason: `refund: ${event.reason}`.slice(0, 1000),
    now: ctx.now,
    trace: ctx.trace,
  });
  // Refused: the capture is not recorded yet (retry), or the refunds would pass the total (park).
  if (result?.decision.outcome === 'refused') throw new Error(`refund ${event.refundId} of order ${order.id} refused: ${result.decision.why}`);
  await markPaymentRefunded(ctx.tx, order.id, event.intentId, event.orderRefundedAmount >= event.orderPaidAmount, ctx.now);
}

export const PAYMENT_EVENTS = [
  'payments.payment_authorized.v1',
  'payments.payment_captured.v1',
  'payments.payment_failed.v1',
  'payments.payment_voided.v1',
  'payments.refund_succeeded.v1',
] as const;

export function paymentSubscription(): Subscription {
  return {
    consumer: 'orders.payments',
    domain: 'orders',
    events: PAYMENT_EVENTS,
    async handle(ctx: HandlerContext, envelope: EventEnvelope): Promise<void> {
      switch (envelope.type) {
        case 'payments.payment_authorized.v1':
          return recordIntent(ctx, envelope.data as PaymentAuthorizedV1, 'authorized');
        case 'payments.payment_captured.v1':
          return onCaptured(ctx, envelope.data as PaymentCapturedV1);
        // A failed or voided payment changes no order status: checkout's compensation cancels the orders.
        case 'payments.payment_failed.v1':
          return recordIntent(ctx, envelope.data as PaymentFailedV1, 'failed');
        case 'payments.payment_voided.v1':
          return recordIntent(ctx, envelope.data as PaymentVoidedV1, 'voided');
        case 'payments.refund_succeeded.v1':
          return onRefundSucceeded(ctx, envelope.data as RefundSucceededV1);
        default:
          throw new Error(`orders.payments cannot handle ${envelope.type}`);
      }
    },
  };
}
