import { createHash } from 'node:crypto';
import { ADJUSTMENT_REASONS, type AdjustmentReason } from '../../contracts/inventory.ts';
import { type Tx, withTransaction } from '../../platform/db/pool.ts';
import { AppError, notFound } from '../../platform/http/errors.ts';
import { WRITTEN } from '../../platform/http/schemas.ts';
import { isUuid, newId } from '../../platform/ids.ts';
import type { Trace } from '../../platform/messaging/envelope.ts';
import { appendEvents, type NewEvent } from '../../platform/messaging/outbox.ts';
import { charactersWithin } from '../../platform/unicode.ts';
import type { InventoryDeps } from './deps.ts';
import { STOCK_ITEM_COLUMNS, type StockItemRow, TRANSACTION_ATTEMPTS_MAX, isRetryable, levelOf, outOfStock } from './stock-item.ts';
import { type StockItemView, toStockItemView } from './stock-queries.ts';

export const ADJUSTMENT_AMOUNT_MAX = 1_000_000;
/** The most units a stock item holds: its quantities are PostgreSQL integers. */
export const STOCK_QUANTITY_MAX = 2_147_483_647;
export const NOTE_LENGTH_MAX = 500;
export const ADJUSTMENT_KEY_LENGTH_MAX = 255;

/** Reasons that only add stock, and reasons that only remove it; the others go either way. */
const ADDING: readonly AdjustmentReason[] = ['received', 'returned_by_customer'];
const REMOVING: readonly AdjustmentReason[] = ['damaged', 'lost'];

export interface Adjustment {
  amount: number;
  reason: AdjustmentReason;
  note?: string | undefined;
}

export interface AdjustOptions {
  /** The seller's Idempotency-Key: the same key and adjustment replay the first result; another adjustment is IDEMPOTENCY_KEY_REUSED. */
  idempotencyKey?: string | undefined;
  /** The caller's trace (its HTTP request), carried by the adjustment's events. */
  trace?: Trace | null;
}

export interface AdjustmentResult {
  movement: { id: string; change: number; reason: AdjustmentReason; note: string | null; createdAt: string };
  /** The stock item right after this adjustment. */
  stock: StockItemView;
  /** True when an earlier adjustment under the same key is returned and nothing changed. */
  replayed: boolean;
}

interface AdjustmentRequest {
  sellerId: string;
  variantId: string;
  amount: number;
  reason: AdjustmentReason;
  note: string | null;
  key: string | undefined;
}

export function checkAdjustment(a: Adjustment): void {
  if (!Number.isInteger(a.amount) || a.amount === 0 || Math.abs(a.amount) > ADJUSTMENT_AMOUNT_MAX) {
    throw new AppError('VALIDATION_FAILED', `amount must be a non-zero integer from -${ADJUSTMENT_AMOUNT_MAX} to ${ADJUSTMENT_AMOUNT_MAX}`);
  }
  if (!ADJUSTMENT_REASONS.includes(a.reason)) throw new AppError('VALIDATION_FAILED', `reason must be one of ${ADJUSTMENT_REASONS.join(', ')}`);
  if (ADDING.includes(a.reason) && a.amount < 0) throw new AppError('VALIDATION_FAILED', `reason ${a.reason} only adds stock: amount must be positive`);
  if (REMOVING.includes(a.reason) && a.amount > 0) throw new AppError('VALIDATION_FAILED', `reason ${a.reason} only removes stock: amount must be negative`);
  if (a.note !== undefined && (typeof a.note !== 'string' || !charactersWithin(a.note, 0, NOTE_LENGTH_MAX))) {
    throw new AppError('VALIDATION_FAILED', `note must hold at most ${NOTE_LENGTH_MAX} characters`);
  }
}

const SOMETHING_WRITTEN = new RegExp(WRITTEN, 'u');

/** A note with nothing written in it (spaces, U+200B, U+FEFF, blank fillers) is no note. */
function noteOf(note: string | null | undefined): string | null {
  const trimmed = note?.trim();
  return trimmed && SOMETHING_WRITTEN.test(trimmed) ? trimmed : null;
}

/**
 * A seller changes the stock of one of their variants by a signed amount. Total and available move
 * together; the conditional UPDATE (and the CHECK behind it) refuses to take away units that are
 * not available, since reserved units belong to buyers. Another seller's variant is "not found".
 *
 * With an idempotency key (the seller's own namespace), the key, a hash of the request and the
 * result are stored on the movement: the same key and request return that result (replayed, nothing
 * changes); the same key with another request is IDEMPOTENCY_KEY_REUSED. A concurrent duplicate
 * waits for the first (item lock, or the unique key index) and then replays it.
 */
export async function adjustStock(
  deps: InventoryDeps,
  sellerId: string,
  variantId: string,
  adjustment: Adjustment,
  options: AdjustOptions = {},
): Promise<AdjustmentResult> {
  checkAdjustment(adjustment);
  const key = options.idempotencyKey;
  if (key !== undefined && (typeof key !== 'string' || key.length < 1 || key.length > ADJUSTMENT_KEY_LENGTH_MAX)) {
    throw new AppError('VALIDATION_FAILED', `the idempotency key must hold 1 to ${ADJUSTMENT_KEY_LENGTH_MAX} characters`);
  }
  if (!isUuid(variantId)) throw notFound('stock item');
  const request: AdjustmentRequest = {
    sellerId,
    variantId: variantId.toLowerCase(),
    amount: adjustment.amount,
    reason: adjustment.reason,
    note: noteOf(adjustment.note),
    key,
  };
  for (let attempt = 1; ; attempt++) {
    try {
      const { result, item } = await withTransaction(deps.pool, (tx) => adjustOnce(tx, request, deps.clock.now(), options.trace ?? null));
      if (!result.replayed && request.amount > 0) deps.soldOut.forget([request.variantId]);
      // The row as this commit left it: the next reservation batch can plan from it (compare-and-set)
      // instead of locking and reading it, the usual first step of a sale the seller just stocked.
      if (item) deps.knownStock.set(request.variantId, item);
      return result;
    } catch (error) {
      // The same key committed by a concurrent request (unique index): the next attempt replays it.
      if (attempt < TRANSACTION_ATTEMPTS_MAX && isRetryable(error)) continue;
      throw error;
    }
  }
}

export function adjustmentRequestHash(r: Pick<AdjustmentRequest, 'variantId' | 'amount' | 'reason' | 'note'>): string {
  return createHash('sha256').update(JSON.stringify([r.variantId, r.amount, r.reason, r.note])).digest('base64url');
}

/** The adjustment's answer, and the item's row as the adjustment left it (none for a replay). Exported for its tests. */
export async function adjustOnce(tx: Tx, request: AdjustmentRequest, now: Date, trace: Trace | null): Promise<{ result: AdjustmentResult; item?: StockItemRow }> {
  const { sellerId, variantId, amount, reason, note, key } = request;
  const requestHash = key === undefined ? null : adjustmentRequestHash(request);
  if (key !== undefined) {
    // The item's lock first: a duplicate of the same request waits here, then sees the first one.
    const { rows: locked } = await tx.query('SELECT id FROM stock_items WHERE variant_id = $1 AND seller_id = $2 FOR UPDATE', [variantId, sellerId]);
    if (locked.length === 0) throw notFound('stock item');
    const { rows: earlier } = await tx.query<{ request_hash: string; response_json: Omit<AdjustmentResult, 'replayed'> }>(
      'SELECT request_hash, response_json FROM stock_movements WHERE created_by = $1 AND idempotency_key = $2',
      [sellerId, key],
    );
    const first = earlier[0];
    if (first) {
      if (first.request_hash !== requestHash) {
        throw new AppError('IDEMPOTENCY_KEY_REUSED', 'this Idempotency-Key was used for another adjustment (variant, amount, reason or note)');
      }
      return { result: { ...first.response_json, replayed: true } };
    }
  }
  // The bounds are compared in bigint: in integer, a total near the maximum plus the amount failed
  // the statement ("integer out of range", a 500) instead of the adjustment.
  const update = async () =>
    (
      await tx.query<StockItemRow>(
        `UPDATE stock_items
            SET total_quantity = total_quantity + $3, available_quantity = available_quantity + $3, version = version + 1, updated_at = $4
          WHERE variant_id = $1 AND seller_id = $2 AND available_quantity + $3::int8 >= 0 AND total_quantity + $3::int8 <= ${STOCK_QUANTITY_MAX}
         RETURNING ${STOCK_ITEM_COLUMNS}`,
        [variantId, sellerId, amount, now],
      )
    ).rows[0];
  const read = async () =>
    (await tx.query<StockItemRow>(`SELECT ${STOCK_ITEM_COLUMNS} FROM stock_items WHERE variant_id = $1 AND seller_id = $2`, [variantId, sellerId])).rows[0];
  const fits = (row: StockItemRow) => row.available_quantity + amount >= 0 && row.total_quantity + amount <= STOCK_QUANTITY_MAX;
  let item = await update();
  let found: StockItemRow | undefined;
  if (!item) {
    found = await read();
    // Made (by the products event) after the UPDATE's snapshot and before this read's: the UPDATE
    // missed a row it would have changed. Again, now that a statement sees it.
    if (found && fits(found)) {
      item = await update();
      if (!item) found = await read();
    }
  }
  if (!item) {
    if (!found) throw notFound('stock item');
    if (found.total_quantity + amount > STOCK_QUANTITY_MAX) {
      throw new AppError('CONFLICT', `a stock item holds at most ${STOCK_QUANTITY_MAX} units: ${found.total_quantity} are there`);
    }
    const error = outOfStock([{ variantId, requested: -amount, available: found.available_quantity }]);
    throw new AppError(
      'OUT_OF_STOCK',
      `cannot remove ${-amount} units: ${found.available_quantity} available (${found.reserved_quantity} more are reserved by buyers)`,
      error.extensions,
    );
  }
  const movementId = newId();
  const result: Omit<AdjustmentResult, 'replayed'> = {
    movement: { id: movementId, change: amount, reason, note, createdAt: now.toISOString() },
    stock: toStockItemView(item),
  };
  await tx.query(
    `INSERT INTO stock_movements (id, stock_item_id, change, kind, reason, note, created_by, created_at, idempotency_key, request_hash, response_json)
     VALUES ($1, $2, $3, 'adjustment', $4, $5, $6, $7, $8, $9, $10)`,
    [movementId, item.id, amount, reason, note, sellerId, now, key ?? null, requestHash, key === undefined ? null : JSON.stringify(result)],
  );
  const events: NewEvent[] = [
    {
      type: 'inventory.stock_adjusted.v1',
      aggregateType: 'stock_item',
      aggregateId: item.id,
      data: {
        ...levelOf(item),
        productId: item.product_id,
        sellerId: item.seller_id,
        movementId,
        change: amount,
        reason,
        note,
        adjustedBy: sellerId,
        adjustedAt: now.toISOString(),
      },
    },
  ];
  if (item.available_quantity === 0) {
    events.push({
      type: 'inventory.stock_sold_out.v1',
      aggregateType: 'stock_item',
      aggregateId: item.id,
      data: { ...levelOf(item), productId: item.product_id, sellerId: item.seller_id, at: now.toISOString() },
    });
  }
  await appendEvents(tx, 'inventory', events, trace, now);
  return { result: { ...result, replayed: false }, item };
}
