import type { CartDeps } from './deps.ts';
import type { CatalogVariant, CouponLineInput, CouponOutcomeView } from './ports.ts';
import type { CartItemRow } from './sql.ts';

/**
 * A cart's items with today's prices and stock, and what its coupons would take off. Nothing here
 * is stored: the cart keeps intent only; prices are fixed at checkout.
 */

export interface PricedItem {
  item: CartItemRow;
  variant: CatalogVariant | undefined;
  available: number;
  /** Published, priced now, in the cart's currency: counted in totals and coupons. */
  purchasable: boolean;
  unitPrice: number | null;
  discount: number;
}

export interface PricedCart {
  /** The currency asked, or the list currency of the earliest item; null for an empty cart. */
  currency: string | null;
  items: PricedItem[];
  coupons: CouponOutcomeView[];
  subtotal: number;
  discountTotal: number;
}

/** Catalog variants and available stock by variant id, as asked for a moment ago in this request. */
export interface SaleFacts {
  /** The variants asked about: one missing from `available` has no stock item (nothing available). */
  asked: ReadonlySet<string>;
  /** Priced in each variant's list currency. */
  variants: Map<string, CatalogVariant>;
  available: Map<string, number>;
  /** The seller's limit of units per buyer, by variant, where there is one. */
  maxPerBuyer: Map<string, number>;
}

/** The currency a cart is priced in unless the buyer names one: the list currency of its earliest item the catalog knows. */
export function cartCurrencyOf(ids: readonly string[], variants: ReadonlyMap<string, CatalogVariant>): string | undefined {
  return ids.map((id) => variants.get(id)).find((v) => v !== undefined)?.listPrice.currency;
}

async function variantsIn(
  deps: CartDeps,
  ids: string[],
  now: Date,
  currency: string | undefined,
  known: Map<string, CatalogVariant> | undefined,
): Promise<{ currency: string | null; variants: Map<string, CatalogVariant> }> {
  // Variants asked for without a currency are the first answer below, when every one is there.
  const variants = known ?? (await deps.catalog.getVariantsForPurchase(ids, now, currency ? { currency } : undefined));
  if (currency) return { currency, variants };
  const cartCurrency = cartCurrencyOf(ids, variants);
  if (!cartCurrency) return { currency: null, variants };
  // Prices came in each variant's list currency (a variant without a price there now was asked in
  // it all the same); ask again only when the cart mixes list currencies.
  if ([...variants.values()].every((v) => v.listPrice.currency === cartCurrency)) return { currency: cartCurrency, variants };
  return { currency: cartCurrency, variants: await deps.catalog.getVariantsForPurchase(ids, now, { currency: cartCurrency }) };
}

export async function priceCart(
  deps: CartDeps,
  buyerId: string,
  items: readonly CartItemRow[],
  codes: readonly string[],
  currencyAsked?: string,
  /** Sale facts of every item's variant, asked for in this request already (see addItem). */
  known?: SaleFacts,
): Promise<PricedCart> {
  if (items.length === 0) {
    const coupons = codes.map((code) => ({ code, couponId: null, valid: false as const, reason: 'no_eligible_items', message: 'the cart is empty' }));
    return { currency: currencyAsked ?? null, items: [], coupons, subtotal: 0, discountTotal: 0 };
  }
  const now = deps.clock.now();
  const ids = items.map((i) => i.variantId);
  // The facts asked for in this request cover every line (no line came meanwhile): their stock is
  // used as it is, and their prices too unless another currency than the list one is asked for.
  const covered = known !== undefined && ids.every((id) => known.asked.has(id));
  const [{ currency, variants }, available] = await Promise.all([
    variantsIn(deps, ids, now, currencyAsked, covered && currencyAsked === undefined ? known.variants : undefined),
    covered ? known.available : deps.stock.getAvailability(ids).then((stock) => new Map(stock.map((s) => [s.variantId, s.available]))),
  ]);
  const priced: PricedItem[] = items.map((item) => {
    const variant = variants.get(item.variantId);
    const purchasable = Boolean(variant?.published && variant.price && variant.price.currency === currency);
    return { item, variant, available: available.get(item.variantId) ?? 0, purchasable, unitPrice: purchasable ? variant!.price!.amount : null, discount: 0 };
  });
  const lines: CouponLineInput[] = priced
    .filter((p) => p.purchasable)
    .map((p) => ({
      lineId: p.item.id,
      productId: p.item.productId,
      variantId: p.item.variantId,
      sellerId: p.variant!.sellerId,
      categoryId: p.variant!.categoryId ?? null,
      categoryPath: p.variant!.categoryPath ?? [],
      unitPrice: p.unitPrice!,
      quantity: p.item.quantity,
    }));
  const subtotal = lines.reduce((a, l) => a + l.unitPrice * l.quantity, 0);
  if (codes.length === 0 || currency === null) {
    const coupons = codes.map((code) => ({ code, couponId: null, valid: false as const, reason: 'no_eligible_items', message: 'no item of the cart has a price now' }));
    return { currency, items: priced, coupons, subtotal, discountTotal: 0 };
  }
  const evaluation = await deps.coupons.evaluate({ codes, buyerId, currency, lines });
  const byLine = new Map(evaluation.lines.map((l) => [l.lineId, l.discountAmount]));
  for (const p of priced) p.discount = byLine.get(p.item.id) ?? 0;
  return { currency, items: priced, coupons: evaluation.coupons, subtotal, discountTotal: evaluation.discountAmount };
}
