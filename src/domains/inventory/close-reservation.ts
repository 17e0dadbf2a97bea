import { withTransaction, type Tx } from '../../platform/db/pool.ts';
import { AppError, notFound } from '../../platform/http/errors.ts';
import { isUuid } from '../../platform/ids.ts';
import type { Trace } from '../../platform/messaging/envelope.ts';
import type { InventoryDeps } from './deps.ts';
import { type ReservationCommand, type ReservationStatus, decide } from './lifecycle.ts';
import { moveReservedStock } from './reserved-stock.ts';
import { STOCK_ITEM_COLUMNS, type StockItemRow } from './stock-item.ts';
import { type Reservation, type ReservationRow, findReservation, toReservation } from './reservation-view.ts';
import { charactersWithin } from '../../platform/unicode.ts';

export interface ConfirmOptions {
  /** The orders the stock was sold to, one per seller (checkout makes one order per seller). */
  orders?: readonly { sellerId: string; orderId: string }[];
  /** The caller's trace (its HTTP request or handled event), carried by the confirmation's event. */
  trace?: Trace | null;
}

export const RELEASE_REASON_LENGTH_MAX = 500;

/** The stock leaves for good: reserved and total go down, with a 'sale' movement per line. */
export async function confirmReservation(deps: InventoryDeps, reservationId: string, options: ConfirmOptions = {}): Promise<Reservation> {
  const orders = options.orders ?? [];
  const sellers = new Set<string>();
  for (const o of orders) {
    if (!isUuid(o.sellerId) || !isUuid(o.orderId)) throw new AppError('VALIDATION_FAILED', 'orders need a sellerId and an orderId (UUIDs)');
    // One order per seller: each line goes to its seller's order (two were a database error).
    const seller = o.sellerId.toLowerCase();
    if (sellers.has(seller)) throw new AppError('VALIDATION_FAILED', `orders name seller ${seller} twice: one order per seller`);
    sellers.add(seller);
  }
  return closeReservation(deps, reservationId, { type: 'confirm' }, orders, options.trace ?? null);
}

/** The stock comes back: available goes up again. Releasing twice, or after expiry, changes nothing. */
export async function releaseReservation(deps: InventoryDeps, reservationId: string, reason: string, trace: Trace | null = null): Promise<Reservation> {
  if (typeof reason !== 'string' || !charactersWithin(reason, 1, RELEASE_REASON_LENGTH_MAX)) {
    throw new AppError('VALIDATION_FAILED', `reason must hold 1 to ${RELEASE_REASON_LENGTH_MAX} characters`);
  }
  const result = await closeReservation(deps, reservationId, { type: 'release', reason }, [], trace);
  if (result.status === 'released') deps.soldOut.forget(result.items.map((i) => i.variantId));
  return result;
}

async function closeReservation(
  deps: InventoryDeps,
  reservationId: string,
  command: ReservationCommand,
  orders: readonly { sellerId: string; orderId: string }[],
  trace: Trace | null,
): Promise<Reservation> {
  if (!isUuid(reservationId)) throw notFound('reservation');
  // Our own transaction: its COMMIT may go with the last statement, which frees the stock items.
  // The time is read once the reservation is locked: a confirm that waited for the lock past
  // expires_at is judged when it takes effect, not when it was asked for.
  return withTransaction(deps.pool, (tx) => closeReservationIn(tx, reservationId, command, orders, () => deps.clock.now(), trace, { commit: true }));
}

/**
 * Confirms or releases a reservation inside the caller's transaction (the API's own, or an event
 * handler's): locks the reservation row, lets the lifecycle decide, and applies the decision. With
 * `commit` (a withTransaction transaction the caller runs nothing else in), the last statement
 * carries the COMMIT (see moveReservedStock).
 */
export async function closeReservationIn(
  tx: Tx,
  reservationId: string,
  command: ReservationCommand,
  orders: readonly { sellerId: string; orderId: string }[],
  /** The time of the change, or how to read it once the reservation is locked. */
  at: Date | (() => Date),
  trace: Trace | null,
  { commit = false }: { commit?: boolean } = {},
): Promise<Reservation> {
  const { rows } = await tx.query<{ status: ReservationStatus; expires_at: Date; owner_id: string; reference_id: string | null }>(
    'SELECT status, expires_at, owner_id, reference_id FROM reservations WHERE id = $1 FOR UPDATE',
    [reservationId],
  );
  const header = rows[0];
  if (!header) throw notFound('reservation');
  const now = typeof at === 'function' ? at() : at;
  const decision = decide({ status: header.status, expiresAt: header.expires_at }, command, now);
  if (decision.outcome === 'rejected') throw new AppError(decision.code, decision.detail, { reservationId, reservationStatus: header.status });
  let transition: { after: ReservationRow | undefined; moveStock: () => Promise<void> } | undefined;
  if (decision.outcome === 'transition') {
    if (decision.to === 'expired') throw new Error('expiry belongs to the sweeper');
    transition = await applyTransition(tx, reservationId, header, decision.to, command, orders, now, trace, commit);
  }
  // The transition's statement answers the reservation as it left it; nothing changed otherwise.
  const after = transition?.after ?? (await findReservation(tx, reservationId));
  if (!after) throw new Error('a locked reservation disappeared');
  // The stock items, which every checkout of these products locks, come last, with the events.
  await transition?.moveStock();
  return toReservation(after);
}

/**
 * Closes the reservation's lines and header; returns the last part, which moves the stock and
 * writes the event, for the caller to run as late as it can.
 */
async function applyTransition(
  tx: Tx,
  reservationId: string,
  header: { owner_id: string; reference_id: string | null },
  to: 'confirmed' | 'released',
  command: ReservationCommand,
  orders: readonly { sellerId: string; orderId: string }[],
  now: Date,
  trace: Trace | null,
  commit: boolean,
): Promise<{ after: ReservationRow | undefined; moveStock: () => Promise<void> }> {
  const reason = command.type === 'release' ? command.reason : null;
  // The lines and the header in one statement: the header keeps the order when all its lines went
  // to one (the same rule as orderId below). Each line comes back with the header as it is after,
  // so the reservation need not be read again, and with its stock item, locked (in id order, like
  // every path that locks several items) for the move that ends the transaction.
  const { rows: lines } = await tx.query<
    { stock_item_id: string; variant_id: string; quantity: number; order_id: string | null } & Omit<ReservationRow, 'items' | 'order_id'> & {
        header_order_id: string | null;
        item_product_id: string;
        item_seller_id: string;
        item_sku: string;
        item_total: number;
        item_available: number;
        item_reserved: number;
        item_version: number;
        item_created_at: Date;
        item_updated_at: Date;
        item_max_per_buyer: number | null;
        item_purchase_limit_since: Date | null;
      }
  >(
    `WITH locked AS (
       SELECT ${STOCK_ITEM_COLUMNS} FROM stock_items
        WHERE id IN (SELECT stock_item_id FROM stock_reservations WHERE reservation_id = $1 AND status = 'active')
        ORDER BY id FOR UPDATE
     ), lines AS (
       UPDATE stock_reservations l
          SET status = $2, updated_at = $3,
              order_id = coalesce((SELECT o.order_id FROM unnest($4::uuid[], $5::uuid[]) AS o(seller_id, order_id) WHERE o.seller_id = s.seller_id), l.order_id)
         FROM stock_items s
        WHERE l.reservation_id = $1 AND l.status = 'active' AND s.id = l.stock_item_id
       RETURNING l.stock_item_id, s.variant_id, l.quantity, l.order_id
     ), header AS (
       UPDATE reservations
          SET status = $2, closed_at = $3, updated_at = $3, release_reason = $6,
              order_id = coalesce((SELECT CASE WHEN count(DISTINCT order_id) = 1 THEN (array_agg(order_id) FILTER (WHERE order_id IS NOT NULL))[1] END FROM lines), order_id)
        WHERE id = $1
       RETURNING id, idempotency_key, request_hash, owner_id, reference_id, order_id, status, expires_at, created_at, closed_at, release_reason
     )
     SELECT l.stock_item_id, l.variant_id, l.quantity, l.order_id,
            k.product_id AS item_product_id, k.seller_id AS item_seller_id, k.sku AS item_sku, k.total_quantity AS item_total,
            k.available_quantity AS item_available, k.reserved_quantity AS item_reserved, k.version AS item_version,
            k.created_at AS item_created_at, k.updated_at AS item_updated_at,
            k.max_per_buyer AS item_max_per_buyer, k.purchase_limit_since AS item_purchase_limit_since,
            h.id, h.idempotency_key, h.request_hash, h.owner_id, h.reference_id, h.order_id AS header_order_id, h.status,
            h.expires_at, h.created_at, h.closed_at, h.release_reason
       FROM lines l CROSS JOIN header h JOIN locked k ON k.id = l.stock_item_id`,
    [reservationId, to, now, orders.map((o) => o.sellerId), orders.map((o) => o.orderId), reason],
  );
  const first = lines[0];
  const after: ReservationRow | undefined = first && {
    id: first.id,
    idempotency_key: first.idempotency_key,
    request_hash: first.request_hash,
    owner_id: first.owner_id,
    reference_id: first.reference_id,
    order_id: first.header_order_id,
    status: first.status,
    expires_at: first.expires_at,
    created_at: first.created_at,
    closed_at: first.closed_at,
    release_reason: first.release_reason,
    items: lines
      .map((l) => ({ variantId: l.variant_id, stockItemId: l.stock_item_id, quantity: l.quantity }))
      .sort((a, b) => (a.variantId < b.variantId ? -1 : a.variantId > b.variantId ? 1 : 0)),
  };
  const orderIds = [...new Set(lines.map((l) => l.order_id).filter((id): id is string => id !== null))];
  const orderId = orderIds.length === 1 ? (orderIds[0] ?? null) : null;
  const ordered = [...lines].sort((a, b) => (a.stock_item_id < b.stock_item_id ? -1 : 1));
  const locked: StockItemRow[] = ordered.map((l) => ({
    id: l.stock_item_id,
    product_id: l.item_product_id,
    variant_id: l.variant_id,
    seller_id: l.item_seller_id,
    sku: l.item_sku,
    total_quantity: l.item_total,
    available_quantity: l.item_available,
    reserved_quantity: l.item_reserved,
    version: l.item_version,
    created_at: l.item_created_at,
    updated_at: l.item_updated_at,
    max_per_buyer: l.item_max_per_buyer,
    purchase_limit_since: l.item_purchase_limit_since,
  }));
  const moveStock = async () => {
    await moveReservedStock(
      tx,
      ordered.map((l) => ({ reservationId, stockItemId: l.stock_item_id, quantity: l.quantity })),
      to === 'confirmed' ? 'sell' : 'return',
      now,
      trace,
      (facts) => {
        const base = { reservationId, ownerId: header.owner_id, referenceId: header.reference_id, items: facts };
        return [
          to === 'confirmed'
            ? { type: 'inventory.reservation_confirmed.v1', aggregateType: 'reservation', aggregateId: reservationId, data: { ...base, orderId, confirmedAt: now.toISOString() } }
            : { type: 'inventory.reservation_released.v1', aggregateType: 'reservation', aggregateId: reservationId, data: { ...base, reason: reason ?? 'released', releasedAt: now.toISOString() } },
        ];
      },
      commit,
      locked,
    );
  };
  return { after, moveStock };
}
