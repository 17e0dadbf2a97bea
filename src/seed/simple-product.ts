import type { ProductsApi } from '../domains/products/index.ts';
import { newId } from '../platform/ids.ts';

export interface SimpleProduct {
  productId: string;
  variantIds: string[];
  /** The variants' SKUs, in the order of variantIds. */
  skus: string[];
  categoryId: string;
}

/**
 * One product with `variants` variants, each priced `price` (minor units) in `currency` from now
 * on, imported through the products domain's public API with its events (the other domains learn
 * of it as of any product): for benchmarks and tests that need a real catalog item, published or
 * a draft. Files it under the first category there is, made when there is none.
 */
export async function importSimpleProduct(
  products: Pick<ProductsApi, 'importProducts' | 'importCategories' | 'listCategories'>,
  input: { sellerId: string; status?: 'draft' | 'published'; variants?: number; price?: number; currency?: string; title?: string; now?: Date },
): Promise<SimpleProduct> {
  let categoryId = (await products.listCategories())[0]?.id;
  if (!categoryId) {
    categoryId = newId();
    await products.importCategories([{ id: categoryId, parentId: null, name: 'General', slug: `general-${categoryId.slice(-12)}`, position: 0 }]);
  }
  const productId = newId();
  const sku = `P-${productId.slice(-12).toUpperCase()}`;
  const currency = input.currency ?? 'USD';
  const price = input.price ?? 1000;
  const now = input.now ?? new Date();
  const variants = Array.from({ length: input.variants ?? 1 }, (_, i) => ({
    id: newId(),
    sku: `${sku}-${i + 1}`,
    attributes: { size: String(40 + i) },
    listPrice: { amount: price, currency },
  }));
  await products.importProducts(
    [
      {
        id: productId,
        sellerId: input.sellerId,
        sku,
        title: input.title ?? 'Simple product',
        description: '',
        categoryId,
        status: input.status ?? 'published',
        createdAt: now,
        variants,
        images: [],
        attributes: [],
        prices: variants.map((v) => ({ id: newId(), variantId: v.id, currency, basePrice: price, discount: 0, effectiveFrom: now, effectiveTo: null })),
      },
    ],
    { actorId: input.sellerId },
  );
  return { productId, variantIds: variants.map((v) => v.id), skus: variants.map((v) => v.sku), categoryId };
}
