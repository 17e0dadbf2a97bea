import type { OrderStatusChangedV1 } from '../../contracts/orders.ts';
import { isStorableInstant } from '../../platform/clock.ts';
import { type ExactInteger, exactDifference, exactInteger } from '../../platform/db/pool.ts';
import { AppError } from '../../platform/http/errors.ts';
import type { SearchDeps } from './deps.ts';

export const DASHBOARD_DAYS_MAX = 366;
export const DASHBOARD_DEFAULT_DAYS = 30;
export type TopBy = 'revenue' | 'units';

export interface DashboardQuery {
  from?: string;
  to?: string;
  currency?: string;
  topBy?: TopBy;
  topLimit: number;
}

interface Money {
  /** Sums over many orders: exact, beyond 2^53 too. */
  amount: ExactInteger;
  currency: string;
}

type OrderStatus = OrderStatusChangedV1['status'];

export interface RecentOrder {
  orderId: string;
  orderNumber: string;
  status: OrderStatus;
  totalAmount: number;
  itemCount: number;
  placedAt: string;
}

export interface CurrencyDashboard {
  currency: string;
  paidOrders: number;
  revenue: Money;
  refunded: Money;
  netRevenue: Money;
  ordersByStatus: Record<string, number>;
  recentOrders: { orderId: string; orderNumber: string; status: OrderStatus; total: { amount: number; currency: string }; itemCount: number; placedAt: string }[];
  days: { day: string; orders: number; revenue: Money; refunded: Money; netRevenue: Money }[];
  topProducts: { productId: string; title: string; unitsSold: number; revenue: Money }[];
}

export interface Dashboard {
  sellerId: string;
  from: string;
  to: string;
  topBy: TopBy;
  currencies: CurrencyDashboard[];
}

const DAY_MS = 86_400_000;

function day(value: string, name: string): number {
  const ms = Date.parse(`${value}T00:00:00.000Z`);
  if (!/^\d{4}-\d{2}-\d{2}$/.test(value) || !isStorableInstant(ms) || new Date(ms).toISOString().slice(0, 10) !== value) {
    throw new AppError('VALIDATION_FAILED', `${name} must be a calendar date YYYY-MM-DD`);
  }
  return ms;
}

/** The UTC days a dashboard covers: `to` defaults to today, `from` to 29 days before it; at most a year and a day. */
export function dayRange(query: Pick<DashboardQuery, 'from' | 'to'>, now: Date): { from: string; to: string } {
  const to = query.to !== undefined ? day(query.to, 'to') : Date.parse(now.toISOString().slice(0, 10));
  const from = query.from !== undefined ? day(query.from, 'from') : to - (DASHBOARD_DEFAULT_DAYS - 1) * DAY_MS;
  if (from > to) throw new AppError('VALIDATION_FAILED', 'from must not be after to');
  if ((to - from) / DAY_MS + 1 > DASHBOARD_DAYS_MAX) throw new AppError('VALIDATION_FAILED', `a dashboard covers at most ${DASHBOARD_DAYS_MAX} days`);
  if (!isStorableInstant(from)) throw new AppError('VALIDATION_FAILED', 'from is out of range');
  const iso = (ms: number) => new Date(ms).toISOString().slice(0, 10);
  return { from: iso(from), to: iso(to) };
}

const money = (amount: string | number, currency: string): Money => ({ amount: exactInteger(amount), currency });

/**
 * The seller's dashboard from the read model: per currency the totals (paid orders, revenue,
 * refunds, net), orders by status, the most recent orders, the figures of each UTC day of the range
 * that had any, and the top products by revenue or units.
 */
export async function sellerDashboard(deps: SearchDeps, sellerId: string, query: DashboardQuery): Promise<Dashboard> {
  const { from, to } = dayRange(query, deps.clock.now());
  const topBy = query.topBy ?? 'revenue';
  const currency = query.currency ?? null;
  const [totals, statuses, days, top] = await Promise.all([
    deps.pool.query<{ currency: string; order_count: number; revenue: string; refunded: string; orders_json: RecentOrder[] }>(
      `SELECT currency, order_count, revenue::text, refunded::text, orders_json FROM seller_dashboard_view
        WHERE seller_id = $1 AND ($2::text IS NULL OR currency = $2) ORDER BY currency`,
      [sellerId, currency],
    ),
    deps.pool.query<{ currency: string; status: string; n: number }>(
      `SELECT currency, status, count(*)::int AS n FROM order_list_view
        WHERE seller_id = $1 AND ($2::text IS NULL OR currency = $2) GROUP BY currency, status`,
      [sellerId, currency],
    ),
    deps.pool.query<{ day: string; currency: string; orders: number; revenue: string; refunded: string }>(
      `SELECT to_char(day, 'YYYY-MM-DD') AS day, currency, orders, revenue::text, refunded::text FROM seller_daily_revenue
        WHERE seller_id = $1 AND day BETWEEN $2::date AND $3::date AND ($4::text IS NULL OR currency = $4) ORDER BY day, currency`,
      [sellerId, from, to, currency],
    ),
    deps.pool.query<{ currency: string; product_id: string; title: string; units_sold: string; revenue: string }>(
      `SELECT currency, product_id, title, units_sold, revenue::text
         FROM (SELECT s.*, row_number() OVER (PARTITION BY currency ORDER BY ${topBy === 'units' ? 'units_sold DESC, revenue DESC' : 'revenue DESC, units_sold DESC'}, product_id) AS n
                 FROM seller_product_sales s WHERE seller_id = $1 AND ($2::text IS NULL OR currency = $2)) ranked
        WHERE n <= $3 ORDER BY currency, n`,
      [sellerId, currency, query.topLimit],
    ),
  ]);
  const currencies = new Map<string, CurrencyDashboard>();
  const of = (c: string): CurrencyDashboard => {
    let d = currencies.get(c);
    if (!d) {
      d = { currency: c, paidOrders: 0, revenue: money(0, c), refunded: money(0, c), netRevenue: money(0, c), ordersByStatus: {}, recentOrders: [], days: [], topProducts: [] };
      currencies.set(c, d);
    }
    return d;
  };
  for (const t of totals.rows) {
    const d = of(t.currency);
    d.paidOrders = t.order_count;
    d.revenue = money(t.revenue, t.currency);
    d.refunded = money(t.refunded, t.currency);
    d.netRevenue = { amount: exactDifference(exactInteger(t.revenue), exactInteger(t.refunded)), currency: t.currency };
    d.recentOrders = t.orders_json.map((o) => ({
      orderId: o.orderId,
      orderNumber: o.orderNumber,
      status: o.status,
      total: { amount: Number(o.totalAmount), currency: t.currency },
      itemCount: o.itemCount,
      placedAt: o.placedAt,
    }));
  }
  for (const s of statuses.rows) of(s.currency).ordersByStatus[s.status] = s.n;
  for (const r of days.rows) {
    of(r.currency).days.push({
      day: r.day,
      orders: r.orders,
      revenue: money(r.revenue, r.currency),
      refunded: money(r.refunded, r.currency),
      netRevenue: { amount: exactDifference(exactInteger(r.revenue), exactInteger(r.refunded)), currency: r.currency },
    });
  }
  for (const p of top.rows) {
    of(p.currency).topProducts.push({ productId: p.product_id, title: p.title, unitsSold: Number(p.units_sold), revenue: money(p.revenue, p.currency) });
  }
  return { sellerId, from, to, topBy, currencies: [...currencies.values()].sort((a, b) => (a.currency < b.currency ? -1 : 1)) };
}
