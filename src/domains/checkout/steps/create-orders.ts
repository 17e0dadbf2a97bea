import type { CreatedOrder, OrderToCreate } from '../ports.ts';
import { type StepContext, type StepResult, required } from './types.ts';

export interface CreateOrdersOutput {
  orders: CreatedOrder[];
}

/** One order per seller, in the order the sellers first appear in the cart, with each line's coupon discount. */
export function ordersToCreate(ctx: Pick<StepContext, 'outputs'>): OrderToCreate[] {
  const snapshot = required(ctx.outputs.price_snapshot, 'the price snapshot');
  const discounts = new Map((ctx.outputs.redeem_coupons?.lineDiscounts ?? []).map((d) => [d.lineId, d.discountAmount]));
  const bySeller = new Map<string, OrderToCreate>();
  for (const l of snapshot.lines) {
    let order = bySeller.get(l.sellerId);
    if (!order) {
      order = { sellerId: l.sellerId, discountAmount: 0, shippingAmount: 0, items: [] };
      bySeller.set(l.sellerId, order);
    }
    const discountAmount = discounts.get(l.lineId) ?? 0;
    order.discountAmount += discountAmount;
    order.items.push({
      productId: l.productId,
      variantId: l.variantId,
      sku: l.sku,
      productSnapshot: { title: l.title, variantAttributes: l.attributes },
      unitPrice: l.unitPrice,
      discountAmount,
      quantity: l.quantity,
    });
  }
  return [...bySeller.values()];
}

/** Creates the orders in pending_payment; orders makes them once per (session, seller) whatever the retries. */
export async function run(ctx: StepContext): Promise<StepResult<CreateOrdersOutput>> {
  const snapshot = required(ctx.outputs.price_snapshot, 'the price snapshot');
  // An order may come to 0 (a 100 % coupon, items priced 0): it is created like the others, left
  // out of the payment, and paid without one when the payment step is done (ADR 0015).
  const wanted = ordersToCreate(ctx);
  const orders = await ctx.ports.orders.createOrdersForCheckout({
    checkoutSessionId: ctx.session.id,
    buyerId: ctx.session.userId,
    currency: snapshot.currency,
    shippingAddress: ctx.session.shippingAddress,
    orders: wanted,
    trace: ctx.trace,
  });
  const total = orders.reduce((sum, o) => sum + o.totalAmount, 0);
  const expected = snapshot.subtotalAmount - (ctx.outputs.redeem_coupons?.discountAmount ?? 0);
  if (orders.length !== wanted.length || total !== expected) {
    throw new Error(`orders answered ${orders.length} orders totalling ${total}, checkout expected ${wanted.length} totalling ${expected}`);
  }
  const ordered = wanted.map((w) => orders.find((o) => o.sellerId.toLowerCase() === w.sellerId.toLowerCase()) as CreatedOrder);
  return { output: { orders: ordered }, patch: { orderIds: ordered.map((o) => o.orderId) } };
}

/**
 * Cancels the session's orders that can still be cancelled (idempotent; each cancellation is an
 * orders.order_cancelled.v1 event) and answers the ids of those that could not: an order the seller
 * shipped, once paid, while the checkout was still to confirm its stock. Such an order stands: the
 * compensations before this one (the payment's) and after it (the coupons') leave what it took, its
 * payment and its coupon use, where they are. An order refused only for now (held while the
 * seller's parcel is recorded: still paid) fails the compensation, which is tried again until the
 * hold ends, shipped or not.
 */
export async function cancelSessionOrders(ctx: StepContext): Promise<{ kept: string[] }> {
  const results = await ctx.ports.orders.cancelOrdersForCheckout(ctx.session.id, `checkout failed: ${ctx.failureReason}`.slice(0, 1000), ctx.trace);
  const refused = results.filter((r) => !r.cancelled);
  const held = refused.filter((r) => CANCELLABLE.has(r.status));
  if (held.length > 0) throw new Error(`orders ${held.map((r) => r.orderId).join(', ')} are held while their parcels are recorded: cancelled once the hold ends`);
  return { kept: refused.map((r) => r.orderId) };
}

/** Statuses an order is cancelled from: one of them refused is held for shipment, for now. */
const CANCELLABLE = new Set(['pending_payment', 'paid', 'fulfilling']);

export async function compensate(ctx: StepContext): Promise<void> {
  await cancelSessionOrders(ctx);
}
