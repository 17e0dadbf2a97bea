import type { OrderCancelledV1, OrderPaidV1, OrderPlacedV1, OrderStatusChangedV1 } from '../../src/contracts/orders.ts';
import type { RefundSucceededV1 } from '../../src/contracts/payments.ts';
import { type Pool, withTransaction } from '../../src/platform/db/pool.ts';
import { newId } from '../../src/platform/ids.ts';
import { appendEvents } from '../../src/platform/messaging/outbox.ts';
import type { TestApp } from '../support/app.ts';

/**
 * Orders and payments events as those domains write them (into their outboxes, relayed to the
 * search domain like any other event), so the dashboard is tested from a known set of facts.
 */
export interface Line {
  productId: string;
  title: string;
  unitPrice: number;
  quantity: number;
  discountAmount?: number;
}

export interface OrderSpec {
  sellerId: string;
  currency: string;
  lines: Line[];
  shippingAmount?: number;
  placedAt: string;
}

export type Order = OrderPlacedV1;

let numbers = 1000;

export function orderOf(spec: OrderSpec): Order {
  const items = spec.lines.map((l) => {
    const discountAmount = l.discountAmount ?? 0;
    return {
      itemId: newId(),
      productId: l.productId,
      variantId: newId(),
      sku: `SKU-${l.title.slice(0, 10).replace(/\W/g, '')}`,
      title: l.title,
      variantAttributes: {},
      unitPrice: l.unitPrice,
      quantity: l.quantity,
      discountAmount,
      lineTotal: l.unitPrice * l.quantity - discountAmount,
    };
  });
  const subtotalAmount = items.reduce((n, i) => n + i.unitPrice * i.quantity, 0);
  const discountAmount = items.reduce((n, i) => n + i.discountAmount, 0);
  const shippingAmount = spec.shippingAmount ?? 0;
  return {
    orderId: newId(),
    orderNumber: `BZ-${++numbers}`,
    checkoutSessionId: newId(),
    buyerId: newId(),
    sellerId: spec.sellerId,
    status: 'pending_payment',
    currency: spec.currency,
    subtotalAmount,
    discountAmount,
    shippingAmount,
    totalAmount: subtotalAmount - discountAmount + shippingAmount,
    refundedAmount: 0,
    items,
    placedAt: spec.placedAt,
  };
}

function pool(t: TestApp, domain: 'orders' | 'payments'): Pool {
  const p = t.app.pools.get(domain);
  if (!p) throw new Error(`no ${domain} pool`);
  return p;
}

async function write(t: TestApp, domain: 'orders' | 'payments', type: string, aggregateId: string, data: unknown, at: string): Promise<void> {
  await withTransaction(pool(t, domain), (tx) => appendEvents(tx, domain, [{ type, aggregateId, aggregateType: domain === 'orders' ? 'order' : 'payment_intent', data }], null, new Date(at)));
}

export async function placed(t: TestApp, order: Order): Promise<void> {
  await write(t, 'orders', 'orders.order_placed.v1', order.orderId, order, order.placedAt);
}

/** The order paid at `at`: order_paid and the status change, in one transaction as orders writes them. */
export async function paid(t: TestApp, order: Order, at: string): Promise<Order> {
  const after: Order = { ...order, status: 'paid' };
  const paidEvent: OrderPaidV1 = { ...after, paymentId: newId(), paidAmount: order.totalAmount, paidAt: at };
  const changed: OrderStatusChangedV1 = { ...after, fromStatus: order.status, toStatus: 'paid', reason: 'payment captured', actorType: 'system', changedBy: null, changedAt: at };
  await withTransaction(pool(t, 'orders'), (tx) =>
    appendEvents(
      tx,
      'orders',
      [
        { type: 'orders.order_paid.v1', aggregateId: order.orderId, aggregateType: 'order', data: paidEvent },
        { type: 'orders.order_status_changed.v1', aggregateId: order.orderId, aggregateType: 'order', data: changed },
      ],
      null,
      new Date(at),
    ),
  );
  return after;
}

export async function cancelled(t: TestApp, order: Order, at: string): Promise<Order> {
  const after: Order = { ...order, status: 'cancelled' };
  const data: OrderCancelledV1 = {
    ...after,
    reason: 'changed my mind',
    wasPaid: order.status !== 'pending_payment',
    previousStatus: order.status,
    actorType: 'buyer',
    cancelledBy: order.buyerId,
    cancelledAt: at,
  };
  await write(t, 'orders', 'orders.order_cancelled.v1', order.orderId, data, at);
  return after;
}

export async function refunded(t: TestApp, order: Order, amount: number, refundedSoFar: number, at: string): Promise<void> {
  const intentId = newId();
  const data: RefundSucceededV1 = {
    refundId: newId(),
    intentId,
    orderId: order.orderId,
    sellerId: order.sellerId,
    amount,
    currency: order.currency,
    reason: 'damaged in transit',
    orderPaidAmount: order.totalAmount,
    orderRefundedAmount: refundedSoFar + amount,
    refundedAt: at,
  };
  await write(t, 'payments', 'payments.refund_succeeded.v1', intentId, data, at);
}

/** The search domain's tables, whole, in a fixed order: what a rebuild must give back. */
export const READ_TABLES = {
  product_search: { product_search_view: 'product_id', product_stock_levels: 'stock_item_id', search_early_price_events: 'product_id, product_version' },
  seller_dashboard: {
    order_list_view: 'order_id',
    seller_dashboard_view: 'seller_id, currency',
    seller_daily_revenue: 'seller_id, day, currency',
    seller_product_sales: 'seller_id, product_id, currency',
    seller_dashboard_paid_orders: 'order_id',
    seller_dashboard_held_refunds: 'refund_id',
  },
} as const;

export async function dumpTables(t: TestApp, tables: Record<string, string>): Promise<Record<string, unknown[]>> {
  const db = t.app.pools.get('search') as Pool;
  const dump: Record<string, unknown[]> = {};
  for (const [table, key] of Object.entries(tables)) dump[table] = (await db.query(`SELECT * FROM ${table} ORDER BY ${key}`)).rows;
  return dump;
}

/** Waits until every outbox is relayed and the search domain's inbox holds nothing pending (a paused consumer's events stay pending). */
export async function settled(t: TestApp): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    let busy = 0;
    for (const [domain, db] of t.app.pools) {
      const outbox = domain === 'cart' ? 'carts_outbox_events' : `${domain}_outbox_events`;
      // Other domains' consumers may retry these made-up orders before parking them: only the search inbox counts.
      const inbox = domain === 'search' ? `(SELECT count(*) FROM search_inbox_events WHERE status = 'pending')::int` : '0';
      const { rows } = await db.query<{ n: number }>(`SELECT (SELECT count(*) FROM ${outbox} WHERE published_at IS NULL)::int + ${inbox} AS n`);
      busy += rows[0]?.n ?? 0;
    }
    if (busy === 0) return;
    if (Date.now() > deadline) throw new Error(`${busy} events still pending`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
