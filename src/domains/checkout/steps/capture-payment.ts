import { releasePayment } from './payment-release.ts';
import { notYet } from './payment-wait.ts';
import { type StepContext, type StepResult, required } from './types.ts';

export interface CaptureOutput {
  intentId: string;
}

/**
 * Captures the authorized amount (idempotent on the payments side: a second capture answers the
 * first). Payments answers `processing` when the gateway gave no answer (wait and ask again), and
 * `authorized` with a declineCode when the gateway refused the capture (refused: compensated).
 */
export async function run(ctx: StepContext): Promise<StepResult<CaptureOutput>> {
  const { intentId } = required(ctx.outputs.authorize_payment, 'the authorization');
  const outcome = await ctx.ports.payments.capture(intentId, ctx.trace);
  if (outcome.status !== 'captured') notYet(ctx, outcome, 'capture');
  return { output: { intentId } };
}

/** Refunds what was captured, per order (or voids the authorization if the capture never happened). */
export async function compensate(ctx: StepContext): Promise<void> {
  const intentId = ctx.outputs.authorize_payment?.intentId ?? ctx.session.paymentIntentId;
  if (intentId) await releasePayment(ctx, intentId);
}
