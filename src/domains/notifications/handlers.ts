import type { UserRegisteredV1 } from '../../contracts/accounts.ts';
import type { OrderCancelledV1, OrderPaidV1, OrderPlacedV1, OrderStatusChangedV1 } from '../../contracts/orders.ts';
import type { RefundSucceededV1 } from '../../contracts/payments.ts';
import type { ShipmentStatusChangedV1 } from '../../contracts/shipping.ts';
import type { EventEnvelope } from '../../platform/messaging/envelope.ts';
import type { HandlerContext, Subscription } from '../../platform/messaging/subscription.ts';
import { createNotifications } from './create-notifications.ts';
import type { NotificationsDeps } from './deps.ts';
import { orderCancelled, orderPaid, orderPlaced, orderRefunded, orderStatusChanged, shipmentStatusChanged, welcome } from './intents.ts';
import { upsertContact } from './sql.ts';

/**
 * Consumers that turn other domains' facts into notifications. The inbox applies each event once
 * per consumer; an event applied again (a replayed dead letter, an inbox whose memory was pruned)
 * makes nothing for a recipient who has notifications of it (see insertNotifications), so it
 * notifies nobody twice.
 */
export function accountsSubscription(): Subscription {
  return {
    consumer: 'notifications.accounts',
    domain: 'notifications',
    events: ['accounts.user_registered.v1'],
    async handle(ctx: HandlerContext, envelope: EventEnvelope): Promise<void> {
      if (envelope.type !== 'accounts.user_registered.v1') throw new Error(`notifications.accounts cannot handle ${envelope.type}`);
      const e = envelope.data as UserRegisteredV1;
      // The address is kept before the welcome is written, so the welcome email has somewhere to go.
      await upsertContact(ctx.tx, e.userId, e.email, new Date(e.registeredAt));
      await createNotifications(ctx, envelope.id, welcome(e));
    },
  };
}

export function ordersSubscription(): Subscription {
  return {
    consumer: 'notifications.orders',
    domain: 'notifications',
    events: ['orders.order_placed.v1', 'orders.order_paid.v1', 'orders.order_status_changed.v1', 'orders.order_cancelled.v1'],
    async handle(ctx: HandlerContext, envelope: EventEnvelope): Promise<void> {
      switch (envelope.type) {
        case 'orders.order_placed.v1':
          return void (await createNotifications(ctx, envelope.id, orderPlaced(envelope.data as OrderPlacedV1)));
        case 'orders.order_paid.v1':
          return void (await createNotifications(ctx, envelope.id, orderPaid(envelope.data as OrderPaidV1)));
        case 'orders.order_status_changed.v1':
          return void (await createNotifications(ctx, envelope.id, orderStatusChanged(envelope.data as OrderStatusChangedV1)));
        case 'orders.order_cancelled.v1':
          return void (await createNotifications(ctx, envelope.id, orderCancelled(envelope.data as OrderCancelledV1)));
        default:
          throw new Error(`notifications.orders cannot handle ${envelope.type}`);
      }
    },
  };
}

export function paymentsSubscription(deps: Pick<NotificationsDeps, 'orders'>): Subscription {
  return {
    consumer: 'notifications.payments',
    domain: 'notifications',
    events: ['payments.refund_succeeded.v1'],
    async handle(ctx: HandlerContext, envelope: EventEnvelope): Promise<void> {
      if (envelope.type !== 'payments.refund_succeeded.v1') throw new Error(`notifications.payments cannot handle ${envelope.type}`);
      const e = envelope.data as RefundSucceededV1;
      // The refund names the order and its seller; the buyer comes from orders (its public API).
      // An order orders does not know (yet) is retried, then parked.
      const order = await deps.orders.getOrderForSeller(e.orderId, e.sellerId);
      if (!order) throw new Error(`refund ${e.refundId} names order ${e.orderId} of seller ${e.sellerId}, which orders does not know`);
      await createNotifications(ctx, envelope.id, orderRefunded(e, order));
    },
  };
}

/** A parcel out for delivery, not delivered, or sent back (shipped and delivered come from orders). */
export function shippingSubscription(): Subscription {
  return {
    consumer: 'notifications.shipping',
    domain: 'notifications',
    events: ['shipping.shipment_status_changed.v1'],
    async handle(ctx: HandlerContext, envelope: EventEnvelope): Promise<void> {
      if (envelope.type !== 'shipping.shipment_status_changed.v1') throw new Error(`notifications.shipping cannot handle ${envelope.type}`);
      await createNotifications(ctx, envelope.id, shipmentStatusChanged(envelope.data as ShipmentStatusChangedV1));
    },
  };
}
