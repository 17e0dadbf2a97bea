import { AppError } from '../../../platform/http/errors.ts';
import { cancelSessionOrders } from './create-orders.ts';
import { NOT_SHOWN } from '../../../platform/http/schemas.ts';
import type { StepContext } from './types.ts';

const NOT_SHOWN_CHARACTER = new RegExp(`[${NOT_SHOWN}]`, 'gu');

/** Intent statuses with money held (authorized) or taken (captured) that a failed checkout must give back. */
const HELD = new Set(['authorized', 'processing', 'requires_confirmation']);
const TAKEN = new Set(['captured', 'partially_refunded']);

/**
 * Gives the buyer's money back, whatever the payment has become: an authorization is voided (while
 * its outcome is unknown, payments voids it as soon as it is known), a capture is refunded per
 * order for what is left of it, under a key per (session, order) so a retry refunds once. The
 * orders are cancelled first (see cancelSessionOrders): one that could not be keeps its part.
 * A failed, voided or refunded payment has nothing to give back.
 */
export async function releasePayment(ctx: StepContext, intentId: string): Promise<void> {
  const intent = await ctx.ports.payments.getIntent(intentId);
  if (!intent) return;
  if (HELD.has(intent.status)) {
    await ctx.ports.payments.voidPayment(intentId, ctx.trace);
    return;
  }
  if (!TAKEN.has(intent.status)) return;
  // Paid orders could be shipped before the checkout failed: those stand, and keep their money.
  const kept = new Set((await cancelSessionOrders(ctx)).kept);
  for (const a of intent.allocations) {
    const left = a.capturedAmount - a.refundedAmount;
    if (left <= 0 || kept.has(a.orderId)) continue;
    const refund = {
      idempotencyKey: `checkout:${ctx.session.id}:refund:${a.orderId}`,
      orderId: a.orderId,
      sellerId: a.sellerId,
      amount: left,
      // Payments keeps a refund's reason only as text that shows (PrintableText).
      reason: `checkout failed: ${ctx.failureReason}`.replace(NOT_SHOWN_CHARACTER, ' ').slice(0, 1000),
      requestedBy: null,
    };
    try {
      await ctx.ports.payments.refund(refund, ctx.trace);
    } catch (error) {
      // Payments refunds a cancelled order by itself too (it hears orders.order_cancelled): when
      // that refund came first, nothing is left of this order's part, and there is nothing to do.
      if (!(error instanceof AppError && error.code === 'REFUND_EXCEEDS_CAPTURED')) throw error;
      const now = (await ctx.ports.payments.getIntent(intentId))?.allocations.find((x) => x.orderId === a.orderId);
      if (!now || now.capturedAmount - now.refundedAmount > 0) throw error;
    }
  }
}
