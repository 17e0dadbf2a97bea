import { releasePayment } from './payment-release.ts';
import { notYet } from './payment-wait.ts';
import { type StepContext, type StepResult, required } from './types.ts';

export interface CaptureOutput {
  /** Null when nothing was charged. */
  intentId: string | null;
}

/**
 * Captures the authorized amount (idempotent on the payments side: a second capture answers the
 * first). Payments answers `processing` when the gateway gave no answer (wait and ask again), and
 * `authorized` with a declineCode when the gateway refused the capture (refused: compensated).
 * Then the orders that owe nothing are paid, with no payment (idempotent too).
 */
export async function run(ctx: StepContext): Promise<StepResult<CaptureOutput>> {
  const { intentId } = required(ctx.outputs.authorize_payment, 'the authorization');
  if (intentId !== null) {
    const outcome = await ctx.ports.payments.capture(intentId, ctx.trace);
    if (outcome.status !== 'captured') notYet(ctx, outcome, 'capture');
  }
  const { orders } = required(ctx.outputs.create_orders, 'the orders');
  if (orders.some((o) => o.totalAmount === 0)) await ctx.ports.orders.settleFreeOrders(ctx.session.id, ctx.trace);
  return { output: { intentId } };
}

/** Refunds what was captured, per order (or voids the authorization if the capture never happened). */
export async function compensate(ctx: StepContext): Promise<void> {
  const intentId = ctx.outputs.authorize_payment?.intentId ?? ctx.session.paymentIntentId;
  if (intentId) await releasePayment(ctx, intentId);
}
