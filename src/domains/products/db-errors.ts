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

/** Runs `work`, rethrowing database errors as catalogue errors where one applies. */
export async function mappingDatabaseErrors<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    throw mapDatabaseError(error);
  }
}
