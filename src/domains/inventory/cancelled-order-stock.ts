import type { Tx } from '../../platform/db/pool.ts';
import { newId } from '../../platform/ids.ts';
import type { Trace } from '../../platform/messaging/envelope.ts';
import { appendEvents, type NewEvent } from '../../platform/messaging/outbox.ts';
import { closeReservationIn, RELEASE_REASON_LENGTH_MAX } from './close-reservation.ts';
import type { ReservationStatus } from './lifecycle.ts';
import { BUYER_KEY_PREFIX } from './reserve-input.ts';
import { STOCK_ITEM_COLUMNS, type StockItemRow, levelOf } from './stock-item.ts';

/** What inventory needs to know of an order that was cancelled (from orders.order_cancelled.v1). */
export interface CancelledOrder {
  orderId: string;
  buyerId: string;
  sellerId: string;
  checkoutSessionId: string;
  reason: string;
  /** Whether its payment had been captured: its checkout then goes on to confirm the reservation. */
  wasPaid: boolean;
}

export interface GivenBack {
  /** Reservations that were still active and are now released. */
  released: string[];
  /** Stock items whose sold units came back, each with one 'restock' movement. */
  restocked: StockItemRow[];
  /** Variants whose available quantity went up. */
  variantIds: string[];
}

/** A checkout makes one reservation per session; a few more are tolerated, never an unbounded set. */
export const RESERVATIONS_PER_ORDER_MAX = 20;
export const RESTOCK_REASON = 'order_cancelled';

/**
 * The stock of a cancelled order comes back, exactly once however often the cancellation arrives.
 *
 * The order's reservation is the checkout session's (reference_id = checkoutSessionId, same buyer,
 * not made through the buyer route), or one whose lines confirm sold to this order (stock_reservations.order_id, set by confirm from
 * its `orders` list). Then:
 * - still active and the order not paid (a checkout compensating, or an order cancelled before its
 *   payment): it is released, all of it; a checkout that later tries to confirm it gets
 *   RESERVATION_NOT_ACTIVE and compensates;
 * - still active and the order paid (its buyer cancelled it between the capture and the checkout's
 *   confirmation): releasing it would fail that confirmation and make the checkout cancel the other
 *   sellers' orders too, so the cancellation is recorded in cancelled_order_restocks and its units
 *   come back once the checkout has confirmed (restockConfirmedCancellations);
 * - confirmed (the units were sold): only the lines sold to this order come back, each as a
 *   'restock' movement referencing the order (unique per item and order, so a redelivered event
 *   adds nothing), raising total and available, announced by inventory.stock_adjusted.v1 (reason
 *   order_cancelled). Lines confirmed without an order id count as this order's when their item
 *   belongs to the order's seller (checkout makes one order per seller);
 * - released or expired: the stock is back already; nothing happens.
 */
export async function giveBackCancelledOrder(tx: Tx, order: CancelledOrder, now: Date, trace: Trace | null): Promise<GivenBack> {
  // Those whose lines were sold to the order, all of them; and the session's, made by a checkout
  // (not through the buyer route, whose caller chooses the reference) and not closed already, up to
  // a bound. A buyer's own holds naming the session used to count against that bound, released ones
  // too, and twenty of them hid the checkout's reservation: the order's units never came back
  // (found by a review). One IN over both, through their indexes: two INs joined by OR read every
  // reservation ever made (found by the review of that fix).
  const { rows: reservations } = await tx.query<{ id: string; status: ReservationStatus }>(
    `SELECT id, status FROM reservations
      WHERE id IN (SELECT reservation_id FROM stock_reservations WHERE order_id = $3
                   UNION ALL
                   (SELECT id FROM reservations
                     WHERE reference_id = $1 AND owner_id = $2 AND status IN ('active', 'confirmed') AND left(idempotency_key, $5) <> $6
                     ORDER BY id LIMIT $4))
      ORDER BY id
      FOR UPDATE`,
    [order.checkoutSessionId, order.buyerId, order.orderId, RESERVATIONS_PER_ORDER_MAX, BUYER_KEY_PREFIX.length, BUYER_KEY_PREFIX],
  );
  // The items of all of them, in id order, before releasing or restocking any (one at a time, they
  // were taken out of order: see restockConfirmedCancellations).
  await lockItemsOfLines(
    tx,
    reservations.map((r) => r.id),
    ['active', 'confirmed'],
  );
  const reason = `order ${order.orderId} cancelled: ${order.reason}`.slice(0, RELEASE_REASON_LENGTH_MAX);
  const released: string[] = [];
  const variantIds: string[] = [];
  const active = reservations.filter((x) => x.status === 'active');
  if (order.wasPaid && active.length > 0) {
    await tx.query(
      `INSERT INTO cancelled_order_restocks (order_id, reservation_id, seller_id, reason, recorded_at)
       SELECT $1, id, $3, $4, $5 FROM unnest($2::uuid[]) AS id
       ON CONFLICT (order_id, reservation_id) DO NOTHING`,
      [order.orderId, active.map((r) => r.id), order.sellerId, order.reason.slice(0, 2000), now],
    );
  }
  const toRelease = order.wasPaid ? [] : active;
  for (const r of toRelease) {
    const after = await closeReservationIn(tx, r.id, { type: 'release', reason }, [], now, trace);
    released.push(r.id);
    variantIds.push(...after.items.map((i) => i.variantId));
  }
  const confirmed = reservations.filter((x) => x.status === 'confirmed').map((x) => x.id);
  const restocked = await restockSoldLines(tx, confirmed, order, now, trace);
  variantIds.push(...restocked.map((i) => i.variant_id));
  return { released, restocked, variantIds };
}

/** Locks the stock items of the reservations' lines in those statuses, in id order, as every path that locks several items does. */
async function lockItemsOfLines(tx: Tx, reservationIds: readonly string[], statuses: readonly string[]): Promise<void> {
  if (reservationIds.length === 0) return;
  await tx.query(
    `SELECT id FROM stock_items
      WHERE id IN (SELECT stock_item_id FROM stock_reservations WHERE reservation_id = ANY($1::uuid[]) AND status = ANY($2::text[]))
      ORDER BY id
      FOR UPDATE`,
    [reservationIds, statuses],
  );
}

async function restockSoldLines(tx: Tx, reservationIds: readonly string[], order: Pick<CancelledOrder, 'orderId' | 'sellerId'>, now: Date, trace: Trace | null): Promise<StockItemRow[]> {
  if (reservationIds.length === 0) return [];
  const { rows: sold } = await tx.query<{ stock_item_id: string; quantity: number }>(
    `SELECT l.stock_item_id, sum(l.quantity)::int AS quantity
       FROM stock_reservations l JOIN stock_items s ON s.id = l.stock_item_id
      WHERE l.reservation_id = ANY($1::uuid[]) AND l.status = 'confirmed'
        AND (l.order_id = $2 OR (l.order_id IS NULL AND s.seller_id = $3))
      GROUP BY l.stock_item_id
      ORDER BY l.stock_item_id`,
    [reservationIds, order.orderId, order.sellerId],
  );
  if (sold.length === 0) return [];
  // Items locked in id order, like every other path that locks several items.
  await tx.query('SELECT id FROM stock_items WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE', [sold.map((l) => l.stock_item_id)]);
  // Unique per (item, 'restock', order): a movement that exists already means this was done.
  const { rows: movements } = await tx.query<{ id: string; stock_item_id: string; change: number }>(
    `INSERT INTO stock_movements (id, stock_item_id, change, kind, reason, reference_id, created_at)
     SELECT m.id, m.stock_item_id, m.quantity, 'restock', $4, $5, $6
       FROM unnest($1::uuid[], $2::uuid[], $3::int[]) AS m(id, stock_item_id, quantity)
     ON CONFLICT DO NOTHING
     RETURNING id, stock_item_id, change`,
    [sold.map(() => newId()), sold.map((l) => l.stock_item_id), sold.map((l) => l.quantity), RESTOCK_REASON, order.orderId, now],
  );
  if (movements.length === 0) return [];
  const { rows: items } = await tx.query<StockItemRow>(
    `UPDATE stock_items s
        SET total_quantity = s.total_quantity + m.change, available_quantity = s.available_quantity + m.change,
            version = s.version + 1, updated_at = $3
       FROM unnest($1::uuid[], $2::int[]) AS m(stock_item_id, change)
      WHERE s.id = m.stock_item_id
     RETURNING ${STOCK_ITEM_COLUMNS.split(', ').map((c) => `s.${c}`).join(', ')}`,
    [movements.map((m) => m.stock_item_id), movements.map((m) => m.change), now],
  );
  if (items.length !== movements.length) throw new Error('a locked stock item disappeared');
  const movementOf = new Map(movements.map((m) => [m.stock_item_id, m]));
  const events: NewEvent[] = items.map((item) => {
    const movement = movementOf.get(item.id);
    if (!movement) throw new Error(`no restock movement for stock item ${item.id}`);
    return {
      type: 'inventory.stock_adjusted.v1',
      aggregateType: 'stock_item',
      aggregateId: item.id,
      data: {
        ...levelOf(item),
        productId: item.product_id,
        sellerId: item.seller_id,
        movementId: movement.id,
        change: movement.change,
        reason: RESTOCK_REASON,
        note: null,
        adjustedBy: null,
        adjustedAt: now.toISOString(),
        orderId: order.orderId,
      },
    };
  });
  await appendEvents(tx, 'inventory', events, trace, now);
  return items;
}

export const WAITING_RESTOCKS_BATCH_MAX = 100;

/**
 * Settles the cancellations that waited for their reservation (see giveBackCancelledOrder): once it
 * is confirmed, the order's units are restocked as for any order cancelled after its sale; once it
 * is released or has expired, they are back already. Either way the record goes. One transaction;
 * records being settled by another sweeper are skipped. Returns how many were settled and the
 * variants whose units came back.
 */
export async function restockConfirmedCancellations(
  tx: Tx,
  now: Date,
  limit = WAITING_RESTOCKS_BATCH_MAX,
): Promise<{ settled: number; variantIds: string[]; failed: { orderId: string; error: unknown }[] }> {
  const { rows } = await tx.query<{ order_id: string; reservation_id: string; seller_id: string; status: ReservationStatus }>(
    `SELECT w.order_id, w.reservation_id, w.seller_id, r.status
       FROM cancelled_order_restocks w JOIN reservations r ON r.id = w.reservation_id
      WHERE r.status <> 'active'
      ORDER BY w.recorded_at
      LIMIT $1
      FOR UPDATE OF w SKIP LOCKED`,
    [limit],
  );
  // Every item a record may restock, locked at once in id order, before any savepoint (a rollback
  // to one would let go of locks taken after it): locked record by record, they were taken out of
  // order and deadlocked with a multi-item reservation or a sweep (found by a review).
  await lockItemsOfLines(
    tx,
    rows.filter((w) => w.status === 'confirmed').map((w) => w.reservation_id),
    ['confirmed'],
  );
  const variantIds: string[] = [];
  const settled: typeof rows = [];
  const failed: { orderId: string; error: unknown }[] = [];
  for (const w of rows) {
    if (w.status !== 'confirmed') {
      settled.push(w);
      continue;
    }
    // One record that cannot be settled is kept for the next round (and logged by the caller); the others go on.
    await tx.query('SAVEPOINT settle_restock');
    try {
      const restocked = await restockSoldLines(tx, [w.reservation_id], { orderId: w.order_id, sellerId: w.seller_id }, now, null);
      await tx.query('RELEASE SAVEPOINT settle_restock');
      variantIds.push(...restocked.map((i) => i.variant_id));
      settled.push(w);
    } catch (error) {
      await tx.query('ROLLBACK TO SAVEPOINT settle_restock');
      failed.push({ orderId: w.order_id, error });
    }
  }
  if (settled.length > 0) {
    await tx.query('DELETE FROM cancelled_order_restocks WHERE (order_id, reservation_id) IN (SELECT * FROM unnest($1::uuid[], $2::uuid[]))', [
      settled.map((w) => w.order_id),
      settled.map((w) => w.reservation_id),
    ]);
  }
  return { settled: settled.length, variantIds, failed };
}
