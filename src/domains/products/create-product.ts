import { withTransaction } from '../../platform/db/pool.ts';
import { AppError } from '../../platform/http/errors.ts';
import { newId } from '../../platform/ids.ts';
import type { Trace } from '../../platform/messaging/envelope.ts';
import { mappingDatabaseErrors } from './db-errors.ts';
import type { ProductsDeps } from './deps.ts';
import { emit, productEvent } from './events.ts';
import { assertDistinctSkus, attributeRows, imageRows, variantRows, withNfcSkus } from './new-parts.ts';
import type { CreateProductBody } from './schemas.ts';
import { categoryExists, holdCategoryTree, insertAttributes, insertImages, insertPrices, insertProducts, insertVariants, selectProduct } from './sql.ts';
import { type SellerProductView, toSellerView, toSnapshot } from './views.ts';

/**
 * Creates a draft product with its variants (each opening its first price window at its list
 * price), images and attributes, and announces it with products.product_created.v1.
 */
export async function createProduct(deps: ProductsDeps, sellerId: string, given: CreateProductBody, trace: Trace | null): Promise<SellerProductView> {
  const body = withNfcSkus(given);
  const productId = newId();
  assertDistinctSkus(
    body.variants.map((v) => v.sku),
    'variants',
  );
  return mappingDatabaseErrors(() =>
    withTransaction(deps.pool, async (tx) => {
      await holdCategoryTree(tx);
      // The clock is read once the tree is held, as every other product write reads it: a create
      // that waited for a tree change commits after it, and its dates and first windows say so.
      const now = deps.clock.now();
      if (!(await categoryExists(tx, body.categoryId))) throw new AppError('UNPROCESSABLE', 'categoryId does not name a category');
      const { variants, prices } = variantRows(body.variants, { productId, sellerId, now, firstPosition: 0 });
      await insertProducts(tx, [
        { id: productId, sellerId, sku: body.sku, title: body.title, description: body.description ?? '', categoryId: body.categoryId, status: 'draft', version: 1, createdAt: now },
      ]);
      await insertVariants(tx, variants);
      await insertPrices(tx, prices);
      await insertImages(tx, imageRows(body.images ?? [], productId, now));
      await insertAttributes(tx, attributeRows(body.attributes ?? [], productId, now));
      const record = await selectProduct(tx, productId, { at: now, history: true });
      if (!record) throw new Error('the product just inserted cannot be read back');
      await emit(tx, [productEvent(toSnapshot(record, now), { kind: 'created' })], trace, now);
      return toSellerView(record, now);
    }),
  );
}
