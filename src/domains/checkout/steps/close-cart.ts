import { AppError } from '../../../platform/http/errors.ts';
import { type StepContext, type StepResult, required } from './types.ts';

export interface CloseCartOutput {
  cartId: string;
  closed: boolean;
  /** Why the cart was left as it was, when it was. */
  note?: string;
}

/**
 * Marks the cart checked out. The sale is done by now, so a cart that refuses (changed, deleted) is
 * noted and left as it is rather than undoing a paid checkout; other errors are retried until it
 * goes through (SagaPlan.forwardOnly).
 */
export async function run(ctx: StepContext): Promise<StepResult<CloseCartOutput>> {
  // What was bought: what the buyer put in the cart while the checkout ran stays theirs.
  const snapshot = required(ctx.outputs.price_snapshot, 'the price snapshot');
  const bought = snapshot.lines.map((l) => ({ variantId: l.variantId, quantity: l.quantity, itemId: l.lineId }));
  try {
    await ctx.ports.cart.markCheckedOut(ctx.session.cartId, ctx.session.id, { trace: ctx.trace, bought, redeemedCodes: snapshot.couponCodes });
    return { output: { cartId: ctx.session.cartId, closed: true } };
  } catch (error) {
    if (error instanceof AppError && error.status < 500) return { output: { cartId: ctx.session.cartId, closed: false, note: error.code } };
    throw error;
  }
}
