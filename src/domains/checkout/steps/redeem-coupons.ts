import { cancelSessionOrders } from './create-orders.ts';
import { type StepContext, type StepResult, required } from './types.ts';

export interface RedeemOutput {
  codes: string[];
  /** Discount per snapshot line (lines without one are absent). */
  lineDiscounts: { lineId: string; discountAmount: number }[];
  discountAmount: number;
}

/**
 * Redeems the cart's coupons for this session (atomic, and idempotent per coupon and session on
 * the coupons side), and takes their discount per line. A coupon that no longer applies (used up,
 * expired, already used by the buyer) fails the checkout rather than charging more than shown.
 */
export async function run(ctx: StepContext): Promise<StepResult<RedeemOutput>> {
  const snapshot = required(ctx.outputs.price_snapshot, 'the price snapshot');
  // Called without codes too: coupons then notes the buyer's checkout, so that a first-order coupon
  // of the buyer's other checkouts is refused while this one may become an order.
  const { lines: lineDiscounts } = await ctx.ports.coupons.redeem({
    checkoutSessionId: ctx.session.id,
    buyerId: ctx.session.userId,
    currency: snapshot.currency,
    codes: snapshot.couponCodes,
    lines: snapshot.lines.map((l) => ({
      lineId: l.lineId,
      productId: l.productId,
      variantId: l.variantId,
      sellerId: l.sellerId,
      categoryId: l.categoryId,
      categoryPath: l.categoryPath ?? [],
      unitPrice: l.unitPrice,
      quantity: l.quantity,
    })),
    trace: ctx.trace,
  });
  const perLine = new Map<string, number>();
  for (const d of lineDiscounts) perLine.set(d.lineId, (perLine.get(d.lineId) ?? 0) + d.discountAmount);
  for (const l of snapshot.lines) {
    const discount = perLine.get(l.lineId) ?? 0;
    if (!Number.isSafeInteger(discount) || discount < 0 || discount > l.unitPrice * l.quantity) {
      throw new Error(`coupons gave line ${l.lineId} a discount of ${discount}, outside 0..${l.unitPrice * l.quantity}`);
    }
  }
  for (const lineId of perLine.keys()) {
    if (!snapshot.lines.some((l) => l.lineId === lineId)) throw new Error(`coupons gave a discount to unknown line ${lineId}`);
  }
  const discountAmount = [...perLine.values()].reduce((a, b) => a + b, 0);
  return {
    output: {
      codes: snapshot.couponCodes,
      lineDiscounts: [...perLine].filter(([, d]) => d > 0).map(([lineId, discountAmount]) => ({ lineId, discountAmount })),
      discountAmount,
    },
    patch: {
      totals: {
        currency: snapshot.currency,
        subtotalAmount: snapshot.subtotalAmount,
        discountAmount,
        shippingAmount: 0,
        totalAmount: snapshot.subtotalAmount - discountAmount,
      },
    },
  };
}

/**
 * Gives the redemptions back, or the note of a checkout without coupons (idempotent). Not while an
 * order of the session stands (see cancelSessionOrders): a coupon stays used while an order it
 * discounted lives, and coupons give it back themselves if that order is cancelled later.
 */
export async function compensate(ctx: StepContext): Promise<void> {
  if ((await cancelSessionOrders(ctx)).kept.length > 0) return;
  await ctx.ports.coupons.releaseForCheckout(ctx.session.id, `checkout failed: ${ctx.failureReason}`.slice(0, 500), ctx.trace);
}
