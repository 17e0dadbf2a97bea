import { OrderCancelledV1, OrderPaidV1, OrderPlacedV1, OrderStatusChangedV1 } from '../../contracts/orders.ts';
import { RefundSucceededV1 } from '../../contracts/payments.ts';
import type { Tx } from '../../platform/db/pool.ts';
import { type Statement, runTogether } from '../../platform/db/statements.ts';
import type { EventEnvelope } from '../../platform/messaging/envelope.ts';
import type { HandlerContext, Subscription } from '../../platform/messaging/subscription.ts';
import { readModelHooks } from './checkpoints.ts';

export const SELLER_DASHBOARD_MODEL = 'seller_dashboard';
export const SELLER_DASHBOARD_CONSUMER = 'search.seller_dashboard';
/** Most recent orders kept per seller and currency in seller_dashboard_view.orders_json. */
export const RECENT_ORDERS_MAX = 10;

type OrderEvent = OrderPlacedV1 | OrderPaidV1 | OrderCancelledV1 | OrderStatusChangedV1;

/** The time of the fact an orders event reports: events of one order are ordered by it. */
export function factTime(type: string, data: OrderEvent): string {
  switch (type) {
    case OrderPaidV1.type:
      return (data as OrderPaidV1).paidAt;
    case OrderCancelledV1.type:
      return (data as OrderCancelledV1).cancelledAt;
    case OrderStatusChangedV1.type:
      return (data as OrderStatusChangedV1).changedAt;
    default:
      return data.placedAt;
  }
}

/**
 * The order's row in order_list_view, unless the row holds a newer state: by the order's version
 * when the event carries it (two changes in the same instant stay ordered), else by the fact's
 * time, counting changes (events of the same instant describe the same order).
 */
function orderListUpsert(o: OrderEvent, at: string): Statement {
  return {
    text: `INSERT INTO order_list_view AS o (order_id, buyer_id, seller_id, order_number, status, total_amount, currency, item_count,
              order_version, created_at, updated_at, last_event_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, coalesce($11::int, 1), $9, $10, $10)
           ON CONFLICT (order_id) DO UPDATE SET status = EXCLUDED.status, total_amount = EXCLUDED.total_amount, item_count = EXCLUDED.item_count,
              order_version = CASE WHEN $11::int IS NOT NULL THEN $11::int
                                   ELSE o.order_version + CASE WHEN o.last_event_at < EXCLUDED.last_event_at THEN 1 ELSE 0 END END,
              updated_at = greatest(o.updated_at, EXCLUDED.updated_at), last_event_at = greatest(o.last_event_at, EXCLUDED.last_event_at)
           WHERE CASE WHEN $11::int IS NOT NULL THEN o.order_version <= $11::int
                      ELSE o.last_event_at IS NULL OR o.last_event_at <= EXCLUDED.last_event_at END`,
    values: [
      o.orderId,
      o.buyerId,
      o.sellerId,
      o.orderNumber,
      o.status,
      o.totalAmount,
      o.currency,
      o.items.reduce((n, i) => n + i.quantity, 0),
      o.placedAt,
      at,
      o.version ?? null,
    ],
  };
}

/** The figures of a paid order: the seller's totals, the UTC day it was paid, and its products. */
function paidStatements(o: OrderPaidV1): Statement[] {
  const byProduct = new Map<string, { title: string; units: number; revenue: number }>();
  for (const item of o.items) {
    const p = byProduct.get(item.productId) ?? { title: item.title, units: 0, revenue: 0 };
    p.units += item.quantity;
    p.revenue += item.lineTotal;
    byProduct.set(item.productId, p);
  }
  const products = [...byProduct];
  return [
    {
      text: `INSERT INTO seller_dashboard_paid_orders (order_id, seller_id, currency, paid_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (order_id) DO NOTHING`,
      values: [o.orderId, o.sellerId, o.currency, o.paidAt],
    },
    {
      text: `INSERT INTO seller_dashboard_view AS d (seller_id, currency, order_count, revenue, updated_at) VALUES ($1, $2, 1, $3, $4)
             ON CONFLICT (seller_id, currency) DO UPDATE SET order_count = d.order_count + 1, revenue = d.revenue + EXCLUDED.revenue,
               updated_at = greatest(d.updated_at, EXCLUDED.updated_at)`,
      values: [o.sellerId, o.currency, o.totalAmount, o.paidAt],
    },
    {
      text: `INSERT INTO seller_daily_revenue AS r (seller_id, day, currency, orders, revenue, updated_at)
             VALUES ($1, ($4::timestamptz AT TIME ZONE 'UTC')::date, $2, 1, $3, $4)
             ON CONFLICT (seller_id, day, currency) DO UPDATE SET orders = r.orders + 1, revenue = r.revenue + EXCLUDED.revenue,
               updated_at = greatest(r.updated_at, EXCLUDED.updated_at)`,
      values: [o.sellerId, o.currency, o.totalAmount, o.paidAt],
    },
    {
      text: `INSERT INTO seller_product_sales AS s (seller_id, product_id, currency, title, units_sold, revenue, updated_at)
             SELECT $1, p.id, $2, p.title, p.units, p.revenue, $3 FROM unnest($4::uuid[], $5::text[], $6::int8[], $7::int8[]) AS p(id, title, units, revenue)
             ON CONFLICT (seller_id, product_id, currency) DO UPDATE SET units_sold = s.units_sold + EXCLUDED.units_sold,
               revenue = s.revenue + EXCLUDED.revenue,
               title = CASE WHEN EXCLUDED.updated_at >= s.updated_at THEN EXCLUDED.title ELSE s.title END,
               updated_at = greatest(s.updated_at, EXCLUDED.updated_at)`,
      values: [
        o.sellerId,
        o.currency,
        o.paidAt,
        products.map(([id]) => id),
        products.map(([, p]) => p.title),
        products.map(([, p]) => p.units),
        products.map(([, p]) => p.revenue),
      ],
    },
  ];
}

/** Rewrites the seller's recent orders in this currency from order_list_view (after its row was written). */
async function refreshRecentOrders(tx: Tx, sellerId: string, currency: string, at: string): Promise<void> {
  await tx.query(
    `INSERT INTO seller_dashboard_view AS d (seller_id, currency, orders_json, updated_at)
     SELECT $1, $2, coalesce(jsonb_agg(jsonb_build_object('orderId', r.order_id, 'orderNumber', r.order_number, 'status', r.status,
              'totalAmount', r.total_amount, 'itemCount', r.item_count, 'placedAt', to_char(r.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))
              ORDER BY r.created_at DESC, r.order_id DESC), '[]'::jsonb), $3::timestamptz
       FROM (SELECT order_id, order_number, status, total_amount, item_count, created_at FROM order_list_view
              WHERE seller_id = $1 AND currency = $2 ORDER BY created_at DESC, order_id DESC LIMIT ${RECENT_ORDERS_MAX}) r
     ON CONFLICT (seller_id, currency) DO UPDATE SET orders_json = EXCLUDED.orders_json, updated_at = greatest(d.updated_at, EXCLUDED.updated_at)`,
    [sellerId, currency, at],
  );
}

async function applyOrderEvent(tx: Tx, type: string, data: OrderEvent): Promise<void> {
  const at = factTime(type, data);
  const paid = type === OrderPaidV1.type ? (data as OrderPaidV1) : undefined;
  await runTogether(tx, [orderListUpsert(data, at), ...(paid ? paidStatements(paid) : [])]);
  // Refunds that came before their order's payment count now (statements of their own: they may
  // add to the rows the payment's statements just wrote).
  if (paid) await tx.query(countHeldRefunds, [paid.orderId]);
  await refreshRecentOrders(tx, data.sellerId, data.currency, at);
}

/** Counts a refund (seller totals and its own UTC day) when its order was counted as paid; else holds it. */
const countOrHoldRefund = `
  WITH paid AS (SELECT 1 FROM seller_dashboard_paid_orders WHERE order_id = $2),
  held AS (
    INSERT INTO seller_dashboard_held_refunds (refund_id, order_id, seller_id, currency, amount, refunded_at)
    SELECT $1, $2, $3, $4, $5, $6 WHERE NOT EXISTS (SELECT 1 FROM paid)
    ON CONFLICT (refund_id) DO NOTHING),
  total AS (
    INSERT INTO seller_dashboard_view AS d (seller_id, currency, refunded, updated_at)
    SELECT $3, $4, $5, $6 WHERE EXISTS (SELECT 1 FROM paid)
    ON CONFLICT (seller_id, currency) DO UPDATE SET refunded = d.refunded + EXCLUDED.refunded, updated_at = greatest(d.updated_at, EXCLUDED.updated_at))
  INSERT INTO seller_daily_revenue AS d (seller_id, day, currency, refunded, updated_at)
  SELECT $3, ($6::timestamptz AT TIME ZONE 'UTC')::date, $4, $5, $6 WHERE EXISTS (SELECT 1 FROM paid)
  ON CONFLICT (seller_id, day, currency) DO UPDATE SET refunded = d.refunded + EXCLUDED.refunded, updated_at = greatest(d.updated_at, EXCLUDED.updated_at)`;

/** Counts the refunds held for an order just counted as paid, each on its own day, and lets them go. */
const countHeldRefunds = `
  WITH held AS (DELETE FROM seller_dashboard_held_refunds WHERE order_id = $1 RETURNING seller_id, currency, amount, refunded_at),
  total AS (
    INSERT INTO seller_dashboard_view AS d (seller_id, currency, refunded, updated_at)
    SELECT seller_id, currency, sum(amount), max(refunded_at) FROM held GROUP BY seller_id, currency
    ON CONFLICT (seller_id, currency) DO UPDATE SET refunded = d.refunded + EXCLUDED.refunded, updated_at = greatest(d.updated_at, EXCLUDED.updated_at))
  INSERT INTO seller_daily_revenue AS d (seller_id, day, currency, refunded, updated_at)
  SELECT seller_id, (refunded_at AT TIME ZONE 'UTC')::date, currency, sum(amount), max(refunded_at) FROM held GROUP BY 1, 2, 3
  ON CONFLICT (seller_id, day, currency) DO UPDATE SET refunded = d.refunded + EXCLUDED.refunded, updated_at = greatest(d.updated_at, EXCLUDED.updated_at)`;

async function applyRefund(tx: Tx, r: RefundSucceededV1): Promise<void> {
  await tx.query(countOrHoldRefund, [r.refundId, r.orderId, r.sellerId, r.currency, r.amount, r.refundedAt]);
}

async function apply(ctx: HandlerContext, event: EventEnvelope): Promise<void> {
  if (event.type === RefundSucceededV1.type) return applyRefund(ctx.tx, event.data as RefundSucceededV1);
  if (ORDER_EVENTS.includes(event.type)) return applyOrderEvent(ctx.tx, event.type, event.data as OrderEvent);
  throw new Error(`${SELLER_DASHBOARD_CONSUMER} cannot handle ${event.type}`);
}

const ORDER_EVENTS: readonly string[] = [OrderPlacedV1.type, OrderPaidV1.type, OrderCancelledV1.type, OrderStatusChangedV1.type];

/**
 * search.seller_dashboard: order_list_view and the seller dashboard (seller_dashboard_view,
 * seller_daily_revenue, seller_product_sales). Revenue is counted when an order is paid
 * (orders.order_paid.v1: its total, on the UTC day of paidAt, and its lines per product); refunds
 * when the money goes back (payments.refund_succeeded.v1, on the UTC day of refundedAt), the
 * cancellation of a paid order included, since payments refunds it. An order cancelled before it
 * was paid never counts, nor does the refund of money captured after that cancellation: a refund
 * counts only against an order counted as paid (seller_dashboard_paid_orders), and one that comes
 * first waits (seller_dashboard_held_refunds) until its order's payment is counted. Counters are
 * sums, so the order events of different sources arrive in does not matter; the inbox applies each
 * event once.
 */
export function sellerDashboardSubscription(): Subscription {
  return {
    consumer: SELLER_DASHBOARD_CONSUMER,
    domain: 'search',
    events: [...ORDER_EVENTS, RefundSucceededV1.type],
    handle: apply,
    readModel: readModelHooks(
      SELLER_DASHBOARD_MODEL,
      'Order lists and seller dashboards (order_list_view, seller_dashboard_view, seller_daily_revenue, seller_product_sales, with the paid orders and held refunds behind them), from orders and payments events.',
      ['order_list_view', 'seller_dashboard_view', 'seller_daily_revenue', 'seller_product_sales', 'seller_dashboard_paid_orders', 'seller_dashboard_held_refunds'],
    ),
  };
}
