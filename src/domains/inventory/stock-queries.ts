import type { Queryable } from '../../platform/db/pool.ts';
import { AppError } from '../../platform/http/errors.ts';
import { decodeCursor, encodeCursor, isCursorInstantMicroseconds } from '../../platform/http/cursor.ts';
import { isUuid } from '../../platform/ids.ts';
import { STOCK_ITEM_COLUMNS, type StockItemRow } from './stock-item.ts';

/** A stock item as sellers and other domains see it. */
export interface StockItemView {
  stockItemId: string;
  variantId: string;
  productId: string;
  sku: string;
  total: number;
  available: number;
  reserved: number;
  version: number;
  updatedAt: string;
  /** The most units one buyer may hold and have bought, counted since purchaseLimitSince; null when none. */
  maxPerBuyer: number | null;
  purchaseLimitSince: string | null;
}

export function toStockItemView(r: StockItemRow): StockItemView {
  return {
    stockItemId: r.id,
    variantId: r.variant_id,
    productId: r.product_id,
    sku: r.sku,
    total: r.total_quantity,
    available: r.available_quantity,
    reserved: r.reserved_quantity,
    version: r.version,
    updatedAt: r.updated_at.toISOString(),
    maxPerBuyer: r.max_per_buyer,
    purchaseLimitSince: r.purchase_limit_since?.toISOString() ?? null,
  };
}

/** A seller's own stock items, by SKU (the seller's own order), cursor paged on (sku, id). */
export async function listSellerStock(db: Queryable, sellerId: string, limit: number, cursor?: string): Promise<{ items: StockItemView[]; nextCursor: string | null }> {
  const after = decodeCursor<{ sku: string; id: string }>(`stock:${sellerId}`, cursor, ['sku', 'id']);
  if (after && !isUuid(after.id)) throw new AppError('INVALID_CURSOR');
  const { rows } = await db.query<StockItemRow>(
    `SELECT ${STOCK_ITEM_COLUMNS} FROM stock_items
      WHERE seller_id = $1 AND ($2::text IS NULL OR (sku, id) > ($2::text, $3::uuid))
      ORDER BY sku, id
      LIMIT $4`,
    [sellerId, after?.sku ?? null, after?.id ?? null, limit + 1],
  );
  const page = rows.slice(0, limit);
  const last = page[page.length - 1];
  return { items: page.map(toStockItemView), nextCursor: rows.length > limit && last ? encodeCursor(`stock:${sellerId}`, { sku: last.sku, id: last.id }) : null };
}

/** One change of a stock item's total, as its seller sees it. */
export interface StockMovementView {
  id: string;
  kind: 'adjustment' | 'sale' | 'restock';
  change: number;
  reason: string;
  note: string | null;
  referenceId: string | null;
  createdBy: string | null;
  createdAt: string;
}

/** 404 unless the seller has a stock item of the variant. */
async function mustOwnStockItem(db: Queryable, sellerId: string, variantId: string): Promise<void> {
  const { rowCount } = await db.query('SELECT 1 FROM stock_items WHERE variant_id = $1 AND seller_id = $2', [variantId, sellerId]);
  if (rowCount === 0) throw new AppError('NOT_FOUND', `no stock item of yours for variant ${variantId}`);
}

/**
 * The stock movements of an own variant's stock item, newest first, cursor paged on (created_at,
 * id); another seller's variant, or one without a stock item, is 404.
 */
export async function listStockMovements(
  db: Queryable,
  sellerId: string,
  variantId: string,
  limit: number,
  cursor?: string,
): Promise<{ items: StockMovementView[]; nextCursor: string | null }> {
  const scope = `stock-movements:${sellerId}:${variantId.toLowerCase()}`;
  let before: { at: string; id: string } | undefined;
  try {
    before = decodeCursor<{ at: string; id: string }>(scope, cursor, ['at', 'id']);
    if (before && (!isUuid(before.id) || !isCursorInstantMicroseconds(before.at))) throw new AppError('INVALID_CURSOR');
  } catch (error) {
    // Another seller's variant is 404 whatever the cursor (its owner's cursor included), as without one.
    if (error instanceof AppError) await mustOwnStockItem(db, sellerId, variantId);
    throw error;
  }
  const { rows } = await db.query<Omit<StockMovementView, 'createdAt'> & { createdAt: Date; at: string }>(
    `SELECT m.id, m.kind, m.change, m.reason, m.note, m.reference_id AS "referenceId", m.created_by AS "createdBy", m.created_at AS "createdAt",
            to_char(m.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS at
       FROM stock_items s JOIN stock_movements m ON m.stock_item_id = s.id
      WHERE s.variant_id = $1 AND s.seller_id = $2
        AND ($3::timestamptz IS NULL OR (m.created_at, m.id) < ($3::timestamptz, $4::uuid))
      ORDER BY m.created_at DESC, m.id DESC
      LIMIT $5`,
    [variantId, sellerId, before?.at ?? null, before?.id ?? null, limit + 1],
  );
  if (rows.length === 0 && !before) await mustOwnStockItem(db, sellerId, variantId);
  const more = rows.length > limit;
  const page = rows.slice(0, limit);
  // The cursor keeps the microseconds (a Date has milliseconds only): movements of one millisecond are not skipped.
  const next = more ? page[page.length - 1] : undefined;
  return {
    items: page.map(({ at: _at, createdAt, ...movement }) => ({ ...movement, createdAt: createdAt.toISOString() })),
    nextCursor: next ? encodeCursor(scope, { at: next.at, id: next.id }) : null,
  };
}

export const AVAILABILITY_VARIANTS_MAX = 1000;

/** Current stock of the given variants; a variant without a stock item is left out. */
export async function getAvailability(db: Queryable, variantIds: readonly string[]): Promise<StockItemView[]> {
  if (variantIds.length > AVAILABILITY_VARIANTS_MAX) throw new AppError('VALIDATION_FAILED', `ask for at most ${AVAILABILITY_VARIANTS_MAX} variants at once`);
  const ids = variantIds.filter(isUuid);
  if (ids.length === 0) return [];
  const { rows } = await db.query<StockItemRow>(`SELECT ${STOCK_ITEM_COLUMNS} FROM stock_items WHERE variant_id = ANY($1::uuid[])`, [ids]);
  return rows.map(toStockItemView);
}
