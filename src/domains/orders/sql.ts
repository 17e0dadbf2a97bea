import type { Queryable } from '../../platform/db/pool.ts';
import { type Statement, runTogether } from '../../platform/db/statements.ts';
import type { ActorType, FulfilmentStatus, OrderStatus } from './status-machine.ts';

/** Rows of orders_db as the queries return them (bigint arrives as number, timestamptz as Date). */
export interface OrderRow {
  id: string;
  buyer_id: string;
  seller_id: string;
  order_number: string;
  status: OrderStatus;
  fulfilment_status: FulfilmentStatus | null;
  order_type: string;
  currency: string;
  subtotal_amount: number;
  discount_amount: number;
  shipping_amount: number;
  total_amount: number;
  refunded_amount: number;
  checkout_session_id: string;
  shipping_address_json: Record<string, unknown>;
  version: number;
  created_at: Date;
  updated_at: Date;
}

export interface ItemRow {
  id: string;
  order_id: string;
  product_id: string;
  variant_id: string;
  seller_id: string;
  sku: string;
  product_snapshot_json: Record<string, unknown>;
  price_snapshot: number;
  quantity: number;
  discount_amount: number;
  currency: string;
  line_total: number;
  created_at: Date;
}

export interface HistoryRow {
  id: string;
  order_id: string;
  from_status: OrderStatus | null;
  to_status: OrderStatus;
  reason: string;
  changed_by: string | null;
  actor_type: ActorType;
  changed_at: Date;
}

export interface PaymentRow {
  id: string;
  order_id: string;
  payment_id: string;
  amount: number;
  currency: string;
  status: string;
  created_at: Date;
  updated_at: Date;
}

export interface ShipmentRow {
  id: string;
  order_id: string;
  shipment_id: string;
  carrier: string;
  tracking_number: string;
  status: string;
  created_at: Date;
  updated_at: Date;
}

export interface RefundRow {
  id: string;
  order_id: string;
  refund_id: string;
  amount: number;
  currency: string;
  reason: string;
  status: string;
  created_at: Date;
  updated_at: Date;
}

const ORDER_COLUMNS = `id, buyer_id, seller_id, order_number, status, fulfilment_status, order_type, currency::text AS currency, subtotal_amount,
  discount_amount, shipping_amount, total_amount, refunded_amount, checkout_session_id, shipping_address_json, version,
  created_at, updated_at`;

/** Most items one order may hold: bounds every query and event that carries them. */
export const ITEMS_PER_ORDER_MAX = 100;
/** Most sellers (so orders) one checkout may make. */
export const ORDERS_PER_CHECKOUT_MAX = 50;

// ---------------------------------------------------------------------------------------------
// Locks (in id order, so two transactions locking the same orders cannot deadlock)
// ---------------------------------------------------------------------------------------------

export async function lockOrders(tx: Queryable, orderIds: readonly string[]): Promise<OrderRow[]> {
  const { rows } = await tx.query<OrderRow>(
    `SELECT ${ORDER_COLUMNS} FROM orders WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE`,
    [orderIds],
  );
  return rows;
}

export async function lockOrdersOfCheckout(tx: Queryable, checkoutSessionId: string): Promise<OrderRow[]> {
  const { rows } = await tx.query<OrderRow>(
    `SELECT ${ORDER_COLUMNS} FROM orders WHERE checkout_session_id = $1 ORDER BY id LIMIT ${ORDERS_PER_CHECKOUT_MAX} FOR UPDATE`,
    [checkoutSessionId],
  );
  return rows;
}

export async function ordersOfCheckout(db: Queryable, checkoutSessionId: string, sellerIds: readonly string[]): Promise<OrderRow[]> {
  const { rows } = await db.query<OrderRow>(
    `SELECT ${ORDER_COLUMNS} FROM orders WHERE checkout_session_id = $1 AND seller_id = ANY($2::uuid[]) ORDER BY id`,
    [checkoutSessionId, sellerIds],
  );
  return rows;
}

export async function itemsOf(db: Queryable, orderIds: readonly string[]): Promise<ItemRow[]> {
  if (orderIds.length === 0) return [];
  const { rows } = await db.query<ItemRow>(
    `SELECT id, order_id, product_id, variant_id, seller_id, sku, product_snapshot_json, price_snapshot, quantity,
            discount_amount, currency::text AS currency, line_total, created_at
       FROM order_items WHERE order_id = ANY($1::uuid[]) ORDER BY order_id, id LIMIT $2`,
    [orderIds, orderIds.length * ITEMS_PER_ORDER_MAX],
  );
  return rows;
}

// ---------------------------------------------------------------------------------------------
// Writes
// ---------------------------------------------------------------------------------------------

export interface NewOrder {
  id: string;
  buyerId: string;
  sellerId: string;
  orderNumber: string;
  currency: string;
  subtotalAmount: number;
  discountAmount: number;
  shippingAmount: number;
  totalAmount: number;
  checkoutSessionId: string;
  shippingAddress: Record<string, unknown>;
  createdAt: Date;
}

/**
 * Inserts the orders that do not exist yet. Any unique conflict — the (checkout, seller) key of an
 * order made before, or an order number already taken — skips the row; returns the ids inserted.
 */
export async function insertOrders(tx: Queryable, orders: readonly NewOrder[]): Promise<Set<string>> {
  const { text, values } = ordersInsert(orders);
  const { rows } = await tx.query<{ id: string }>(text, values);
  return new Set(rows.map((r) => r.id));
}

/** The INSERT of insertOrders as a statement (RETURNING the ids inserted), to combine with others. */
export function ordersInsert(orders: readonly NewOrder[]): Statement {
  return {
    text: `INSERT INTO orders (id, buyer_id, seller_id, order_number, currency, subtotal_amount, discount_amount, shipping_amount,
                         total_amount, checkout_session_id, shipping_address_json, created_at, updated_at)
     SELECT id, buyer_id, seller_id, order_number, currency, subtotal, discount, shipping, total, session, address, at, at
       FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::bigint[], $7::bigint[], $8::bigint[],
                   $9::bigint[], $10::uuid[], $11::jsonb[], $12::timestamptz[])
            AS t(id, buyer_id, seller_id, order_number, currency, subtotal, discount, shipping, total, session, address, at)
     ON CONFLICT DO NOTHING
     RETURNING id`,
    values: [
      orders.map((o) => o.id),
      orders.map((o) => o.buyerId),
      orders.map((o) => o.sellerId),
      orders.map((o) => o.orderNumber),
      orders.map((o) => o.currency),
      orders.map((o) => o.subtotalAmount),
      orders.map((o) => o.discountAmount),
      orders.map((o) => o.shippingAmount),
      orders.map((o) => o.totalAmount),
      orders.map((o) => o.checkoutSessionId),
      orders.map((o) => JSON.stringify(o.shippingAddress)),
      orders.map((o) => o.createdAt),
    ],
  };
}

export interface NewItem {
  id: string;
  orderId: string;
  productId: string;
  variantId: string;
  sellerId: string;
  sku: string;
  productSnapshot: Record<string, unknown>;
  unitPrice: number;
  quantity: number;
  discountAmount: number;
  currency: string;
  lineTotal: number;
  createdAt: Date;
}

export function itemsInsert(items: readonly NewItem[]): Statement | undefined {
  if (items.length === 0) return undefined;
  return {
    text: `INSERT INTO order_items (id, order_id, product_id, variant_id, seller_id, sku, product_snapshot_json, price_snapshot,
                              quantity, discount_amount, currency, line_total, created_at)
     SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::uuid[], $6::text[], $7::jsonb[], $8::bigint[],
                          $9::int[], $10::bigint[], $11::text[], $12::bigint[], $13::timestamptz[])`,
    values: [
      items.map((i) => i.id),
      items.map((i) => i.orderId),
      items.map((i) => i.productId),
      items.map((i) => i.variantId),
      items.map((i) => i.sellerId),
      items.map((i) => i.sku),
      items.map((i) => JSON.stringify(i.productSnapshot)),
      items.map((i) => i.unitPrice),
      items.map((i) => i.quantity),
      items.map((i) => i.discountAmount),
      items.map((i) => i.currency),
      items.map((i) => i.lineTotal),
      items.map((i) => i.createdAt),
    ],
  };
}

export interface NewHistory {
  id: string;
  orderId: string;
  fromStatus: OrderStatus | null;
  toStatus: OrderStatus;
  reason: string;
  changedBy: string | null;
  actorType: ActorType;
  changedAt: Date;
}

export function historyInsert(rows: readonly NewHistory[]): Statement | undefined {
  if (rows.length === 0) return undefined;
  return {
    text: `INSERT INTO order_status_history (id, order_id, from_status, to_status, reason, changed_by, actor_type, changed_at)
     SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::uuid[], $7::text[], $8::timestamptz[])`,
    values: [
      rows.map((r) => r.id),
      rows.map((r) => r.orderId),
      rows.map((r) => r.fromStatus),
      rows.map((r) => r.toStatus),
      rows.map((r) => r.reason),
      rows.map((r) => r.changedBy),
      rows.map((r) => r.actorType),
      rows.map((r) => r.changedAt),
    ],
  };
}

export interface OrderChange {
  id: string;
  status: OrderStatus;
  fulfilmentStatus: FulfilmentStatus | null;
  refundedAmount: number;
}

export function ordersUpdate(changes: readonly OrderChange[], now: Date): Statement | undefined {
  if (changes.length === 0) return undefined;
  return {
    text: `UPDATE orders o SET status = c.status, fulfilment_status = c.fulfilment, refunded_amount = c.refunded,
                      version = o.version + 1, updated_at = $5
       FROM unnest($1::uuid[], $2::text[], $3::text[], $4::bigint[]) AS c(id, status, fulfilment, refunded)
      WHERE o.id = c.id`,
    values: [
      changes.map((c) => c.id),
      changes.map((c) => c.status),
      changes.map((c) => c.fulfilmentStatus),
      changes.map((c) => c.refundedAmount),
      now,
    ],
  };
}

/** Ends the shipment holds of these orders (a parcel is recorded: the order is shipped). */
export function shipmentHoldsEnd(orderIds: readonly string[]): Statement | undefined {
  if (orderIds.length === 0) return undefined;
  return { text: 'DELETE FROM order_shipment_holds WHERE order_id = ANY($1::uuid[])', values: [orderIds] };
}

/**
 * Which of these orders a shipment hold keeps from being cancelled at `now`. Read by a statement of
 * its own once the orders are locked: a hold committed while the locking statement waited is not in
 * that statement's snapshot (the hold does not change the order row, so nothing makes it look again).
 */
export async function heldOrders(db: Queryable, orderIds: readonly string[], now: Date): Promise<Set<string>> {
  const { rows } = await db.query<{ order_id: string }>('SELECT DISTINCT order_id FROM order_shipment_holds WHERE order_id = ANY($1::uuid[]) AND held_until > $2', [orderIds, now]);
  return new Set(rows.map((r) => r.order_id));
}

export interface PaymentFact {
  orderId: string;
  paymentId: string;
  amount: number;
  currency: string;
  status: string;
}

/** Lifecycle rank of an order_payments status: a row only moves to a higher rank. */
const PAYMENT_RANKS: Record<string, number> = {
  pending: 1,
  authorized: 2,
  failed: 3,
  voided: 3,
  canceled: 3,
  captured: 4,
  partially_refunded: 5,
  refunded: 6,
};
export const PAYMENT_STATUSES = Object.keys(PAYMENT_RANKS);

function paymentRank(column: string): string {
  const cases = Object.entries(PAYMENT_RANKS).map(([status, rank]) => `WHEN '${status}' THEN ${rank}`);
  return `(CASE ${column} ${cases.join(' ')} ELSE 0 END)`;
}

/**
 * Records what payments said about an order's payment: a new (order, payment) row, or a later
 * status on the existing one. A status never moves back (a late `authorized` after `captured`
 * changes nothing), so events arriving out of order cannot undo each other.
 */
export async function upsertPayments(tx: Queryable, facts: readonly PaymentFact[], now: Date, newIds: () => string): Promise<void> {
  await runTogether(tx, [paymentsUpsert(facts, now, newIds)]);
}

/** upsertPayments as a statement, to run together with other writes; undefined when there is nothing to record. */
export function paymentsUpsert(facts: readonly PaymentFact[], now: Date, newIds: () => string): Statement | undefined {
  if (facts.length === 0) return undefined;
  return {
    text: `INSERT INTO order_payments AS p (id, order_id, payment_id, amount, currency, status, created_at, updated_at)
     SELECT id, order_id, payment_id, amount, currency, status, $7, $7
       FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::bigint[], $5::text[], $6::text[]) AS t(id, order_id, payment_id, amount, currency, status)
     ON CONFLICT (order_id, payment_id) DO UPDATE SET status = excluded.status, updated_at = excluded.updated_at
      WHERE ${paymentRank('excluded.status')} > ${paymentRank('p.status')}`,
    values: [
      facts.map(() => newIds()),
      facts.map((f) => f.orderId),
      facts.map((f) => f.paymentId),
      facts.map((f) => f.amount),
      facts.map((f) => f.currency),
      facts.map((f) => f.status),
      now,
    ],
  };
}

/** Whether orders has recorded the capture of this payment for this order (the row is captured or later). */
export async function paymentCaptured(tx: Queryable, orderId: string, paymentId: string): Promise<boolean> {
  const { rows } = await tx.query(
    `SELECT 1 FROM order_payments p WHERE order_id = $1 AND payment_id = $2 AND ${paymentRank('p.status')} >= ${PAYMENT_RANKS.captured}`,
    [orderId, paymentId],
  );
  return rows.length > 0;
}

/** Moves an order's payment row to partially_refunded or refunded (never back). */
export async function markPaymentRefunded(tx: Queryable, orderId: string, paymentId: string, fully: boolean, now: Date): Promise<void> {
  await tx.query(
    `UPDATE order_payments p SET status = $3, updated_at = $4
      WHERE order_id = $1 AND payment_id = $2 AND ${paymentRank('$3::text')} > ${paymentRank('p.status')}`,
    [orderId, paymentId, fully ? 'refunded' : 'partially_refunded', now],
  );
}

export interface RefundFact {
  id: string;
  orderId: string;
  refundId: string;
  amount: number;
  currency: string;
  reason: string;
}

/** Records a succeeded refund once: returns false when this refund of this order is already recorded. */
export async function insertRefund(tx: Queryable, refund: RefundFact, now: Date): Promise<boolean> {
  const result = await tx.query(
    `INSERT INTO order_refunds (id, order_id, refund_id, amount, currency, reason, status, created_at, updated_at)
     VALUES ($1, $2, $3, $4, $5, $6, 'succeeded', $7, $7)
     ON CONFLICT (order_id, refund_id) DO NOTHING`,
    [refund.id, refund.orderId, refund.refundId, refund.amount, refund.currency, refund.reason, now],
  );
  return (result.rowCount ?? 0) === 1;
}

// ---------------------------------------------------------------------------------------------
// Reads
// ---------------------------------------------------------------------------------------------

export interface PageKey {
  createdAt: string;
  id: string;
}

/** A buyer's orders, newest first, after the cursor's (created_at, id). */
export async function ordersOfBuyer(db: Queryable, buyerId: string, after: PageKey | undefined, limit: number): Promise<OrderRow[]> {
  const { rows } = await db.query<OrderRow>(
    `SELECT ${ORDER_COLUMNS} FROM orders
      WHERE buyer_id = $1 AND ($2::timestamptz IS NULL OR (created_at, id) < ($2::timestamptz, $3::uuid))
      ORDER BY created_at DESC, id DESC
      LIMIT $4`,
    [buyerId, after?.createdAt ?? null, after?.id ?? null, limit],
  );
  return rows;
}

/** A seller's orders, newest first, optionally of one status, after the cursor's (created_at, id). */
export async function ordersOfSeller(
  db: Queryable,
  sellerId: string,
  status: OrderStatus | undefined,
  after: PageKey | undefined,
  limit: number,
): Promise<OrderRow[]> {
  const { rows } = await db.query<OrderRow>(
    `SELECT ${ORDER_COLUMNS} FROM orders
      WHERE seller_id = $1 AND ($2::text IS NULL OR status = $2)
        AND ($3::timestamptz IS NULL OR (created_at, id) < ($3::timestamptz, $4::uuid))
      ORDER BY created_at DESC, id DESC
      LIMIT $5`,
    [sellerId, status ?? null, after?.createdAt ?? null, after?.id ?? null, limit],
  );
  return rows;
}

export async function orderById(db: Queryable, orderId: string): Promise<OrderRow | undefined> {
  const { rows } = await db.query<OrderRow>(`SELECT ${ORDER_COLUMNS} FROM orders WHERE id = $1`, [orderId]);
  return rows[0];
}

/**
 * Bound on the per-order lists (history, payments, shipments, refunds) returned with an order: the
 * newest of each, oldest first (the order's own totals, e.g. refunded, count them all).
 */
export const RELATED_ROWS_MAX = 200;

/** The newest RELATED_ROWS_MAX rows of an order (`$1`) in `table`, by `time` then id, oldest first. */
function newestOfOrder(columns: string, table: string, time: string): string {
  return `SELECT * FROM (SELECT ${columns} FROM ${table} WHERE order_id = $1 ORDER BY ${time} DESC, id DESC LIMIT ${RELATED_ROWS_MAX}) newest ORDER BY ${time}, id`;
}

export async function historyOf(db: Queryable, orderId: string): Promise<HistoryRow[]> {
  const { rows } = await db.query<HistoryRow>(
    newestOfOrder('id, order_id, from_status, to_status, reason, changed_by, actor_type, changed_at', 'order_status_history', 'changed_at'),
    [orderId],
  );
  return rows;
}

export async function paymentsOf(db: Queryable, orderId: string): Promise<PaymentRow[]> {
  const { rows } = await db.query<PaymentRow>(
    newestOfOrder('id, order_id, payment_id, amount, currency::text AS currency, status, created_at, updated_at', 'order_payments', 'created_at'),
    [orderId],
  );
  return rows;
}

export async function shipmentsOf(db: Queryable, orderId: string): Promise<ShipmentRow[]> {
  const { rows } = await db.query<ShipmentRow>(
    newestOfOrder('id, order_id, shipment_id, carrier, tracking_number, status, created_at, updated_at', 'order_shipments', 'created_at'),
    [orderId],
  );
  return rows;
}

export async function refundsOf(db: Queryable, orderId: string): Promise<RefundRow[]> {
  const { rows } = await db.query<RefundRow>(
    newestOfOrder('id, order_id, refund_id, amount, currency::text AS currency, reason, status, created_at, updated_at', 'order_refunds', 'created_at'),
    [orderId],
  );
  return rows;
}

export interface ShipmentFact {
  orderId: string;
  shipmentId: string;
  carrier: string;
  trackingNumber: string;
  status: string;
  /** The shipment's version in the event (shipping increments it on every change). */
  version: number;
}

/** Shipment statuses no later event moves an order_shipments row out of (as in shipping). */
const FINAL_SHIPMENT_STATUSES = `('delivered', 'returned', 'cancelled')`;

/**
 * Records a shipment of an order as shipping reported it: a new (order, shipment) row, or, with
 * `update`, its new status if the event is newer than the one that set the row (shipping's events
 * of a shipment can arrive out of order: a late in_transit must not move an out_for_delivery parcel
 * back) and never out of a final status, so a late or replayed event cannot undo a delivery. A
 * shipment_created event (`createdAt`, the shipment's own time) updates nothing but that time: a
 * row a later change made first took the time it was recorded, and the order showed another
 * creation time than shipping (found by a helper: they differed by the event's way); replayed
 * after the changes, it changes nothing.
 */
export function shipmentUpsert(fact: ShipmentFact, update: boolean, id: string, now: Date, createdAt?: Date): Statement {
  return {
    text: `INSERT INTO order_shipments AS s (id, order_id, shipment_id, carrier, tracking_number, status, shipment_version, created_at, updated_at)
     VALUES ($1, $2, $3, $4, $5, $6, $8, coalesce($9::timestamptz, $7::timestamptz), $7)
     ON CONFLICT (order_id, shipment_id) DO ${
       update
         ? `UPDATE SET status = excluded.status, shipment_version = excluded.shipment_version, updated_at = excluded.updated_at
      WHERE s.status NOT IN ${FINAL_SHIPMENT_STATUSES} AND s.shipment_version < excluded.shipment_version`
         : `UPDATE SET created_at = excluded.created_at WHERE $9::timestamptz IS NOT NULL AND s.created_at <> excluded.created_at`
     }`,
    values: [id, fact.orderId, fact.shipmentId, fact.carrier, fact.trackingNumber, fact.status, now, fact.version, createdAt ?? null],
  };
}

/** The statuses of an order's shipments (bounded like every per-order list). */
export async function shipmentStatusesOf(db: Queryable, orderId: string): Promise<string[]> {
  const { rows } = await db.query<{ status: string }>(
    `SELECT status FROM order_shipments WHERE order_id = $1 ORDER BY created_at, id LIMIT ${RELATED_ROWS_MAX}`,
    [orderId],
  );
  return rows.map((r) => r.status);
}
