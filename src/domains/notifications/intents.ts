import type { UserRegisteredV1 } from '../../contracts/accounts.ts';
import type { OrderCancelledV1, OrderPaidV1, OrderPlacedV1, OrderStatusChangedV1 } from '../../contracts/orders.ts';
import type { RefundSucceededV1 } from '../../contracts/payments.ts';
import type { ShipmentStatusChangedV1 } from '../../contracts/shipping.ts';
import type { NotificationType } from './types.ts';
import { minorUnitDigits } from '../../platform/http/currencies.ts';

/**
 * What a fact means to whom: pure functions from an event's payload to the notifications it
 * causes (recipient, type, the message as shown, and the data a client may link from). Channels
 * and delivery are decided later, from the recipient's preferences.
 */
export interface NotificationIntent {
  userId: string;
  type: NotificationType;
  title: string;
  body: string;
  data: Record<string, unknown>;
}

/**
 * An amount in minor units as text, e.g. 1234 USD → "USD 12.34", without passing through a float,
 * with the currency's ISO 4217 decimals (123456 HUF → "HUF 1234.56", 12345 IQD → "IQD 12.345").
 */
export function formatMoney(amount: number, currency: string): string {
  const digits = minorUnitDigits(currency);
  if (digits === 0) return `${currency} ${amount}`;
  const text = String(amount).padStart(digits + 1, '0');
  return `${currency} ${text.slice(0, -digits)}.${text.slice(-digits)}`;
}

type Order = Pick<OrderPlacedV1, 'orderId' | 'orderNumber' | 'buyerId' | 'sellerId' | 'status' | 'currency' | 'totalAmount' | 'items'>;

function orderData(o: Order): Record<string, unknown> {
  return {
    orderId: o.orderId,
    orderNumber: o.orderNumber,
    status: o.status,
    total: { amount: o.totalAmount, currency: o.currency },
    itemCount: o.items.reduce((sum, i) => sum + i.quantity, 0),
  };
}

const itemsText = (o: Order) => {
  const count = o.items.reduce((sum, i) => sum + i.quantity, 0);
  return count === 1 ? '1 item' : `${count} items`;
};

const total = (o: Order) => formatMoney(o.totalAmount, o.currency);

export function welcome(e: UserRegisteredV1): NotificationIntent[] {
  const seller = e.roles.includes('seller');
  return [
    {
      userId: e.userId,
      type: 'account_welcome',
      title: 'Welcome to bazaar',
      body: seller ? 'Your seller account is ready: list your first product and start selling.' : 'Your account is ready: happy shopping.',
      data: { roles: e.roles },
    },
  ];
}

export function orderPlaced(e: OrderPlacedV1): NotificationIntent[] {
  return [
    {
      userId: e.buyerId,
      type: 'order_placed',
      title: `Order ${e.orderNumber} placed`,
      body:
        e.totalAmount === 0
          ? `We received your order ${e.orderNumber} (${itemsText(e)}, ${total(e)}). There is nothing to pay.`
          : `We received your order ${e.orderNumber} (${itemsText(e)}, ${total(e)}). We will tell you when the payment is through.`,
      data: orderData(e),
    },
  ];
}

/**
 * One intent per recipient: the first an event gives them (the buyer's, where a user buys from
 * themself: their order_paid, not also the seller's seller_order_paid). Each then goes to the
 * channels its recipient chose for its type, so two intents of one user would notify them twice
 * once their choices for the two types differ.
 */
export function perRecipient(intents: readonly NotificationIntent[]): NotificationIntent[] {
  const seen = new Set<string>();
  return intents.filter((intent) => {
    if (seen.has(intent.userId)) return false;
    seen.add(intent.userId);
    return true;
  });
}

export function orderPaid(e: OrderPaidV1): NotificationIntent[] {
  return [
    {
      userId: e.buyerId,
      type: 'order_paid',
      title: `Order ${e.orderNumber} confirmed`,
      // An order with nothing to pay (a total of 0) is confirmed without a payment.
      body:
        e.paymentId === null
          ? `Your order ${e.orderNumber} is confirmed, with nothing to pay. The seller is preparing it.`
          : `Your payment of ${formatMoney(e.paidAmount, e.currency)} for order ${e.orderNumber} went through. The seller is preparing it.`,
      data: { ...orderData(e), paid: { amount: e.paidAmount, currency: e.currency } },
    },
    {
      userId: e.sellerId,
      type: 'seller_order_paid',
      title: `New paid order ${e.orderNumber}`,
      body: `Order ${e.orderNumber} (${itemsText(e)}, ${total(e)}) is paid and ready to ship.`,
      data: orderData(e),
    },
  ];
}

export function orderStatusChanged(e: OrderStatusChangedV1): NotificationIntent[] {
  // paid, cancelled and refunds have events of their own (order_paid, order_cancelled, refund_succeeded).
  if (e.toStatus === 'shipped') {
    return [{ userId: e.buyerId, type: 'order_shipped', title: `Order ${e.orderNumber} shipped`, body: `Your order ${e.orderNumber} is on its way.`, data: orderData(e) }];
  }
  if (e.toStatus === 'delivered') {
    return [{ userId: e.buyerId, type: 'order_delivered', title: `Order ${e.orderNumber} delivered`, body: `Your order ${e.orderNumber} was delivered. Enjoy!`, data: orderData(e) }];
  }
  return [];
}

export function orderCancelled(e: OrderCancelledV1): NotificationIntent[] {
  // What is left to refund is what was paid and not refunded yet (a seller may have refunded it all before).
  const left = e.totalAmount - e.refundedAmount;
  // An order with a total of 0 was paid without a payment: nothing was charged either.
  const money = !e.wasPaid || e.totalAmount === 0
    ? 'Nothing was charged.'
    : left <= 0
      ? 'Your payment was refunded already.'
      : e.refundedAmount > 0
        ? `The rest of your payment, ${formatMoney(left, e.currency)}, will be refunded.`
        : 'Your payment will be refunded.';
  const why =
    e.actorType === 'buyer'
      ? 'as you asked'
      : e.actorType === 'system'
        ? 'because the checkout could not be completed'
        : e.actorType === 'seller'
          ? `by the seller, who cannot fulfil it (${e.reason})`
          : `by the ${e.actorType}`;
  return [
    {
      userId: e.buyerId,
      type: 'order_cancelled',
      title: `Order ${e.orderNumber} cancelled`,
      body: `Your order ${e.orderNumber} was cancelled ${why}. ${money}`,
      data: { ...orderData(e), wasPaid: e.wasPaid },
    },
  ];
}

/** How much of the order is refunded now, when this refund completes it: the whole of it, or with earlier refunds. */
function refundedInAll(e: RefundSucceededV1, full: boolean): string {
  if (!full) return '';
  if (e.amount >= e.orderPaidAmount) return ' (the whole order)';
  return `: with the earlier refunds, the whole order is refunded (${formatMoney(e.orderRefundedAmount, e.currency)} in all)`;
}

/** A refund names its order and seller, not the buyer: the caller looks the order up first. */
export function orderRefunded(e: RefundSucceededV1, order: { buyerId: string; orderNumber: string }): NotificationIntent[] {
  const full = e.orderRefundedAmount >= e.orderPaidAmount;
  return [
    {
      userId: order.buyerId,
      type: 'order_refunded',
      title: `Refund for order ${order.orderNumber}`,
      body: `${formatMoney(e.amount, e.currency)} of order ${order.orderNumber} was refunded${refundedInAll(e, full)}. It may take a few days to show on your statement.`,
      data: {
        orderId: e.orderId,
        orderNumber: order.orderNumber,
        refundId: e.refundId,
        refund: { amount: e.amount, currency: e.currency },
        refundedSoFar: { amount: e.orderRefundedAmount, currency: e.currency },
        full,
      },
    },
  ];
}

/**
 * A parcel's news that orders does not turn into an order status: out for delivery, a failed
 * delivery attempt, a parcel on its way back. The buyer hears of each; the seller of the two
 * problems, which may need them (a new address, a refund or a second parcel). Shipping's events
 * carry the parcel (carrier, tracking number) and the order's id, not its number.
 */
export function shipmentStatusChanged(e: ShipmentStatusChangedV1): NotificationIntent[] {
  if (e.fromStatus === e.toStatus) return [];
  const parcel = `${e.carrier} ${e.trackingNumber}`;
  const data = { orderId: e.orderId, shipmentId: e.shipmentId, carrier: e.carrier, trackingNumber: e.trackingNumber, status: e.toStatus, occurredAt: e.occurredAt };
  const toSeller = (title: string, body: string): NotificationIntent => ({ userId: e.sellerId, type: 'seller_shipment_problem', title, body, data });
  switch (e.toStatus) {
    case 'out_for_delivery':
      return [{ userId: e.buyerId, type: 'shipment_out_for_delivery', title: 'Your parcel is out for delivery', body: `Parcel ${parcel} is out for delivery.`, data }];
    case 'delivery_failed':
      return [
        {
          userId: e.buyerId,
          type: 'shipment_delivery_failed',
          title: 'Your parcel could not be delivered',
          body: `The carrier could not deliver parcel ${parcel}. Check the tracking for what it will do next.`,
          data,
        },
        toSeller('A delivery failed', `The carrier could not deliver parcel ${parcel} of order ${e.orderId}.`),
      ];
    case 'returned':
      return [
        {
          userId: e.buyerId,
          type: 'shipment_returned',
          title: 'Your parcel is going back to the seller',
          body: `Parcel ${parcel} is being returned to the seller. The seller will tell you what happens next.`,
          data,
        },
        toSeller('A parcel is coming back', `Parcel ${parcel} of order ${e.orderId} is being returned to you.`),
      ];
    default:
      return [];
  }
}
