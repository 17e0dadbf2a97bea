import { releasePayment } from './payment-release.ts';
import { notYet } from './payment-wait.ts';
import { type StepContext, type StepResult, idempotencyKeyFor, required } from './types.ts';

export interface AuthorizeOutput {
  /** Null when the orders owe nothing: no payment is made. */
  intentId: string | null;
  amount: number;
  currency: string;
}

/**
 * Authorizes the sum of the order totals, allocated per order. The idempotency key is the
 * session's, so a retry, a poll while the gateway's answer is unknown, or a recovery gets the same
 * intent (and its outcome once known): never a second charge. An order with a total of 0 has no
 * share in the payment; when every order owes nothing, no payment is made at all.
 */
export async function run(ctx: StepContext): Promise<StepResult<AuthorizeOutput>> {
  const snapshot = required(ctx.outputs.price_snapshot, 'the price snapshot');
  const orders = required(ctx.outputs.create_orders, 'the orders').orders.filter((o) => o.totalAmount > 0);
  const amount = orders.reduce((sum, o) => sum + o.totalAmount, 0);
  if (amount === 0) return { output: { intentId: null, amount, currency: snapshot.currency } };
  const input = {
    idempotencyKey: idempotencyKeyFor(ctx.session.id, 'payment'),
    checkoutSessionId: ctx.session.id,
    buyerId: ctx.session.userId,
    amount,
    currency: snapshot.currency,
    paymentMethod: { token: ctx.session.paymentMethod.token },
    allocations: orders.map((o) => ({ orderId: o.orderId, sellerId: o.sellerId, amount: o.totalAmount })),
  };
  const outcome = await ctx.ports.payments.authorize(input, ctx.trace);
  // A capture seen here was made by an earlier run of the next step: authorized it was.
  if (outcome.status !== 'authorized' && outcome.status !== 'captured') notYet(ctx, outcome, 'authorize');
  return { output: { intentId: outcome.intentId, amount, currency: snapshot.currency }, patch: { paymentIntentId: outcome.intentId } };
}

/** Voids the authorization (or refunds it if it was captured meanwhile); nothing when no intent was made. */
export async function compensate(ctx: StepContext): Promise<void> {
  const intentId = (ctx.saved as { intentId?: string } | undefined)?.intentId ?? ctx.session.paymentIntentId;
  if (intentId) await releasePayment(ctx, intentId);
}
