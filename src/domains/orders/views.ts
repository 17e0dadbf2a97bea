import { Type } from '@sinclair/typebox';
import { MoneySchema } from '../../platform/http/schemas.ts';
import { titleOf, variantAttributesOf } from './facts.ts';
import type { HistoryRow, ItemRow, OrderRow, PaymentRow, RefundRow, ShipmentRow } from './sql.ts';
import { OrderStatusSchema } from '../../contracts/orders.ts';
import { FULFILMENT_STATUSES } from './status-machine.ts';

/** What the HTTP routes return: orders as buyers and sellers read them, money as { amount, currency }. */
const Id = Type.String({ format: 'uuid' });
const Time = Type.String({ format: 'date-time' });
export { OrderStatusSchema };
const FulfilmentStatusSchema = Type.Union([...FULFILMENT_STATUSES.map((s) => Type.Literal(s)), Type.Null()], {
  description: 'How far the order got towards the buyer (paid … completed), kept through refunds; null until it is paid',
});

export const OrderItemView = Type.Object({
  id: Id,
  productId: Id,
  variantId: Id,
  sku: Type.String(),
  title: Type.String(),
  variantAttributes: Type.Record(Type.String(), Type.String()),
  productSnapshot: Type.Object({}, { additionalProperties: true, description: 'The product as it was at checkout' }),
  unitPrice: MoneySchema,
  quantity: Type.Integer(),
  discount: { ...MoneySchema, description: 'The coupons\' share of this line' },
  lineTotal: { ...MoneySchema, description: 'unitPrice × quantity − discount: what the line costs (a cart line\'s lineTotal is before coupons)' },
});

const summaryProperties = {
  id: Id,
  orderNumber: Type.String(),
  status: OrderStatusSchema,
  fulfilmentStatus: FulfilmentStatusSchema,
  buyerId: Id,
  sellerId: Id,
  checkoutSessionId: Id,
  subtotal: MoneySchema,
  discount: MoneySchema,
  shipping: MoneySchema,
  total: MoneySchema,
  refunded: MoneySchema,
  items: Type.Array(OrderItemView),
  // In every view, lists too: the seller reads where to ship from the list of their orders.
  shippingAddress: Type.Object({}, { additionalProperties: true, description: 'Where the order ships, as the checkout took it' }),
  createdAt: Time,
  updatedAt: Time,
};
export const OrderSummaryView = Type.Object(summaryProperties);

export const OrderDetailView = Type.Object({
  ...summaryProperties,
  statusHistory: Type.Array(
    Type.Object({
      fromStatus: Type.Union([OrderStatusSchema, Type.Null()]),
      toStatus: OrderStatusSchema,
      reason: Type.String(),
      actorType: Type.String(),
      changedBy: Type.Union([Id, Type.Null()]),
      changedAt: Time,
    }),
  ),
  payments: Type.Array(Type.Object({ paymentId: Id, amount: MoneySchema, status: Type.String(), createdAt: Time, updatedAt: Time })),
  shipments: Type.Array(
    Type.Object({ shipmentId: Id, carrier: Type.String(), trackingNumber: Type.String(), status: Type.String(), createdAt: Time, updatedAt: Time }),
  ),
  refunds: Type.Array(Type.Object({ refundId: Id, amount: MoneySchema, reason: Type.String(), status: Type.String(), createdAt: Time })),
});

const money = (amount: number, currency: string) => ({ amount, currency });

export function itemView(item: ItemRow) {
  return {
    id: item.id,
    productId: item.product_id,
    variantId: item.variant_id,
    sku: item.sku,
    title: titleOf(item.product_snapshot_json),
    variantAttributes: variantAttributesOf(item.product_snapshot_json),
    productSnapshot: item.product_snapshot_json,
    unitPrice: money(item.price_snapshot, item.currency),
    quantity: item.quantity,
    discount: money(item.discount_amount, item.currency),
    lineTotal: money(item.line_total, item.currency),
  };
}

export function summaryView(order: OrderRow, items: readonly ItemRow[]) {
  const c = order.currency;
  return {
    id: order.id,
    orderNumber: order.order_number,
    status: order.status,
    fulfilmentStatus: order.fulfilment_status,
    buyerId: order.buyer_id,
    sellerId: order.seller_id,
    checkoutSessionId: order.checkout_session_id,
    subtotal: money(order.subtotal_amount, c),
    discount: money(order.discount_amount, c),
    shipping: money(order.shipping_amount, c),
    total: money(order.total_amount, c),
    refunded: money(order.refunded_amount, c),
    items: items.filter((i) => i.order_id === order.id).map(itemView),
    shippingAddress: order.shipping_address_json,
    createdAt: order.created_at.toISOString(),
    updatedAt: order.updated_at.toISOString(),
  };
}

export interface OrderRecord {
  order: OrderRow;
  items: ItemRow[];
  history: HistoryRow[];
  payments: PaymentRow[];
  shipments: ShipmentRow[];
  refunds: RefundRow[];
}

export function detailView(r: OrderRecord) {
  return {
    ...summaryView(r.order, r.items),
    statusHistory: r.history.map((h) => ({
      fromStatus: h.from_status,
      toStatus: h.to_status,
      reason: h.reason,
      actorType: h.actor_type,
      changedBy: h.changed_by,
      changedAt: h.changed_at.toISOString(),
    })),
    payments: r.payments.map((p) => ({
      paymentId: p.payment_id,
      amount: money(p.amount, p.currency),
      status: p.status,
      createdAt: p.created_at.toISOString(),
      updatedAt: p.updated_at.toISOString(),
    })),
    shipments: r.shipments.map((s) => ({
      shipmentId: s.shipment_id,
      carrier: s.carrier,
      trackingNumber: s.tracking_number,
      status: s.status,
      createdAt: s.created_at.toISOString(),
      updatedAt: s.updated_at.toISOString(),
    })),
    refunds: r.refunds.map((f) => ({
      refundId: f.refund_id,
      amount: money(f.amount, f.currency),
      reason: f.reason,
      status: f.status,
      createdAt: f.created_at.toISOString(),
    })),
  };
}
