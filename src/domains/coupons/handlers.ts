import type { OrderCancelledV1, OrderPlacedV1 } from '../../contracts/orders.ts';
import { type EventEnvelope, traceOf } from '../../platform/messaging/envelope.ts';
import { type NewEvent, appendEvents } from '../../platform/messaging/outbox.ts';
import type { HandlerContext, Subscription } from '../../platform/messaging/subscription.ts';
import { releaseRedemptions } from './release.ts';
import { releasesOnCancel } from './release-policy.ts';
import { lockCouponsOfSessions, recordOrderCancelled, recordOrderPlaced, selectCancelledSellers, selectSessionRedemptions } from './sql.ts';

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

async function handle(ctx: HandlerContext, envelope: EventEnvelope): Promise<void> {
  switch (envelope.type) {
    case 'orders.order_placed.v1':
      return onPlaced(ctx, envelope.data as OrderPlacedV1);
    case 'orders.order_cancelled.v1':
      return onCancelled(ctx, envelope.data as OrderCancelledV1);
    default:
      throw new Error(`coupons.orders cannot handle ${envelope.type}`);
  }
}

export function ordersSubscription(): Subscription {
  return {
    consumer: 'coupons.orders',
    domain: 'coupons',
    events: ['orders.order_placed.v1', 'orders.order_cancelled.v1'],
    handle,
    /**
     * The events in order, as `handle` would; the coupons that the batch's cancellations may give
     * uses back to are locked first, in id order (each event alone locks only its own, and a batch
     * releasing B then A would deadlock with a checkout that holds A and waits for B).
     */
    async handleBatch(ctx: HandlerContext, events: readonly EventEnvelope[]): Promise<void> {
      const sessions = events.filter((e) => e.type === 'orders.order_cancelled.v1').map((e) => (e.data as OrderCancelledV1).checkoutSessionId);
      if (sessions.length > 1) await lockCouponsOfSessions(ctx.tx, [...new Set(sessions)]);
      for (const event of events) {
        // Each event's releases carry that event's trace, as handled alone.
        const trace = traceOf(event);
        const emit = async (written: NewEvent[]) => {
          await appendEvents(ctx.tx, 'coupons', written, trace, ctx.now);
        };
        await handle({ ...ctx, trace, emit }, event);
      }
    },
  };
}
