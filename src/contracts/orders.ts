import { type Static, type TProperties, Type } from '@sinclair/typebox';
import { defineEvent } from './define.ts';
import { registerContracts } from './registry.ts';

/**
 * Events of the orders domain. Every event carries the whole order as it is after the fact (parties,
 * totals, currency, items), so read models (search, seller dashboards) and notifications can be
 * built from the events alone, without calling back. The delivery address stays out: the outbox is
 * a durable log and personal data in it could never be erased.
 */
const Uuid = Type.String({ pattern: '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$', maxLength: 36 });
const Instant = Type.String({ pattern: '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d+)?Z$', maxLength: 40 });
const Currency = Type.String({ pattern: '^[A-Z]{3}$', minLength: 3, maxLength: 3 });
/** Integer minor units of the order's currency. */
const Amount = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER });

export const ORDER_STATUS_VALUES = [
  'pending_payment',
  'paid',
  'fulfilling',
  'shipped',
  'delivered',
  'completed',
  'cancelled',
  'refunded',
  'partially_refunded',
] as const;
export const OrderStatusSchema = Type.Union([
  Type.Literal('pending_payment'),
  Type.Literal('paid'),
  Type.Literal('fulfilling'),
  Type.Literal('shipped'),
  Type.Literal('delivered'),
  Type.Literal('completed'),
  Type.Literal('cancelled'),
  Type.Literal('refunded'),
  Type.Literal('partially_refunded'),
]);
const OrderStatus = OrderStatusSchema;
const ActorType = Type.Union([Type.Literal('buyer'), Type.Literal('seller'), Type.Literal('admin'), Type.Literal('system')]);

export const OrderItemFacts = Type.Object(
  {
    itemId: Uuid,
    productId: Uuid,
    variantId: Uuid,
    sku: Type.String({ minLength: 1, maxLength: 64 }),
    title: Type.String({ minLength: 1, maxLength: 300 }),
    variantAttributes: Type.Record(Type.String({ maxLength: 100 }), Type.String({ maxLength: 300 }), { maxProperties: 20 }),
    /** Unit price charged (the pricing window's base price minus its discount at checkout). */
    unitPrice: Amount,
    quantity: Type.Integer({ minimum: 1, maximum: 10000 }),
    /** Coupon discount allocated to this line. */
    discountAmount: Amount,
    /** unitPrice × quantity − discountAmount. */
    lineTotal: Amount,
  },
  { additionalProperties: false },
);
export type OrderItemFacts = Static<typeof OrderItemFacts>;

/** What every orders event says about the order, as it is after the fact. */
const orderFacts = {
  orderId: Uuid,
  orderNumber: Type.String({ minLength: 4, maxLength: 40 }),
  checkoutSessionId: Uuid,
  buyerId: Uuid,
  sellerId: Uuid,
  status: OrderStatus,
  currency: Currency,
  /** Sum of unitPrice × quantity over the items. */
  subtotalAmount: Amount,
  /** Sum of the items' discountAmount. */
  discountAmount: Amount,
  shippingAmount: Amount,
  /** subtotalAmount − discountAmount + shippingAmount: what the buyer pays for this order. */
  totalAmount: Amount,
  refundedAmount: Amount,
  items: Type.Array(OrderItemFacts, { minItems: 1, maxItems: 100 }),
  placedAt: Instant,
  /**
   * The order's version after the fact (1 when placed, one more per change): a consumer keeps the
   * highest. Absent in events written before it was added; order those by their fact's time.
   */
  version: Type.Optional(Type.Integer({ minimum: 1 })),
} satisfies TProperties;

export const OrderPlacedV1 = defineEvent('orders.order_placed.v1', Type.Object({ ...orderFacts }, { additionalProperties: false }));
export type OrderPlacedV1 = Static<typeof OrderPlacedV1.schema>;

export const OrderPaidV1 = defineEvent(
  'orders.order_paid.v1',
  Type.Object(
    {
      ...orderFacts,
      /** Payment intent (payments domain id) whose capture paid the order; null for an order with nothing to pay (a total of 0). */
      paymentId: Type.Union([Uuid, Type.Null()]),
      paidAmount: Amount,
      paidAt: Instant,
    },
    { additionalProperties: false },
  ),
);
export type OrderPaidV1 = Static<typeof OrderPaidV1.schema>;

export const OrderCancelledV1 = defineEvent(
  'orders.order_cancelled.v1',
  Type.Object(
    {
      ...orderFacts,
      reason: Type.String({ minLength: 1, maxLength: 1000 }),
      /** Whether the order had been paid: payments refunds it (true) or voids the authorization (false). */
      wasPaid: Type.Boolean(),
      previousStatus: OrderStatus,
      actorType: ActorType,
      /** The user who cancelled; null when the system did (a failed checkout's compensation). */
      cancelledBy: Type.Union([Uuid, Type.Null()]),
      cancelledAt: Instant,
    },
    { additionalProperties: false },
  ),
);
export type OrderCancelledV1 = Static<typeof OrderCancelledV1.schema>;

export const OrderStatusChangedV1 = defineEvent(
  'orders.order_status_changed.v1',
  Type.Object(
    {
      ...orderFacts,
      fromStatus: OrderStatus,
      toStatus: OrderStatus,
      reason: Type.String({ minLength: 1, maxLength: 1000 }),
      actorType: ActorType,
      changedBy: Type.Union([Uuid, Type.Null()]),
      changedAt: Instant,
    },
    { additionalProperties: false },
  ),
);
export type OrderStatusChangedV1 = Static<typeof OrderStatusChangedV1.schema>;

registerContracts(OrderPlacedV1, OrderPaidV1, OrderCancelledV1, OrderStatusChangedV1);
