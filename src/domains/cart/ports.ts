/**
 * What the cart asks other domains, as small interfaces: the real products, inventory and coupons
 * APIs satisfy them structurally and are wired in src/domains.ts.
 */

export interface CatalogVariant {
  variantId: string;
  productId: string;
  sellerId: string;
  sku: string;
  title: string;
  attributes: Record<string, string>;
  imageUrl: string | null;
  /** Only a published product's variants may be put in a cart. */
  published: boolean;
  /** For coupons restricted to categories; absent when the catalog does not say. */
  categoryId?: string | null;
  /** The category's ancestors and itself, from the root (a coupon for a category covers those under it). */
  categoryPath?: string[];
  listPrice: { amount: number; currency: string };
  /** The unit price in effect now, in the currency asked; null when there is none. */
  price: { amount: number; currency: string } | null;
}

export interface CatalogReader {
  /** Unknown variants are absent from the map. */
  getVariantsForPurchase(variantIds: readonly string[], at: Date, options?: { currency?: string }): Promise<Map<string, CatalogVariant>>;
}

export interface StockReader {
  /** Variants without stock are left out. */
  getAvailability(variantIds: readonly string[]): Promise<{ variantId: string; available: number; maxPerBuyer: number | null }[]>;
}

export interface CouponLineInput {
  lineId: string;
  productId: string;
  variantId: string;
  sellerId: string;
  categoryId: string | null;
  categoryPath?: string[];
  unitPrice: number;
  quantity: number;
}

export type CouponOutcomeView =
  | { code: string; couponId: string; valid: true; discountAmount: number; lines: { lineId: string; discountAmount: number }[] }
  | { code: string; couponId: string | null; valid: false; reason: string; message: string };

export interface CouponEvaluator {
  evaluate(input: { codes: readonly string[]; buyerId: string; currency: string; lines: readonly CouponLineInput[] }): Promise<{
    coupons: CouponOutcomeView[];
    lines: { lineId: string; discountAmount: number }[];
    discountAmount: number;
  }>;
}
