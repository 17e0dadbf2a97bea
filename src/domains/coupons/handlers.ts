import type { OrderCancelledV1, OrderPlacedV1 } from '../../contracts/orders.ts';
import type { EventEnvelope } from '../../platform/messaging/envelope.ts';
import type { HandlerContext, Subscription } from '../../platform/messaging/subscription.ts';
import { releaseRedemptions } from './release.ts';
import { releasesOnCancel } from './release-policy.ts';
import { recordOrderCancelled, recordOrderPlaced, selectCancelledSellers, selectSessionRedemptions } from './sql.ts';

/**
 * Coupons learn about orders only from orders events: a placed order makes its buyer "has ordered"
 * (first_order_only); a cancelled one may give the checkout's coupons back (release-policy.ts).
 * Both are idempotent on their own as well as through the inbox.
 */
async function onPlaced(ctx: HandlerContext, e: OrderPlacedV1): Promise<void> {
  await recordOrderPlaced(ctx.tx, { orderId: e.orderId, buyerId: e.buyerId, checkoutSessionId: e.checkoutSessionId, sellerId: e.sellerId, placedAt: e.placedAt });
}

async function onCancelled(ctx: HandlerContext, e: OrderCancelledV1): Promise<void> {
  await recordOrderCancelled(ctx.tx, {
    orderId: e.orderId,
    buyerId: e.buyerId,
    checkoutSessionId: e.checkoutSessionId,
    sellerId: e.sellerId,
    placedAt: e.placedAt,
    cancelledAt: e.cancelledAt,
  });
  const redemptions = (await selectSessionRedemptions(ctx.tx, e.checkoutSessionId)).filter((r) => !r.released);
  if (redemptions.length === 0) return;
  const cancelled = await selectCancelledSellers(ctx.tx, e.checkoutSessionId);
  // The sellers whose lines carry some of the discount: a line whose share rounded to 0 keeps nothing.
  const due = redemptions.filter((r) => releasesOnCancel([...new Set(r.lines.filter((l) => l.discountAmount > 0).map((l) => l.sellerId))], cancelled));
  const events = await releaseRedemptions(ctx.tx, due, 'order_cancelled', e.reason, ctx.now);
  await ctx.emit(events);
}

export function ordersSubscription(): Subscription {
  return {
    consumer: 'coupons.orders',
    domain: 'coupons',
    events: ['orders.order_placed.v1', 'orders.order_cancelled.v1'],
    async handle(ctx: HandlerContext, envelope: EventEnvelope): Promise<void> {
      switch (envelope.type) {
        case 'orders.order_placed.v1':
          return onPlaced(ctx, envelope.data as OrderPlacedV1);
        case 'orders.order_cancelled.v1':
          return onCancelled(ctx, envelope.data as OrderCancelledV1);
        default:
          throw new Error(`coupons.orders cannot handle ${envelope.type}`);
      }
    },
  };
}
