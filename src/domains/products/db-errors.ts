import { AppError } from '../../platform/http/errors.ts';

interface PgError {
  code: string;
  constraint?: string;
}

function isPgError(error: unknown): error is PgError {
  return typeof error === 'object' && error !== null && typeof (error as { code?: unknown }).code === 'string' && !(error instanceof AppError);
}

const SKU_CONSTRAINTS: Record<string, string> = {
  products_seller_sku_key: 'one of your products already uses this SKU',
  product_variants_seller_sku_key: 'one of your variants already uses this SKU',
  product_variants_product_sku_key: 'two variants of the product share a SKU',
};

/**
 * Turns the database's verdicts into the error catalogue: the constraints decide (so concurrent
 * writers cannot both win), and the client gets a stable code instead of SQL.
 */
export function mapDatabaseError(error: unknown): unknown {
  if (!isPgError(error)) return error;
  if (error.code === '23505' && error.constraint && SKU_CONSTRAINTS[error.constraint]) {
    return new AppError('SKU_TAKEN', SKU_CONSTRAINTS[error.constraint]);
  }
  if (error.code === '23P01' && error.constraint === 'product_pricing_no_overlap') {
    return new AppError('PRICE_WINDOW_OVERLAP', 'the window overlaps another price window of this variant and currency');
  }
  if (error.code === '23503' && error.constraint === 'products_category_id_fkey') {
    return new AppError('UNPROCESSABLE', 'categoryId does not name a category');
  }
  if (error.code === '23505' && error.constraint === 'categories_slug_key') {
    return new AppError('SLUG_TAKEN', 'another category has this slug');
  }
  if (error.code === '23503' && error.constraint === 'categories_parent_id_fkey') {
    return new AppError('UNPROCESSABLE', 'parentId does not name a category');
  }
  return error;
}

/** Attempts of a transaction that PostgreSQL chose as a deadlock's victim. */
const DEADLOCK_ATTEMPTS_MAX = 3;

/**
 * Runs `work` (a whole transaction), rethrowing database errors as catalogue errors where one
 * applies. A transaction killed as a deadlock's victim runs again: deferrable SKU constraints
 * (migration 0004) make inserters of one key wait for each other at the statement's end, and when
 * the key's first holder rolls back, two waiters can deadlock; on the next attempt the survivor's
 * row is there, and the answer is the SKU_TAKEN it should have been.
 */
export async function mappingDatabaseErrors<T>(work: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await work();
    } catch (error) {
      if (attempt < DEADLOCK_ATTEMPTS_MAX && isPgError(error) && error.code === '40P01') continue;
      throw mapDatabaseError(error);
    }
  }
}
