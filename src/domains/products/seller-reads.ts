import type { ProductStatus } from '../../contracts/products.ts';
import { notFound } from '../../platform/http/errors.ts';
import type { ProductsDeps } from './deps.ts';
import { decodeListCursor, encodeListCursor } from './list-cursor.ts';
import { selectProduct, selectSellerPage } from './sql.ts';
import { type SellerProductView, toSellerView } from './views.ts';

/** A seller's own product in any status; someone else's product does not exist for them (404). */
export async function getOwnProduct(deps: ProductsDeps, sellerId: string, productId: string): Promise<SellerProductView> {
  const now = deps.clock.now();
  const record = await selectProduct(deps.pool, productId, { at: now, history: true, sellerId });
  if (!record) throw notFound('product');
  return toSellerView(record, now);
}

export async function listOwnProducts(deps: ProductsDeps, sellerId: string, query: { status?: ProductStatus; cursor?: string; limit: number }) {
  const scope = `products:seller:${sellerId}:${query.status ?? ''}`;
  const after = decodeListCursor(scope, query.cursor);
  const rows = await selectSellerPage(deps.pool, { sellerId, status: query.status, after, limit: query.limit + 1 });
  const page = rows.slice(0, query.limit);
  const last = page[page.length - 1];
  return {
    items: page.map((r) => ({
      id: r.id,
      sku: r.sku,
      title: r.title,
      categoryId: r.category_id,
      status: r.status,
      version: r.version,
      createdAt: r.created_at.toISOString(),
      updatedAt: r.updated_at.toISOString(),
    })),
    nextCursor: rows.length > query.limit && last ? encodeListCursor(scope, last) : null,
  };
}
