import type { ProductStatus } from '../../contracts/products.ts';
import { isUuid } from '../../platform/ids.ts';
import type { Queryable } from '../../platform/db/pool.ts';
import { coversInstant } from './pricing.ts';
import { selectVariantsForPurchase } from './sql.ts';

export const PURCHASE_VARIANTS_MAX = 200;

/** What cart and checkout need to know about a variant at an instant, without calling back later. */
export interface VariantForPurchase {
  variantId: string;
  productId: string;
  sellerId: string;
  productSku: string;
  sku: string;
  title: string;
  categoryId: string;
  /** Category ids from the root of the tree down to categoryId (for coupons restricted to a category). */
  categoryPath: string[];
  attributes: Record<string, string>;
  imageUrl: string | null;
  status: ProductStatus;
  /** Only a published product's variants may be put in a cart or bought. */
  published: boolean;
  productVersion: number;
  listPrice: { amount: number; currency: string };
  /** The price in effect at the instant asked, in the currency asked (the list currency by default); null when none. */
  price: {
    priceId: string;
    basePrice: number;
    discount: number;
    /** basePrice - discount: what one unit costs. */
    amount: number;
    currency: string;
    effectiveFrom: string;
    effectiveTo: string | null;
  } | null;
}

/** Variants with their product snapshot and effective price at `at`; unknown ids are left out of the map. */
export async function getVariantsForPurchase(
  db: Queryable,
  variantIds: readonly string[],
  at: Date,
  options: { currency?: string } = {},
): Promise<Map<string, VariantForPurchase>> {
  if (variantIds.length > PURCHASE_VARIANTS_MAX) throw new RangeError(`at most ${PURCHASE_VARIANTS_MAX} variants per call`);
  const ids = [...new Set(variantIds)].filter(isUuid);
  const result = new Map<string, VariantForPurchase>();
  if (ids.length === 0) return result;
  for (const r of await selectVariantsForPurchase(db, ids, at)) {
    const currency = options.currency ?? r.list_currency;
    const w = r.prices
      .map((p) => ({ ...p, from: new Date(p.effectiveFrom), to: p.effectiveTo === null ? null : new Date(p.effectiveTo) }))
      .find((p) => p.currency === currency && coversInstant({ effectiveFrom: p.from, effectiveTo: p.to }, at));
    result.set(r.variant_id, {
      variantId: r.variant_id,
      productId: r.product_id,
      sellerId: r.seller_id,
      productSku: r.product_sku,
      sku: r.variant_sku,
      title: r.title,
      categoryId: r.category_id,
      categoryPath: r.category_path,
      attributes: r.attributes,
      imageUrl: r.image_url,
      status: r.status,
      published: r.status === 'published',
      productVersion: r.version,
      listPrice: { amount: r.list_price, currency: r.list_currency },
      price: w
        ? {
            priceId: w.id,
            basePrice: w.basePrice,
            discount: w.discount,
            amount: w.basePrice - w.discount,
            currency: w.currency,
            effectiveFrom: w.from.toISOString(),
            effectiveTo: w.to?.toISOString() ?? null,
          }
        : null,
    });
  }
  return result;
}
