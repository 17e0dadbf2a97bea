import type { Queryable, Tx } from '../../platform/db/pool.ts';
import { withTransaction } from '../../platform/db/pool.ts';
import { AppError } from '../../platform/http/errors.ts';
import { isUuid, newId } from '../../platform/ids.ts';
import type { Trace } from '../../platform/messaging/envelope.ts';
import { appendEvents, type NewEvent } from '../../platform/messaging/outbox.ts';
import type { InventoryDeps } from './deps.ts';
import { STOCK_ITEM_COLUMNS, type StockItemRow, TRANSACTION_ATTEMPTS_MAX, isRetryable, levelOf } from './stock-item.ts';
import { charactersWithin } from '../../platform/unicode.ts';
import { STOCK_QUANTITY_MAX } from './adjust-stock.ts';

/** A variant as the products domain describes it, enough to create its stock item. */
export interface VariantRef {
  variantId: string;
  productId: string;
  sellerId: string;
  sku: string;
}

export interface StockReceipt extends VariantRef {
  /** Units received (0 only creates the stock item). */
  quantity: number;
}

export interface ReceiveOptions {
  /**
   * The caller's id of this receipt (a seed batch, a purchase order; a UUID it made and reuses on
   * every retry): each variant is received at most once under it, so repeating the call is a no-op
   * and repeating a call that failed half-way receives only what is missing.
   */
  reference?: string | undefined;
  /** The caller's trace, carried by the receipt's events; the seed has none. */
  trace?: Trace | null;
}

/** Rows per transaction: large enough for the seed to be fast, small enough to keep locks short. */
export const RECEIPT_CHUNK_SIZE = 5000;
export const RECEIPT_QUANTITY_MAX = 1_000_000;
export const RECEIPT_CHUNKS_IN_FLIGHT = 2;

/**
 * Creates the stock items of variants that have none, and emits stock_item_created for those that
 * were new. Idempotent: a variant that has its item keeps it (its SKU copy follows the product's).
 */
export async function createStockItems(tx: Queryable, variants: readonly VariantRef[], now: Date): Promise<NewEvent[]> {
  if (variants.length === 0) return [];
  const { rows } = await tx.query<StockItemRow & { inserted: boolean }>(
    `INSERT INTO stock_items (id, product_id, variant_id, seller_id, sku, created_at, updated_at)
     SELECT v.id, v.product_id, v.variant_id, v.seller_id, v.sku, $6, $6
       FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::text[]) AS v(id, product_id, variant_id, seller_id, sku)
     ON CONFLICT (variant_id) DO UPDATE SET sku = EXCLUDED.sku, updated_at = EXCLUDED.updated_at
      WHERE stock_items.sku <> EXCLUDED.sku AND stock_items.product_id = EXCLUDED.product_id
     RETURNING ${STOCK_ITEM_COLUMNS}, (xmax = 0) AS inserted`,
    [variants.map(() => newId()), variants.map((v) => v.productId), variants.map((v) => v.variantId), variants.map((v) => v.sellerId), variants.map((v) => v.sku), now],
  );
  return rows
    .filter((r) => r.inserted)
    .map((r) => ({
      type: 'inventory.stock_item_created.v1',
      aggregateType: 'stock_item',
      aggregateId: r.id,
      data: { ...levelOf(r), productId: r.product_id, sellerId: r.seller_id, sku: r.sku, createdAt: now.toISOString() },
    }));
}

function checkReceipts(receipts: readonly StockReceipt[]): Map<string, StockReceipt> {
  const byVariant = new Map<string, StockReceipt>();
  for (const r of receipts) {
    if (!isUuid(r.variantId) || !isUuid(r.productId) || !isUuid(r.sellerId)) {
      throw new AppError('VALIDATION_FAILED', 'variantId, productId and sellerId must be UUIDs');
    }
    if (typeof r.sku !== 'string' || !charactersWithin(r.sku, 1, 64)) throw new AppError('VALIDATION_FAILED', 'sku must hold 1 to 64 characters');
    if (!Number.isInteger(r.quantity) || r.quantity < 0 || r.quantity > RECEIPT_QUANTITY_MAX) {
      throw new AppError('VALIDATION_FAILED', `quantity must be an integer from 0 to ${RECEIPT_QUANTITY_MAX}`);
    }
    const variantId = r.variantId.toLowerCase();
    const seen = byVariant.get(variantId);
    if (seen && (seen.productId !== r.productId || seen.sellerId !== r.sellerId)) {
      throw new AppError('VALIDATION_FAILED', `variant ${variantId} is given with two different products or sellers`);
    }
    const quantity = (seen?.quantity ?? 0) + r.quantity;
    // Lines of one variant add up: past the largest quantity an item holds, a receipt is refused as
    // one for an item that has stock is (a new item's was a database error).
    if (quantity > STOCK_QUANTITY_MAX) throw new AppError('CONFLICT', `a stock item holds at most ${STOCK_QUANTITY_MAX} units: variant ${variantId} is given ${quantity}`);
    byVariant.set(variantId, { ...r, variantId, quantity });
  }
  return byVariant;
}

/**
 * Bulk receipt of stock (the seed, imports): in chunks, each one transaction of a few set-based
 * statements, whatever the number of variants. Every receipt is a stock_movements row. Each chunk
 * commits on its own. Without a reference a call is not idempotent: calling again receives the
 * stock again. With one, a variant already received under it is skipped (the movement records the
 * reference, unique per item), and `received` counts only what this call added.
 */
export async function receiveStock(
  deps: InventoryDeps,
  receipts: readonly StockReceipt[],
  options: ReceiveOptions = {},
): Promise<{ created: number; received: number }> {
  const reference = options.reference?.toLowerCase() ?? null;
  if (reference !== null && !isUuid(reference)) throw new AppError('VALIDATION_FAILED', 'reference must be a UUID');
  const all = [...checkReceipts(receipts).values()];
  const chunks: StockReceipt[][] = [];
  for (let start = 0; start < all.length; start += RECEIPT_CHUNK_SIZE) {
    chunks.push(all.slice(start, start + RECEIPT_CHUNK_SIZE).sort((a, b) => (a.variantId < b.variantId ? -1 : 1)));
  }
  let created = 0;
  let received = 0;
  let next = 0;
  // Chunks hold distinct variants, so two in flight never wait for each other; while one is in the
  // database the next one is being prepared.
  await Promise.all(
    Array.from({ length: Math.min(RECEIPT_CHUNKS_IN_FLIGHT, chunks.length) }, async () => {
      for (let chunk = chunks[next++]; chunk; chunk = chunks[next++]) {
        const rows = chunk;
        const done = await receiveChunkWithRetry(deps, rows, reference, options.trace ?? null);
        created += done.created;
        received += done.received;
        deps.soldOut.forget(rows.filter((r) => r.quantity > 0).map((r) => r.variantId));
      }
    }),
  );
  return { created, received };
}

async function receiveChunkWithRetry(deps: InventoryDeps, chunk: StockReceipt[], reference: string | null, trace: Trace | null): Promise<{ created: number; received: number }> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await withTransaction(deps.pool, (tx) => receiveChunk(deps, tx, chunk, reference, trace));
    } catch (error) {
      // A concurrent receipt under the same reference won the race (unique movement), or a deadlock.
      if (attempt < TRANSACTION_ATTEMPTS_MAX && isRetryable(error)) continue;
      throw error;
    }
  }
}

/**
 * New variants are inserted with their stock in one statement (announced by stock_item_created,
 * which carries the quantities after the receipt); variants that have an item get an UPDATE and a
 * stock_adjusted event. Either way every unit received is one 'adjustment' movement (reason
 * 'received', reference_id the receipt's reference), so the movements still add up to the total.
 * With a reference, items that already have their movement under it are left out (a new item
 * cannot have one).
 */
async function receiveChunk(deps: InventoryDeps, tx: Tx, chunk: StockReceipt[], reference: string | null, trace: Trace | null): Promise<{ created: number; received: number }> {
  const now = deps.clock.now();
  const { rows: created } = await tx.query<StockItemRow>(
    `INSERT INTO stock_items (id, product_id, variant_id, seller_id, sku, total_quantity, available_quantity, version, created_at, updated_at)
     SELECT r.id, r.product_id, r.variant_id, r.seller_id, r.sku, r.quantity, r.quantity, CASE WHEN r.quantity > 0 THEN 1 ELSE 0 END, $7, $7
       FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::text[], $6::int[]) AS r(id, product_id, variant_id, seller_id, sku, quantity)
     ON CONFLICT (variant_id) DO NOTHING
     RETURNING ${STOCK_ITEM_COLUMNS}`,
    [chunk.map(() => newId()), chunk.map((r) => r.productId), chunk.map((r) => r.variantId), chunk.map((r) => r.sellerId), chunk.map((r) => r.sku), chunk.map((r) => r.quantity), now],
  );
  const isNew = new Set(created.map((r) => r.variant_id));
  const existing = chunk.filter((r) => !isNew.has(r.variantId));
  let incoming = existing.filter((r) => r.quantity > 0);
  let adjusted: StockItemRow[] = [];
  const totals = new Map<string, number>();
  if (existing.length > 0) {
    const { rows: locked } = await tx.query<{ variant_id: string; total_quantity: number; product_id: string; seller_id: string }>(
      'SELECT variant_id, total_quantity, product_id, seller_id FROM stock_items WHERE variant_id = ANY($1::uuid[]) ORDER BY id FOR UPDATE',
      [existing.map((r) => r.variantId)],
    );
    const receiptOf = new Map(existing.map((r) => [r.variantId, r]));
    for (const r of locked) {
      // The item is the variant's as the catalog announced it: a receipt naming another seller or
      // product is refused, not added to that seller's stock (found by a review), also one of no
      // units, which would be answered as if it had made the item.
      const receipt = receiptOf.get(r.variant_id);
      if (receipt && (receipt.sellerId.toLowerCase() !== r.seller_id || receipt.productId.toLowerCase() !== r.product_id)) {
        throw new AppError('CONFLICT', `variant ${r.variant_id} is stocked for another seller or product than the receipt names`);
      }
      totals.set(r.variant_id, r.total_quantity);
    }
  }
  if (incoming.length > 0) {
    if (reference !== null) {
      // A statement of its own, after the locks: its snapshot sees what a concurrent receipt committed.
      const { rows: done } = await tx.query<{ variant_id: string }>(
        `SELECT s.variant_id FROM stock_items s
          WHERE s.variant_id = ANY($1::uuid[])
            AND EXISTS (SELECT 1 FROM stock_movements m WHERE m.stock_item_id = s.id AND m.kind = 'adjustment' AND m.reference_id = $2)`,
        [incoming.map((r) => r.variantId), reference],
      );
      const received = new Set(done.map((r) => r.variant_id));
      incoming = incoming.filter((r) => !received.has(r.variantId));
    }
  }
  // Quantities are PostgreSQL integers: a receipt past the largest is refused, not an overflow error.
  const over = incoming.find((r) => (totals.get(r.variantId) ?? 0) + r.quantity > STOCK_QUANTITY_MAX);
  if (over) {
    throw new AppError('CONFLICT', `a stock item holds at most ${STOCK_QUANTITY_MAX} units: variant ${over.variantId} has ${totals.get(over.variantId)}`);
  }
  if (incoming.length > 0) {
    ({ rows: adjusted } = await tx.query<StockItemRow>(
      `UPDATE stock_items s
          SET total_quantity = s.total_quantity + r.quantity, available_quantity = s.available_quantity + r.quantity,
              version = s.version + 1, updated_at = $3
         FROM unnest($1::uuid[], $2::int[]) AS r(variant_id, quantity)
        WHERE s.variant_id = r.variant_id
       RETURNING ${STOCK_ITEM_COLUMNS.split(', ').map((c) => `s.${c}`).join(', ')}`,
      [incoming.map((r) => r.variantId), incoming.map((r) => r.quantity), now],
    ));
  }
  const quantityOf = new Map(chunk.map((r) => [r.variantId, r.quantity]));
  const moved = [...created.filter((r) => r.total_quantity > 0), ...adjusted];
  const movementIds = new Map(moved.map((r) => [r.id, newId()]));
  if (moved.length > 0) {
    await tx.query(
      `INSERT INTO stock_movements (id, stock_item_id, change, kind, reason, reference_id, created_at)
       SELECT m.id, m.stock_item_id, m.change, 'adjustment', 'received', $5, $4
         FROM unnest($1::uuid[], $2::uuid[], $3::int[]) AS m(id, stock_item_id, change)`,
      [moved.map((r) => movementIds.get(r.id)), moved.map((r) => r.id), moved.map((r) => quantityOf.get(r.variant_id) ?? 0), now, reference],
    );
  }
  const events: NewEvent[] = [
    ...created.map((r) => ({
      type: 'inventory.stock_item_created.v1',
      aggregateType: 'stock_item',
      aggregateId: r.id,
      data: { ...levelOf(r), productId: r.product_id, sellerId: r.seller_id, sku: r.sku, createdAt: now.toISOString() },
    })),
    ...adjusted.map((r) => ({
      type: 'inventory.stock_adjusted.v1',
      aggregateType: 'stock_item',
      aggregateId: r.id,
      data: {
        ...levelOf(r),
        productId: r.product_id,
        sellerId: r.seller_id,
        movementId: movementIds.get(r.id) as string,
        change: quantityOf.get(r.variant_id) ?? 0,
        reason: 'received',
        note: null,
        adjustedBy: null,
        adjustedAt: now.toISOString(),
      },
    })),
  ];
  await appendEvents(tx, 'inventory', events, trace, now);
  return { created: created.length, received: moved.length };
}
