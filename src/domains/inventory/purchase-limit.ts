import { MAX_PER_BUYER_LIMIT } from '../../contracts/inventory.ts';
import { type Queryable, withTransaction } from '../../platform/db/pool.ts';
import { AppError, notFound } from '../../platform/http/errors.ts';
import { isUuid } from '../../platform/ids.ts';
import type { Trace } from '../../platform/messaging/envelope.ts';
import { appendEvents } from '../../platform/messaging/outbox.ts';
import type { InventoryDeps } from './deps.ts';
import { STOCK_ITEM_COLUMNS, type StockItemRow } from './stock-item.ts';
import { type StockItemView, toStockItemView } from './stock-queries.ts';

/** Key of a buyer's units of an item in what `unitsHeld` returns. */
export const heldKey = (stockItemId: string, ownerId: string) => `${stockItemId} ${ownerId}`;

/**
 * Units each buyer holds (active) or bought (confirmed) of each item, counted over the reservation
 * lines made since the item's limit was set: what its limit applies to. Only items with a limit
 * count. Read after the items are locked, or before a compare-and-set on their version and limit:
 * any reservation of an item changes its version, so what was counted is still true when the write
 * applies. A line is stamped no earlier than the limit it was decided under (the write takes the
 * later of its clock and the item's purchase_limit_since, from the locked row): a request that took
 * its time, then waited for the item while the seller set a new limit, still counts against it.
 */
export async function unitsHeld(db: Queryable, stockItemIds: readonly string[], ownerIds: readonly string[]): Promise<Map<string, number>> {
  const { rows } = await db.query<{ stock_item_id: string; owner_id: string; units: number }>(
    `SELECT l.stock_item_id, r.owner_id, sum(l.quantity)::int AS units
       FROM stock_items s
       JOIN reservations r ON r.owner_id = ANY($2::uuid[])
       JOIN stock_reservations l ON l.reservation_id = r.id AND l.stock_item_id = s.id
      WHERE s.id = ANY($1::uuid[]) AND s.max_per_buyer IS NOT NULL AND l.status IN ('active', 'confirmed')
        AND l.created_at >= s.purchase_limit_since
      GROUP BY l.stock_item_id, r.owner_id`,
    [stockItemIds, [...new Set(ownerIds)]],
  );
  return new Map(rows.map((r) => [heldKey(r.stock_item_id, r.owner_id), r.units]));
}

export interface PurchaseLimitChange {
  /** The most units one buyer may hold and buy, 1 to 1,000,000; null removes the limit. */
  maxPerBuyer: number | null;
}

/**
 * Sets, changes or clears a seller's limit of units per buyer on an own stock item. A new value
 * starts a fresh count (reservations made before it do not count); the value the item has already
 * changes nothing, not even the count's start. Another seller's item is 404.
 */
export async function setPurchaseLimit(
  deps: InventoryDeps,
  sellerId: string,
  variantId: string,
  change: PurchaseLimitChange,
  trace: Trace | null,
): Promise<StockItemView> {
  const max = change.maxPerBuyer;
  if (max !== null && (!Number.isInteger(max) || max < 1 || max > MAX_PER_BUYER_LIMIT)) {
    throw new AppError('VALIDATION_FAILED', `maxPerBuyer must be an integer from 1 to ${MAX_PER_BUYER_LIMIT}, or null for no limit`);
  }
  if (!isUuid(variantId)) throw notFound('stock item');
  const id = variantId.toLowerCase();
  const item = await withTransaction(deps.pool, async (tx) => {
    const now = deps.clock.now();
    const { rows } = await tx.query<StockItemRow>(
      `UPDATE stock_items
          SET max_per_buyer = $3, purchase_limit_since = CASE WHEN $3::int IS NULL THEN NULL ELSE $4::timestamptz END, updated_at = $4
        WHERE variant_id = $1 AND seller_id = $2 AND max_per_buyer IS DISTINCT FROM $3::int
        RETURNING ${STOCK_ITEM_COLUMNS}`,
      [id, sellerId, max, now],
    );
    const changed = rows[0];
    if (!changed) {
      const { rows: same } = await tx.query<StockItemRow>(`SELECT ${STOCK_ITEM_COLUMNS} FROM stock_items WHERE variant_id = $1 AND seller_id = $2`, [id, sellerId]);
      if (!same[0]) throw notFound('stock item');
      return same[0];
    }
    await appendEvents(
      tx,
      'inventory',
      [
        {
          type: 'inventory.purchase_limit_changed.v1',
          aggregateType: 'stock_item',
          aggregateId: changed.id,
          data: {
            stockItemId: changed.id,
            variantId: changed.variant_id,
            productId: changed.product_id,
            sellerId: changed.seller_id,
            maxPerBuyer: changed.max_per_buyer,
            since: changed.purchase_limit_since?.toISOString() ?? null,
            changedAt: now.toISOString(),
          },
        },
      ],
      trace,
      now,
    );
    return changed;
  });
  // The next batch plans from the row as it is now (its compare-and-set would miss the old state anyway).
  deps.knownStock.set(id, item);
  // Sold out or not, a limited item's requests are checked against the limit by a batch.
  if (item.max_per_buyer !== null) deps.soldOut.forget([id]);
  return toStockItemView(item);
}
