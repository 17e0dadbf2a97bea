import { type Queryable, withTransaction, type Tx } from '../../platform/db/pool.ts';
import { newId } from '../../platform/ids.ts';
import type { Trace } from '../../platform/messaging/envelope.ts';
import { type NewEvent, outboxInsert } from '../../platform/messaging/outbox.ts';
import { allocate } from './allocation.ts';
import { heldKey, unitsHeld } from './purchase-limit.ts';
import type { InventoryDeps } from './deps.ts';
import type { ReserveRequest } from './reserve-input.ts';
import { findReservationsByKeys, replayOrRefuse, type ReserveResult } from './reservation-view.ts';
import { STOCK_ITEM_COLUMNS, type StockItemRow, TRANSACTION_ATTEMPTS_MAX, isRetryable, levelOf, outOfStock, purchaseLimitExceeded } from './stock-item.ts';

/** One single-item reserve request waiting in a variant's queue, with the trace of the call that made it. */
export interface BatchRequest {
  request: ReserveRequest;
  trace: Trace | null;
}

export type BatchOutcome = { ok: true; value: ReserveResult } | { ok: false; error: unknown };

const settle = async (work: () => Promise<ReserveResult>): Promise<BatchOutcome> => {
  try {
    return { ok: true, value: await work() };
  } catch (error) {
    return { ok: false, error };
  }
};

/**
 * Reserves one variant for many buyers in ONE transaction: one conditional UPDATE of the stock item
 * for all the units granted, one INSERT of all the reservations and lines, one outbox write and one
 * commit (and so one NOTIFY). Requests are served in order while stock lasts (see allocation.ts);
 * the rest get OUT_OF_STOCK. Keys already used replay their reservation. The batch's idempotency
 * keys are distinct (the queue sees to it).
 *
 * When this process knows the item's last state, the batch is planned from it and the UPDATE is a
 * compare-and-set on the item's version and per-buyer limit: the whole batch, outbox rows included, is then ONE
 * statement, atomic on its own (one round trip, no BEGIN or COMMIT). Otherwise, or when the state
 * was stale or a key was already used, the item is locked and read first, in a transaction.
 */
export async function reserveBatch(deps: InventoryDeps, variantId: string, batch: readonly BatchRequest[]): Promise<BatchOutcome[]> {
  deps.metrics.batchSize.observe(batch.length);
  if (deps.soldOut.isSoldOut(variantId)) return answerSoldOut(deps, variantId, batch);
  // Taken before the stock is read: a return of stock after it keeps the batch from marking sold out.
  const stamp = deps.soldOut.stamp();
  const known = deps.knownStock.get(variantId);
  if (known && known.available_quantity > 0) {
    try {
      const planned = await reserveFromKnownState(deps, deps.pool, known, batch);
      return afterCommit(deps, variantId, planned, stamp);
    } catch (error) {
      if (!(error instanceof StaleState) && !isRetryable(error)) throw error;
      deps.knownStock.forget(variantId);
    }
  }
  for (let attempt = 1; ; attempt++) {
    try {
      const locked = await withTransaction(deps.pool, (tx) => reserveUnderLock(deps, tx, variantId, batch));
      return afterCommit(deps, variantId, locked, stamp);
    } catch (error) {
      // A key taken meanwhile by another path or process, or a deadlock: the next attempt sees it.
      if (attempt < TRANSACTION_ATTEMPTS_MAX && isRetryable(error)) continue;
      throw error;
    }
  }
}

interface BatchResult {
  outcomes: BatchOutcome[];
  /** The item as this transaction left it; undefined when there is no stock item. */
  after: StockItemRow | undefined;
}

function afterCommit(deps: InventoryDeps, variantId: string, result: BatchResult, stamp: number): BatchOutcome[] {
  if (result.after) {
    deps.knownStock.set(variantId, result.after);
    // An item with a limit per buyer is never answered sold out from memory: a buyer past the limit
    // is told the limit, before any question of stock, which only its batch can read.
    if (result.after.available_quantity === 0 && result.after.max_per_buyer === null) deps.soldOut.markSoldOut(variantId, stamp);
  }
  return result.outcomes;
}

/** The planned-from state was not the row's any more (or the plan needs a fresh look): go the locked way. */
class StaleState extends Error {}

/**
 * Sold out (from memory): no lock and no write. One indexed read still finds keys that already own
 * a reservation, so a buyer retrying a successful request gets it back instead of "sold out".
 */
export async function answerSoldOut(deps: InventoryDeps, variantId: string, batch: readonly BatchRequest[]): Promise<BatchOutcome[]> {
  const existing = await findReservationsByKeys(
    deps.pool,
    batch.map((b) => b.request.idempotencyKey),
  );
  let fromMemory = 0;
  const outcomes = await Promise.all(
    batch.map(({ request }) =>
      settle(async () => {
        const found = existing.get(request.idempotencyKey);
        if (found) return replayOrRefuse(found, request.requestHash);
        fromMemory++;
        throw outOfStock([{ variantId, requested: request.items[0]?.quantity ?? 0, available: 0 }]);
      }),
    ),
  );
  deps.metrics.soldOutAnswers.inc(fromMemory);
  return outcomes;
}

interface Grant {
  request: BatchRequest;
  reservationId: string;
  lineId: string;
  quantity: number;
  expiresAt: Date;
}

const quantityOf = (b: BatchRequest) => b.request.items[0]?.quantity ?? 0;

/**
 * What the item's buyers hold already, when it has a per-buyer limit (and nothing to read otherwise).
 * Read before the compare-and-set or under the item's lock: see `unitsHeld`.
 */
async function heldBefore(db: Queryable, item: StockItemRow, requests: readonly BatchRequest[]): Promise<ReadonlyMap<string, number> | undefined> {
  if (item.max_per_buyer === null) return undefined;
  const held = await unitsHeld(
    db,
    [item.id],
    requests.map((b) => b.request.ownerId),
  );
  return new Map([...new Set(requests.map((b) => b.request.ownerId))].map((owner) => [owner, held.get(heldKey(item.id, owner)) ?? 0]));
}

/**
 * Plans grants in order; returns them and, for the refused, what was available when their turn came
 * or, when the buyer's limit refused them, what the buyer held by then.
 */
function plan(item: StockItemRow, requests: readonly BatchRequest[], now: Date, held?: ReadonlyMap<string, number>) {
  const limit = item.max_per_buyer !== null && held ? { maxPerBuyer: item.max_per_buyer, owners: requests.map((b) => b.request.ownerId), held } : undefined;
  const allocation = allocate(item.available_quantity, requests.map(quantityOf), limit);
  const grants: Grant[] = [];
  const refused = new Map<BatchRequest, number>();
  const overLimit = new Map<BatchRequest, number>();
  requests.forEach((request, i) => {
    const decision = allocation.decisions[i];
    if (decision?.overLimit) {
      overLimit.set(request, decision.overLimit.held);
    } else if (decision?.granted) {
      grants.push({
        request,
        reservationId: newId(),
        lineId: newId(),
        quantity: quantityOf(request),
        expiresAt: new Date(now.getTime() + request.request.ttlSeconds * 1000),
      });
    } else {
      refused.set(request, decision?.availableBefore ?? 0);
    }
  });
  return { grants, refused, overLimit, availableAfter: allocation.availableAfter };
}

/** The answer to a request the plan refused: over its buyer's limit, or not enough stock. */
function refusal(item: StockItemRow, b: BatchRequest, refused: ReadonlyMap<BatchRequest, number>, overLimit: ReadonlyMap<BatchRequest, number>): Error {
  const held = overLimit.get(b);
  if (held !== undefined && item.max_per_buyer !== null) {
    return purchaseLimitExceeded({ variantId: item.variant_id, maxPerBuyer: item.max_per_buyer, held, requested: quantityOf(b) });
  }
  return outOfStock([{ variantId: item.variant_id, requested: quantityOf(b), available: refused.get(b) ?? 0 }]);
}

/** Writes the grants and their events (one statement); returns the item as it is after them. */
async function writeGrants(
  db: Queryable,
  item: StockItemRow,
  grants: Grant[],
  now: Date,
  plannedFrom: StockItemRow | null,
  availableAfter: number,
): Promise<StockItemRow> {
  await insertGrants(db, item, grants, grantEvents(item, grants, now, availableAfter === 0), now, plannedFrom);
  const units = grants.reduce((sum, g) => sum + g.quantity, 0);
  return {
    ...item,
    available_quantity: item.available_quantity - units,
    reserved_quantity: item.reserved_quantity + units,
    version: item.version + grants.length,
    updated_at: now,
  };
}

function made(g: Grant, item: StockItemRow, now: Date): ReserveResult {
  return {
    id: g.reservationId,
    status: 'active',
    ownerId: g.request.request.ownerId,
    referenceId: g.request.request.referenceId,
    orderId: null,
    expiresAt: g.expiresAt.toISOString(),
    createdAt: now.toISOString(),
    closedAt: null,
    releaseReason: null,
    items: [{ variantId: item.variant_id, stockItemId: item.id, quantity: g.quantity }],
    replayed: false,
  };
}

/** No read, no lock: the UPDATE applies only if the row is still at the version planned from. */
async function reserveFromKnownState(deps: InventoryDeps, db: Queryable, known: StockItemRow, batch: readonly BatchRequest[]): Promise<BatchResult> {
  const held = await heldBefore(db, known, batch);
  const now = deps.clock.now();
  const { grants, refused, overLimit, availableAfter } = plan(known, batch, now, held);
  // Nothing fits by what we know: only the row can say whether that is still true.
  if (grants.length === 0) throw new StaleState();
  const after = await writeGrants(db, known, grants, now, known, availableAfter);
  const byRequest = new Map(grants.map((g) => [g.request, g]));
  // The plan never read the keys. A granted key that was already used fails the write (unique key:
  // the locked path then answers it); a refused one may be the retry of a request that did get a
  // unit, so the keys refused are looked up before anyone is told "out of stock" (only in the batch
  // that sells out: the batches after it take the sold-out lane, which looks them up too). So are
  // those refused by the buyer's limit, which the retried request's own reservation may have reached.
  const unanswered = [...refused.keys(), ...overLimit.keys()];
  const existing = unanswered.length > 0 ? await findReservationsByKeys(db, unanswered.map((b) => b.request.idempotencyKey)) : new Map();
  const outcomes = await Promise.all(
    batch.map((b) =>
      settle(async () => {
        const g = byRequest.get(b);
        if (g) return made(g, known, now);
        const found = existing.get(b.request.idempotencyKey);
        if (found) return replayOrRefuse(found, b.request.requestHash);
        throw refusal(known, b, refused, overLimit);
      }),
    ),
  );
  return { outcomes, after };
}

async function reserveUnderLock(deps: InventoryDeps, tx: Tx, variantId: string, batch: readonly BatchRequest[]): Promise<BatchResult> {
  const now = deps.clock.now();
  const { rows } = await tx.query<StockItemRow>(`SELECT ${STOCK_ITEM_COLUMNS} FROM stock_items WHERE variant_id = $1 FOR UPDATE`, [variantId]);
  const item = rows[0];
  const existing = await findReservationsByKeys(
    tx,
    batch.map((b) => b.request.idempotencyKey),
  );
  const fresh = batch.filter((b) => !existing.has(b.request.idempotencyKey));
  const held = item ? await heldBefore(tx, item, fresh) : undefined;
  const { grants, refused, overLimit, availableAfter } = item
    ? plan(item, fresh, now, held)
    : { grants: [], refused: new Map<BatchRequest, number>(), overLimit: new Map<BatchRequest, number>(), availableAfter: 0 };
  const after = item && grants.length > 0 ? await writeGrants(tx, item, grants, now, null, availableAfter) : item;
  const byRequest = new Map(grants.map((g) => [g.request, g]));

  const outcomes = await Promise.all(
    batch.map((b) =>
      settle(async () => {
        const found = existing.get(b.request.idempotencyKey);
        if (found) return replayOrRefuse(found, b.request.requestHash);
        const g = byRequest.get(b);
        if (g && item) return made(g, item, now);
        if (item) throw refusal(item, b, refused, overLimit);
        throw outOfStock([{ variantId, requested: quantityOf(b), available: 0 }]);
      }),
    ),
  );
  return { outcomes, after };
}

/**
 * One statement: the conditional UPDATE of the item (the database refuses to go below zero even if
 * this code were wrong), the reservations, their lines and the outbox rows; the rest is written
 * only if the UPDATE was, so the statement is all or nothing without a transaction around it.
 */
async function insertGrants(db: Queryable, item: StockItemRow, grants: Grant[], events: NewEvent[], now: Date, plannedFrom: StockItemRow | null): Promise<void> {
  const units = grants.reduce((sum, g) => sum + g.quantity, 0);
  // Each reservation's event names its own request's trace; the rest, that of the first.
  const outbox = outboxInsert('inventory', events, 16, grants[0]?.request.trace ?? null, now, { guard: 'EXISTS (SELECT 1 FROM item)' });
  const result = await db.query<{ lines: number }>(
    `WITH item AS (
       UPDATE stock_items
          SET available_quantity = available_quantity - $2, reserved_quantity = reserved_quantity + $2,
              version = version + $3, updated_at = $4
        WHERE id = $1 AND available_quantity >= $2
          AND ($13::bigint IS NULL OR (version = $13 AND max_per_buyer IS NOT DISTINCT FROM $14::int AND purchase_limit_since IS NOT DISTINCT FROM $15::timestamptz))
        RETURNING id, purchase_limit_since
     ), header AS (
       INSERT INTO reservations (id, idempotency_key, request_hash, owner_id, reference_id, expires_at, created_at, updated_at)
       SELECT r.id, r.idempotency_key, r.request_hash, r.owner_id, r.reference_id, r.expires_at, $4, $4
         FROM unnest($5::uuid[], $6::text[], $7::text[], $8::uuid[], $9::uuid[], $10::timestamptz[])
              AS r(id, idempotency_key, request_hash, owner_id, reference_id, expires_at)
        WHERE EXISTS (SELECT 1 FROM item)
       RETURNING id
     ), lines AS (
       INSERT INTO stock_reservations (id, reservation_id, stock_item_id, quantity, expires_at, created_at, updated_at)
       SELECT l.id, l.reservation_id, $1, l.quantity, l.expires_at, greatest($4, (SELECT purchase_limit_since FROM item)), $4
         FROM unnest($11::uuid[], $5::uuid[], $12::int[], $10::timestamptz[]) AS l(id, reservation_id, quantity, expires_at)
        WHERE EXISTS (SELECT 1 FROM header)
       RETURNING id
     ), events AS (${outbox.sql})
     SELECT (SELECT count(*)::int FROM lines) AS lines`,
    [
      item.id,
      units,
      grants.length,
      now,
      grants.map((g) => g.reservationId),
      grants.map((g) => g.request.request.idempotencyKey),
      grants.map((g) => g.request.request.requestHash),
      grants.map((g) => g.request.request.ownerId),
      grants.map((g) => g.request.request.referenceId),
      grants.map((g) => g.expiresAt),
      grants.map((g) => g.lineId),
      grants.map((g) => g.quantity),
      plannedFrom?.version ?? null,
      plannedFrom?.max_per_buyer ?? null,
      plannedFrom?.purchase_limit_since ?? null,
      ...outbox.values,
    ],
  );
  const lines = result.rows[0]?.lines ?? 0;
  if (lines === 0 && plannedFrom !== null) throw new StaleState();
  if (lines !== grants.length) {
    // Under the row lock the grants were computed from the row itself: this is a programmer error.
    throw new Error(`reservation batch wrote ${lines} lines for ${grants.length} grants`);
  }
}

/** Per reservation, the item's quantities right after that reservation (the batch applies them in order). */
function grantEvents(item: StockItemRow, grants: Grant[], now: Date, soldOut: boolean): NewEvent[] {
  let available = item.available_quantity;
  let reserved = item.reserved_quantity;
  let version = item.version;
  const events: NewEvent[] = grants.map((g) => {
    available -= g.quantity;
    reserved += g.quantity;
    version += 1;
    const { request, trace } = g.request;
    return {
      type: 'inventory.stock_reserved.v1',
      aggregateType: 'reservation',
      aggregateId: g.reservationId,
      ...(trace ? { correlationId: trace.correlationId, causationId: trace.causationId } : {}),
      data: {
        reservationId: g.reservationId,
        ownerId: request.ownerId,
        referenceId: request.referenceId,
        items: [{ ...levelOf({ ...item, available_quantity: available, reserved_quantity: reserved, version }), quantity: g.quantity }],
        expiresAt: g.expiresAt.toISOString(),
        reservedAt: now.toISOString(),
      },
    };
  });
  const level = levelOf({ ...item, available_quantity: available, reserved_quantity: reserved, version });
  // The level the batch left: once, for copies of the levels (each reservation's event goes to
  // whoever follows reservations, or to nobody).
  if (soldOut) {
    events.push({
      type: 'inventory.stock_sold_out.v1',
      aggregateType: 'stock_item',
      aggregateId: item.id,
      data: { ...level, productId: item.product_id, sellerId: item.seller_id, at: now.toISOString() },
    });
  } else {
    events.push({ type: 'inventory.stock_levels_changed.v1', aggregateType: 'stock_item', aggregateId: item.id, data: { items: [level], at: now.toISOString() } });
  }
  return events;
}
