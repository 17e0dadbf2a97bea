import { AppError } from '../../../platform/http/errors.ts';
import type { StepContext, StepResult } from './types.ts';

export interface CloseCartOutput {
  cartId: string;
  closed: boolean;
  /** Why the cart was left as it was, when it was. */
  note?: string;
}

/**
 * Marks the cart checked out. The sale is done by now, so a cart that refuses (changed, deleted) is
 * noted and left as it is rather than undoing a paid checkout; other errors are retried.
 */
export async function run(ctx: StepContext): Promise<StepResult<CloseCartOutput>> {
  try {
    await ctx.ports.cart.markCheckedOut(ctx.session.cartId, ctx.session.id, { trace: ctx.trace });
    return { output: { cartId: ctx.session.cartId, closed: true } };
  } catch (error) {
    if (error instanceof AppError && error.status < 500) return { output: { cartId: ctx.session.cartId, closed: false, note: error.code } };
    throw error;
  }
}
