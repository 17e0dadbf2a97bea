import type { OrderItemFacts, OrderPlacedV1 } from '../../contracts/orders.ts';
import type { ItemRow, OrderRow } from './sql.ts';

/**
 * What a buyer saw of the product at checkout, stored with each item. `title` is required; the
 * rest is kept as given (image, category, base price and price discount, …).
 */
export interface ProductSnapshot {
  title: string;
  variantAttributes?: Record<string, string>;
  [detail: string]: unknown;
}

export type OrderFacts = OrderPlacedV1;

export function titleOf(snapshot: Record<string, unknown>): string {
  return typeof snapshot.title === 'string' && snapshot.title.length > 0 ? snapshot.title : '(untitled)';
}

export function variantAttributesOf(snapshot: Record<string, unknown>): Record<string, string> {
  const attributes = snapshot.variantAttributes;
  if (typeof attributes !== 'object' || attributes === null || Array.isArray(attributes)) return {};
  const result: Record<string, string> = {};
  for (const [key, value] of Object.entries(attributes)) {
    if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') result[key] = String(value);
  }
  return result;
}

export function itemFacts(item: ItemRow): OrderItemFacts {
  return {
    itemId: item.id,
    productId: item.product_id,
    variantId: item.variant_id,
    sku: item.sku,
    title: titleOf(item.product_snapshot_json),
    variantAttributes: variantAttributesOf(item.product_snapshot_json),
    unitPrice: item.price_snapshot,
    quantity: item.quantity,
    discountAmount: item.discount_amount,
    lineTotal: item.line_total,
  };
}

/** The order as every orders event describes it (the address is left out on purpose). */
export function orderFacts(order: OrderRow, items: readonly ItemRow[]): OrderFacts {
  return {
    orderId: order.id,
    orderNumber: order.order_number,
    checkoutSessionId: order.checkout_session_id,
    buyerId: order.buyer_id,
    sellerId: order.seller_id,
    status: order.status,
    currency: order.currency,
    subtotalAmount: order.subtotal_amount,
    discountAmount: order.discount_amount,
    shippingAmount: order.shipping_amount,
    totalAmount: order.total_amount,
    refundedAmount: order.refunded_amount,
    items: items.filter((i) => i.order_id === order.id).map(itemFacts),
    placedAt: order.created_at.toISOString(),
    version: order.version,
  };
}
