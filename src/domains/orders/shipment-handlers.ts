import type { Logger } from 'pino';
import type { ShipmentCreatedV1, ShipmentStatusChangedV1 } from '../../contracts/shipping.ts';
import { runTogether } from '../../platform/db/statements.ts';
import { newId } from '../../platform/ids.ts';
import type { EventEnvelope } from '../../platform/messaging/envelope.ts';
import type { HandlerContext, Subscription } from '../../platform/messaging/subscription.ts';
import { type OrderRow, lockOrders, shipmentStatusesOf, shipmentUpsert } from './sql.ts';
import { type Actor, type OrderCommand, SYSTEM } from './status-machine.ts';
import { applyCommands } from './transitions.ts';

/**
 * Orders learn about parcels only from shipping events. Each event records (or updates) the
 * order's order_shipments row, then moves the order: mark_shipped on its first shipment,
 * mark_delivered once every shipment of it has reached its end with at least one delivered. The
 * status machine decides; a refusal (the order was cancelled or fully refunded while the parcel
 * was being sent) is not an error to retry: the shipment stays recorded, the refusal is logged for
 * a person to look at, and the handler finishes.
 */
type ShipmentEvent = ShipmentCreatedV1 | ShipmentStatusChangedV1;

/** Shipment statuses past which a parcel has left the seller. */
const LEFT_THE_SELLER = new Set(['in_transit', 'out_for_delivery', 'delivered', 'delivery_failed', 'returned']);
const ENDED = new Set(['delivered', 'returned', 'cancelled']);

async function lockOrder(ctx: HandlerContext, event: ShipmentEvent, type: string): Promise<OrderRow> {
  const [order] = await lockOrders(ctx.tx, [event.orderId]);
  // An order this database does not hold is worth retrying, then parking (as for payments events).
  if (!order) throw new Error(`${type} names unknown order ${event.orderId}`);
  if (order.seller_id !== event.sellerId || order.buyer_id !== event.buyerId) {
    throw new Error(`${type}: shipment ${event.shipmentId} names other parties than order ${order.id}`);
  }
  return order;
}

function fact(event: ShipmentEvent) {
  return { orderId: event.orderId, shipmentId: event.shipmentId, carrier: event.carrier, trackingNumber: event.trackingNumber, status: event.status, version: event.version };
}

async function move(ctx: HandlerContext, log: Logger, order: OrderRow, command: OrderCommand, actor: Actor, reason: string, event: ShipmentEvent): Promise<OrderRow> {
  const [result] = await applyCommands(ctx.tx, [{ order, command }], { actor, reason: reason.slice(0, 1000), now: ctx.now, trace: ctx.trace });
  if (!result) throw new Error('applyCommands returned no result');
  if (result.decision.outcome === 'refused') {
    log.warn(
      { orderId: order.id, shipmentId: event.shipmentId, command: command.type, orderStatus: order.status, why: result.decision.why },
      'a shipment could not move its order: the shipment is recorded, the order keeps its status',
    );
  }
  return result.order;
}

async function onCreated(ctx: HandlerContext, log: Logger, event: ShipmentCreatedV1): Promise<void> {
  const order = await lockOrder(ctx, event, 'shipping.shipment_created.v1');
  await runTogether(ctx.tx, [shipmentUpsert(fact(event), false, newId(), ctx.now, new Date(event.createdAt))]);
  await move(ctx, log, order, { type: 'mark_shipped' }, { type: 'seller', id: event.sellerId }, `shipped with ${event.carrier}, tracking ${event.trackingNumber}`, event);
}

async function onStatusChanged(ctx: HandlerContext, log: Logger, event: ShipmentStatusChangedV1): Promise<void> {
  let order = await lockOrder(ctx, event, 'shipping.shipment_status_changed.v1');
  await runTogether(ctx.tx, [shipmentUpsert(fact(event), true, newId(), ctx.now)]);
  // Its shipment_created may have been parked: the order still learns that the parcel left.
  const shipped = order.fulfilment_status !== null && order.fulfilment_status !== 'paid' && order.fulfilment_status !== 'fulfilling';
  if (!shipped && LEFT_THE_SELLER.has(event.toStatus)) {
    order = await move(ctx, log, order, { type: 'mark_shipped' }, { type: 'seller', id: event.sellerId }, `shipped with ${event.carrier}, tracking ${event.trackingNumber}`, event);
  }
  // Whichever parcel ends last (a delivered one, or a returned or cancelled one after another was
  // delivered), the order is delivered once all have ended and at least one reached the buyer.
  if (!ENDED.has(event.toStatus)) return;
  const statuses = await shipmentStatusesOf(ctx.tx, order.id);
  if (statuses.every((s) => ENDED.has(s)) && statuses.includes('delivered')) {
    // The reason names the parcel that ended it: a delivered one, or the last to come back.
    const reason =
      event.toStatus === 'delivered'
        ? `delivered by ${event.carrier}, tracking ${event.trackingNumber}`
        : `every parcel has ended and one was delivered; the last, ${event.carrier} tracking ${event.trackingNumber}, was ${event.toStatus}`;
    await move(ctx, log, order, { type: 'mark_delivered' }, SYSTEM, reason, event);
  }
}

export const SHIPPING_EVENTS = ['shipping.shipment_created.v1', 'shipping.shipment_status_changed.v1'] as const;

export function shippingSubscription(log: Logger): Subscription {
  return {
    consumer: 'orders.shipping',
    domain: 'orders',
    events: SHIPPING_EVENTS,
    async handle(ctx: HandlerContext, envelope: EventEnvelope): Promise<void> {
      switch (envelope.type) {
        case 'shipping.shipment_created.v1':
          return onCreated(ctx, log, envelope.data as ShipmentCreatedV1);
        case 'shipping.shipment_status_changed.v1':
          return onStatusChanged(ctx, log, envelope.data as ShipmentStatusChangedV1);
        default:
          throw new Error(`orders.shipping cannot handle ${envelope.type}`);
      }
    },
  };
}
