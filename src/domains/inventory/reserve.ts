import { withTransaction, type Tx } from '../../platform/db/pool.ts';
import { newId } from '../../platform/ids.ts';
import { type NewEvent, outboxInsert } from '../../platform/messaging/outbox.ts';
import type { InventoryDeps } from './deps.ts';
import type { ReservationQueue } from './reservation-queue.ts';
import { type ReserveInput, type ReserveRequest, toReserveRequest } from './reserve-input.ts';
import { findReservationsByKeys, replayOrRefuse, type ReserveResult } from './reservation-view.ts';
import {
  STOCK_ITEM_COLUMNS,
  type StockItemRow,
  TRANSACTION_ATTEMPTS_MAX,
  type Unavailable,
  isOutOfStock,
  isRetryable,
  levelOf,
  outOfStock,
} from './stock-item.ts';

/**
 * Reserves all the items or none. A single-item request (the flash-sale shape) goes through the
 * variant's queue and is batched with its neighbours; a multi-item request is planned from a read
 * of its items and written by one statement that applies only if none of them moved meanwhile;
 * when they keep moving, it locks them in id order in a transaction (two such never deadlock).
 */
export async function reserve(deps: InventoryDeps, queue: ReservationQueue, input: ReserveInput): Promise<ReserveResult> {
  const request = toReserveRequest(input, deps.reservationTtlSeconds);
  if (request.items.length === 1) return queue.submit(request);
  return reserveSeveral(deps, request);
}

async function reserveSeveral(deps: InventoryDeps, request: ReserveRequest): Promise<ReserveResult> {
  const soldOut = request.items.filter((i) => deps.soldOut.isSoldOut(i.variantId));
  if (soldOut.length > 0) {
    const existing = (await findReservationsByKeys(deps.pool, [request.idempotencyKey])).get(request.idempotencyKey);
    if (existing) return replayOrRefuse(existing, request.requestHash);
    deps.metrics.soldOutAnswers.inc();
    throw outOfStock(soldOut.map((i) => ({ variantId: i.variantId, requested: i.quantity, available: 0 })));
  }
  for (let attempt = 1; ; attempt++) {
    try {
      // First without a lock (a read, then one statement that applies only to the items as read),
      // then, if the items kept moving under it, locking them in a transaction.
      const { result, soldOutVariants } =
        attempt <= OPTIMISTIC_ATTEMPTS_MAX
          ? await reserveAsRead(deps, request)
          : await withTransaction(deps.pool, (tx) => reserveUnderLock(deps, tx, request));
      for (const v of soldOutVariants) deps.soldOut.markSoldOut(v);
      return result;
    } catch (error) {
      if (isOutOfStock(error)) {
        for (const u of error.extensions.unavailable) if (u.available === 0) deps.soldOut.markSoldOut(u.variantId);
      }
      if (attempt < OPTIMISTIC_ATTEMPTS_MAX + TRANSACTION_ATTEMPTS_MAX && isRetryable(error)) continue;
      throw error;
    }
  }
}

/** Attempts without a lock before the items are locked instead. */
const OPTIMISTIC_ATTEMPTS_MAX = 3;

interface Outcome {
  result: ReserveResult;
  soldOutVariants: string[];
}

const SELECT_ITEMS = `SELECT ${STOCK_ITEM_COLUMNS} FROM stock_items WHERE variant_id = ANY($1::uuid[]) ORDER BY id`;

/**
 * Two round trips and no lock held between them: the items are read, the reservation is planned
 * from what was read, and one statement claims the key, updates each item only if it is still at
 * the version read (and still has the units), writes the lines and the events, and aborts all of
 * it unless every item was updated (inventory_all_or_none: a serialization failure, retried).
 */
async function reserveAsRead(deps: InventoryDeps, request: ReserveRequest): Promise<Outcome> {
  const { rows } = await deps.pool.query<StockItemRow>(SELECT_ITEMS, [request.items.map((i) => i.variantId)]);
  const planned = planReservation(request, rows, identity(deps, request));
  if ('unavailable' in planned) {
    // A retry of a request that did get its units gets them back, whatever the stock is now.
    const existing = (await findReservationsByKeys(deps.pool, [request.idempotencyKey])).get(request.idempotencyKey);
    if (existing) return { result: replayOrRefuse(existing, request.requestHash), soldOutVariants: [] };
    throw outOfStock(planned.unavailable);
  }
  const { reservationId, expiresAt, now, ordered, events } = planned;
  const outbox = outboxInsert('inventory', events, 14, now, 'EXISTS (SELECT 1 FROM claim)');
  const { rows: written } = await deps.pool.query<{ claimed: boolean }>(
    `WITH claim AS (
       INSERT INTO reservations (id, idempotency_key, request_hash, owner_id, reference_id, expires_at, created_at, updated_at)
       VALUES ($4, $9, $10, $11, $12, $5, $3, $3)
       ON CONFLICT (idempotency_key) DO NOTHING
       RETURNING id
     ), reserved AS (
       UPDATE stock_items s
          SET available_quantity = s.available_quantity - r.quantity, reserved_quantity = s.reserved_quantity + r.quantity,
              version = s.version + 1, updated_at = $3
         FROM unnest($1::uuid[], $2::int[], $8::bigint[]) AS r(id, quantity, version)
        WHERE s.id = r.id AND s.version = r.version AND s.available_quantity >= r.quantity AND EXISTS (SELECT 1 FROM claim)
       RETURNING s.id
     ), lines AS (
       INSERT INTO stock_reservations (id, reservation_id, stock_item_id, quantity, expires_at, created_at, updated_at)
       SELECT l.id, $4, l.stock_item_id, l.quantity, $5, $3, $3 FROM unnest($6::uuid[], $1::uuid[], $7::int[]) AS l(id, stock_item_id, quantity)
        WHERE EXISTS (SELECT 1 FROM claim)
     ), events AS (${outbox.sql})
     SELECT EXISTS (SELECT 1 FROM claim) AS claimed,
            inventory_all_or_none((SELECT count(*) FROM reserved)::int, CASE WHEN EXISTS (SELECT 1 FROM claim) THEN $13::int ELSE 0 END)`,
    [
      ordered.map((o) => o.row.id),
      ordered.map((o) => o.quantity),
      now,
      reservationId,
      expiresAt,
      ordered.map(() => newId()),
      ordered.map((o) => o.quantity),
      ordered.map((o) => o.row.version),
      request.idempotencyKey,
      request.requestHash,
      request.ownerId,
      request.referenceId,
      ordered.length,
      ...outbox.values,
    ],
  );
  if (!written[0]?.claimed) {
    // The key was used before (or by a concurrent request, which the claim waited for).
    const existing = (await findReservationsByKeys(deps.pool, [request.idempotencyKey])).get(request.idempotencyKey);
    if (!existing) throw Object.assign(new Error('the idempotency key is taken but its reservation is not visible yet'), { code: '40001' });
    return { result: replayOrRefuse(existing, request.requestHash), soldOutVariants: [] };
  }
  return planned.outcome;
}

interface Planned {
  reservationId: string;
  expiresAt: Date;
  now: Date;
  ordered: { row: StockItemRow; quantity: number }[];
  events: NewEvent[];
  outcome: Outcome;
}

/** A new reservation's id and times. */
function identity(deps: InventoryDeps, request: ReserveRequest): { reservationId: string; now: Date; expiresAt: Date } {
  const now = deps.clock.now();
  return { reservationId: newId(), now, expiresAt: new Date(now.getTime() + request.ttlSeconds * 1000) };
}

/** The reservation of `request` from the items as `rows` has them (in id order), or what does not fit. */
function planReservation(
  request: ReserveRequest,
  rows: StockItemRow[],
  { reservationId, now, expiresAt }: ReturnType<typeof identity>,
): Planned | { unavailable: Unavailable[] } {
  const byVariant = new Map(rows.map((r) => [r.variant_id, r]));
  const unavailable: Unavailable[] = [];
  for (const i of request.items) {
    const available = byVariant.get(i.variantId)?.available_quantity ?? 0;
    if (i.quantity > available) unavailable.push({ variantId: i.variantId, requested: i.quantity, available });
  }
  if (unavailable.length > 0) return { unavailable };

  const quantityOf = new Map(request.items.map((i) => [i.variantId, i.quantity]));
  const ordered = rows.map((r) => ({ row: r, quantity: quantityOf.get(r.variant_id) ?? 0 }));
  // What the write leaves the items at is known now, and so are the events.
  const after: StockItemRow[] = ordered
    .map(({ row, quantity }) => ({
      ...row,
      available_quantity: row.available_quantity - quantity,
      reserved_quantity: row.reserved_quantity + quantity,
      version: row.version + 1,
      updated_at: now,
    }))
    .sort((a, b) => (a.variant_id < b.variant_id ? -1 : 1));
  const items = after.map((r) => ({ ...levelOf(r), quantity: quantityOf.get(r.variant_id) ?? 0 }));
  const events: NewEvent[] = [
    {
      type: 'inventory.stock_reserved.v1',
      aggregateType: 'reservation',
      aggregateId: reservationId,
      data: { reservationId, ownerId: request.ownerId, referenceId: request.referenceId, items, expiresAt: expiresAt.toISOString(), reservedAt: now.toISOString() },
    },
  ];
  const soldOutVariants: string[] = [];
  for (const r of after) {
    if (r.available_quantity !== 0) continue;
    soldOutVariants.push(r.variant_id);
    events.push({
      type: 'inventory.stock_sold_out.v1',
      aggregateType: 'stock_item',
      aggregateId: r.id,
      data: { ...levelOf(r), productId: r.product_id, sellerId: r.seller_id, at: now.toISOString() },
    });
  }
  return {
    reservationId,
    expiresAt,
    now,
    ordered,
    events,
    outcome: {
      result: {
        id: reservationId,
        status: 'active',
        ownerId: request.ownerId,
        referenceId: request.referenceId,
        orderId: null,
        expiresAt: expiresAt.toISOString(),
        createdAt: now.toISOString(),
        closedAt: null,
        releaseReason: null,
        items: after.map((r) => ({ variantId: r.variant_id, stockItemId: r.id, quantity: quantityOf.get(r.variant_id) ?? 0 })),
        replayed: false,
      },
      soldOutVariants,
    },
  };
}

/** The pessimistic way, for items that keep changing: claim the key, lock the items in id order, write. */
async function reserveUnderLock(deps: InventoryDeps, tx: Tx, request: ReserveRequest): Promise<Outcome> {
  const made = identity(deps, request);
  // Claim the key first: a concurrent request with the same key waits here, then replays ours.
  const claimed = await tx.query(
    `INSERT INTO reservations (id, idempotency_key, request_hash, owner_id, reference_id, expires_at, created_at, updated_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $7)
     ON CONFLICT (idempotency_key) DO NOTHING`,
    [made.reservationId, request.idempotencyKey, request.requestHash, request.ownerId, request.referenceId, made.expiresAt, made.now],
  );
  if (claimed.rowCount === 0) {
    const existing = (await findReservationsByKeys(tx, [request.idempotencyKey])).get(request.idempotencyKey);
    if (!existing) throw Object.assign(new Error('the idempotency key is taken but its reservation is not visible yet'), { code: '40001' });
    return { result: replayOrRefuse(existing, request.requestHash), soldOutVariants: [] };
  }
  const { rows } = await tx.query<StockItemRow>(`${SELECT_ITEMS} FOR UPDATE`, [request.items.map((i) => i.variantId)]);
  const planned = planReservation(request, rows, made);
  // Nothing was changed but the claim, which the rollback removes.
  if ('unavailable' in planned) throw outOfStock(planned.unavailable);
  const { reservationId, expiresAt, now, ordered, events } = planned;
  // One statement for the items (still refusing to go below zero), the lines and the events, so
  // the items, which other checkouts of these products wait for, are held only until the commit.
  const outbox = outboxInsert('inventory', events, 8, now);
  const { rows: written } = await tx.query<{ items: number }>(
    `WITH reserved AS (
       UPDATE stock_items s
          SET available_quantity = s.available_quantity - r.quantity, reserved_quantity = s.reserved_quantity + r.quantity,
              version = s.version + 1, updated_at = $3
         FROM unnest($1::uuid[], $2::int[]) AS r(id, quantity)
        WHERE s.id = r.id AND s.available_quantity >= r.quantity
       RETURNING s.id
     ), lines AS (
       INSERT INTO stock_reservations (id, reservation_id, stock_item_id, quantity, expires_at, created_at, updated_at)
       SELECT l.id, $4, l.stock_item_id, l.quantity, $5, $3, $3 FROM unnest($6::uuid[], $1::uuid[], $7::int[]) AS l(id, stock_item_id, quantity)
     ), events AS (${outbox.sql})
     SELECT count(*)::int AS items FROM reserved`,
    [
      ordered.map((o) => o.row.id),
      ordered.map((o) => o.quantity),
      now,
      reservationId,
      expiresAt,
      ordered.map(() => newId()),
      ordered.map((o) => o.quantity),
      ...outbox.values,
    ],
  );
  if (written[0]?.items !== ordered.length) throw new Error('a locked stock item refused a reservation it had room for');
  return planned.outcome;
}
