import { commitWith, withTransaction, type Tx } from '../../platform/db/pool.ts';
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
  isRetryable,
  levelOf,
  outOfStock,
  purchaseLimitExceeded,
} from './stock-item.ts';
import { heldKey, unitsHeld } from './purchase-limit.ts';

/**
 * Reserves all the items or none. A single-item request (the flash-sale shape) goes through the
 * variant's queue and is batched with its neighbours; a multi-item request runs its own
 * transaction, locking the items in id order so two such requests never deadlock.
 */
export async function reserve(deps: InventoryDeps, queue: ReservationQueue, input: ReserveInput): Promise<ReserveResult> {
  const request = toReserveRequest(input, deps.reservationTtlSeconds);
  if (request.items.length === 1) return queue.submit(request);
  return reserveSeveral(deps, request);
}

/**
 * The reservation already made under this input's key (replayed, or IDEMPOTENCY_KEY_REUSED for
 * another request), undefined when there is none: for a caller refused before it reached reserve()
 * (the variant no longer for sale), whose retry must still get what the first request got.
 */
export async function earlierReservation(deps: InventoryDeps, input: ReserveInput): Promise<ReserveResult | undefined> {
  const request = toReserveRequest(input, deps.reservationTtlSeconds);
  const existing = (await findReservationsByKeys(deps.pool, [request.idempotencyKey])).get(request.idempotencyKey);
  return existing ? replayOrRefuse(existing, request.requestHash) : undefined;
}

async function reserveSeveral(deps: InventoryDeps, request: ReserveRequest): Promise<ReserveResult> {
  const soldOut = request.items.filter((i) => deps.soldOut.isSoldOut(i.variantId));
  // From memory only when every item is known sold out (a variant marked so has no limit per
  // buyer): a buyer past a limit is told the limit before any question of stock, which the
  // transaction reads. This process's copy of an item may predate a limit set by another process
  // for as long as it does not touch the item again, so it cannot vouch for the other items
  // (found by a review: OUT_OF_STOCK from memory for a buyer past a new limit).
  if (soldOut.length > 0 && soldOut.length === request.items.length) {
    const existing = (await findReservationsByKeys(deps.pool, [request.idempotencyKey])).get(request.idempotencyKey);
    if (existing) return replayOrRefuse(existing, request.requestHash);
    deps.metrics.soldOutAnswers.inc();
    throw outOfStock(soldOut.map((i) => ({ variantId: i.variantId, requested: i.quantity, available: 0 })));
  }
  for (let attempt = 1; ; attempt++) {
    // Taken before the stock is read: a return of stock after it keeps this from marking sold out.
    const stamp = deps.soldOut.stamp();
    try {
      const { result, soldOutVariants } = await withTransaction(deps.pool, (tx) => reserveInTransaction(deps, tx, request));
      for (const v of soldOutVariants) deps.soldOut.markSoldOut(v, stamp);
      return result;
    } catch (error) {
      for (const v of soldOutWhenRefused.get(error as object) ?? []) deps.soldOut.markSoldOut(v, stamp);
      if (attempt < TRANSACTION_ATTEMPTS_MAX && isRetryable(error)) continue;
      throw error;
    }
  }
}

/** The items an out-of-stock refusal found empty and without a limit per buyer, as its transaction read them. */
const soldOutWhenRefused = new WeakMap<object, string[]>();

async function reserveInTransaction(deps: InventoryDeps, tx: Tx, request: ReserveRequest): Promise<{ result: ReserveResult; soldOutVariants: string[] }> {
  const now = deps.clock.now();
  const reservationId = newId();
  const expiresAt = new Date(now.getTime() + request.ttlSeconds * 1000);
  const variantIds = request.items.map((i) => i.variantId);
  const { rows } = await tx.query<StockItemRow>(
    `SELECT ${STOCK_ITEM_COLUMNS} FROM stock_items WHERE variant_id = ANY($1::uuid[]) ORDER BY id FOR UPDATE`,
    [variantIds],
  );
  // Then the key: a concurrent request with the same key waits for the items, then replays ours.
  // The items come first, as in a batch (reserve-batch.ts: the item's UPDATE, then the keys):
  // claiming the key first deadlocked with a batch holding the item and inserting the same key (one
  // buyer's key sent both as a multi-item and as a single-item request; found by a review), and the
  // deadlock failed every other request of that batch.
  const claimed = await tx.query(
    `INSERT INTO reservations (id, idempotency_key, request_hash, owner_id, reference_id, expires_at, created_at, updated_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $7)
     ON CONFLICT (idempotency_key) DO NOTHING`,
    [reservationId, request.idempotencyKey, request.requestHash, request.ownerId, request.referenceId, expiresAt, now],
  );
  if (claimed.rowCount === 0) {
    const existing = (await findReservationsByKeys(tx, [request.idempotencyKey])).get(request.idempotencyKey);
    if (!existing) throw Object.assign(new Error('the idempotency key is taken but its reservation is not visible yet'), { code: '40001' });
    return { result: replayOrRefuse(existing, request.requestHash), soldOutVariants: [] };
  }

  const byVariant = new Map(rows.map((r) => [r.variant_id, r]));
  // The sellers' limits per buyer first (as a batch answers them), counted now that the items are
  // locked; then the stock. Nothing was changed but the claim, which the rollback removes.
  const limited = rows.filter((r) => r.max_per_buyer !== null);
  if (limited.length > 0) {
    const held = await unitsHeld(
      tx,
      limited.map((r) => r.id),
      [request.ownerId],
    );
    for (const r of limited) {
      const units = held.get(heldKey(r.id, request.ownerId)) ?? 0;
      const requested = request.items.find((i) => i.variantId === r.variant_id)?.quantity ?? 0;
      if (r.max_per_buyer !== null && units + requested > r.max_per_buyer) {
        throw purchaseLimitExceeded({ variantId: r.variant_id, maxPerBuyer: r.max_per_buyer, held: units, requested });
      }
    }
  }
  const unavailable: Unavailable[] = [];
  for (const i of request.items) {
    const available = byVariant.get(i.variantId)?.available_quantity ?? 0;
    if (i.quantity > available) unavailable.push({ variantId: i.variantId, requested: i.quantity, available });
  }
  if (unavailable.length > 0) {
    const refusal = outOfStock(unavailable);
    // Told by the locked rows, not by this process's copy of the items: a limit set by another
    // process since then would be answered sold out from memory (found by a review).
    soldOutWhenRefused.set(
      refusal,
      unavailable.filter((u) => u.available === 0 && byVariant.get(u.variantId)?.max_per_buyer === null).map((u) => u.variantId),
    );
    throw refusal;
  }

  const quantityOf = new Map(request.items.map((i) => [i.variantId, i.quantity]));
  const ordered = rows.map((r) => ({ row: r, quantity: quantityOf.get(r.variant_id) ?? 0 }));
  // The rows are locked: what the UPDATE below leaves them at is known now, and so are the events.
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
  // The levels it left, once, for copies of the levels; an item it sold out says so instead.
  const levels = after.filter((r) => r.available_quantity !== 0).map(levelOf);
  if (levels.length > 0) {
    events.push({ type: 'inventory.stock_levels_changed.v1', aggregateType: 'reservation', aggregateId: reservationId, data: { items: levels, at: now.toISOString() } });
  }
  for (const r of after) {
    if (r.available_quantity !== 0) continue;
    // Answered sold out from memory only without a per-buyer limit: a buyer past the limit is told
    // the limit, whatever the stock (see reserve-batch.ts afterCommit).
    if (r.max_per_buyer === null) soldOutVariants.push(r.variant_id);
    events.push({
      type: 'inventory.stock_sold_out.v1',
      aggregateType: 'stock_item',
      aggregateId: r.id,
      data: { ...levelOf(r), productId: r.product_id, sellerId: r.seller_id, at: now.toISOString() },
    });
  }
  // One statement for the items (still refusing to go below zero), the lines and the events, sent
  // with the COMMIT: the items, which other checkouts of these products wait for, are let go as
  // soon as it is done. An item that refuses fails it (bazaar_abort), and nothing stays.
  const outbox = outboxInsert('inventory', events, 9, request.trace, now);
  await commitWith(
    tx,
    `WITH reserved AS (
       UPDATE stock_items s
          SET available_quantity = s.available_quantity - r.quantity, reserved_quantity = s.reserved_quantity + r.quantity,
              version = s.version + 1, updated_at = $3
         FROM unnest($1::uuid[], $2::int[]) AS r(id, quantity)
        WHERE s.id = r.id AND s.available_quantity >= r.quantity
       RETURNING s.id, s.purchase_limit_since
     ), lines AS (
       -- Stamped no earlier than the limit the item has now (purchase-limit.ts: unitsHeld).
       INSERT INTO stock_reservations (id, reservation_id, stock_item_id, quantity, expires_at, created_at, updated_at)
       SELECT l.id, $4, l.stock_item_id, l.quantity, $5, greatest($3, s.purchase_limit_since), $3
         FROM unnest($6::uuid[], $1::uuid[], $7::int[]) AS l(id, stock_item_id, quantity) JOIN reserved s ON s.id = l.stock_item_id
     ), events AS (${outbox.sql})
     SELECT CASE WHEN count(*) <> $8 THEN bazaar_abort('a locked stock item refused a reservation it had room for') END FROM reserved`,
    [
      ordered.map((o) => o.row.id),
      ordered.map((o) => o.quantity),
      now,
      reservationId,
      expiresAt,
      ordered.map(() => newId()),
      ordered.map((o) => o.quantity),
      ordered.length,
      ...outbox.values,
    ],
  );
  return {
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
  };
}
