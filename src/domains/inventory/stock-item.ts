import type { StockLevel } from '../../contracts/inventory.ts';
import { AppError } from '../../platform/http/errors.ts';

/** A stock_items row as the use cases read it. */
export interface StockItemRow {
  id: string;
  product_id: string;
  variant_id: string;
  seller_id: string;
  sku: string;
  total_quantity: number;
  available_quantity: number;
  reserved_quantity: number;
  version: number;
  created_at: Date;
  updated_at: Date;
  /** The seller's limit of units per buyer, counted since purchase_limit_since; null when none. */
  max_per_buyer: number | null;
  purchase_limit_since: Date | null;
}

export const STOCK_ITEM_COLUMNS =
  'id, product_id, variant_id, seller_id, sku, total_quantity, available_quantity, reserved_quantity, version, created_at, updated_at, max_per_buyer, purchase_limit_since';

export function levelOf(row: Pick<StockItemRow, 'id' | 'variant_id' | 'available_quantity' | 'reserved_quantity' | 'total_quantity' | 'version'>): StockLevel {
  return {
    stockItemId: row.id,
    variantId: row.variant_id,
    available: row.available_quantity,
    reserved: row.reserved_quantity,
    total: row.total_quantity,
    version: row.version,
  };
}

export interface Unavailable {
  variantId: string;
  requested: number;
  available: number;
}

/** The one "not enough stock" answer: which variants, how many were asked for, how many were left. */
export function outOfStock(unavailable: Unavailable[]): AppError {
  const detail = unavailable
    .slice(0, 10)
    .map((u) => `variant ${u.variantId}: ${u.requested} requested, ${u.available} available`)
    .join('; ');
  return new AppError('OUT_OF_STOCK', detail, { unavailable: unavailable.slice(0, 50) });
}

export interface OverLimit {
  variantId: string;
  maxPerBuyer: number;
  /** Units the buyer holds or bought of the item since the limit was set. */
  held: number;
  requested: number;
}

/** A buyer would hold or have bought more units of an item than its seller's limit allows. */
export function purchaseLimitExceeded(over: OverLimit): AppError {
  const left = Math.max(0, over.maxPerBuyer - over.held);
  return new AppError(
    'PURCHASE_LIMIT_EXCEEDED',
    `variant ${over.variantId}: at most ${over.maxPerBuyer} per buyer; you hold or bought ${over.held}, so ${left} more can be reserved, not ${over.requested}`,
    { ...over },
  );
}

export function isOutOfStock(error: unknown): error is AppError & { extensions: { unavailable: Unavailable[] } } {
  return error instanceof AppError && error.code === 'OUT_OF_STOCK' && Array.isArray(error.extensions?.unavailable);
}

/** PostgreSQL errors worth one more try of the whole transaction: a duplicate key raced in, or a deadlock. */
export function isRetryable(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return code === '23505' || code === '40P01' || code === '40001';
}

export const TRANSACTION_ATTEMPTS_MAX = 3;
