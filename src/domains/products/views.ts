import type { PriceWindow, ProductSnapshot } from '../../contracts/products.ts';
import { type PriceWindowRow, coversInstant, currentWindows, nextPriceChange } from './pricing.ts';
import type { ProductRecord } from './sql.ts';

/** Shapes of a product: the event snapshot, the buyer's view and the seller's view (pure functions). */

export function toPriceWindow(w: PriceWindowRow): PriceWindow {
  return {
    priceId: w.id,
    variantId: w.variantId,
    currency: w.currency,
    basePrice: w.basePrice,
    discount: w.discount,
    effectiveFrom: w.effectiveFrom.toISOString(),
    effectiveTo: w.effectiveTo?.toISOString() ?? null,
  };
}

/** The snapshot every product event carries; `at` decides which windows are still current or upcoming. */
export function toSnapshot(p: ProductRecord, at: Date): ProductSnapshot {
  const t = at.getTime();
  return {
    productId: p.id,
    sellerId: p.sellerId,
    sku: p.sku,
    title: p.title,
    description: p.description,
    categoryId: p.categoryId,
    categoryPath: p.categoryPath,
    status: p.status,
    version: p.version,
    variants: p.variants.map((v) => ({ variantId: v.id, sku: v.sku, attributes: v.attributes, listPrice: v.listPrice, position: v.position })),
    images: p.images,
    attributes: p.attributes,
    prices: p.prices
      .filter((w) => w.effectiveTo === null || w.effectiveTo.getTime() > t)
      .sort((a, b) => a.effectiveFrom.getTime() - b.effectiveFrom.getTime() || a.id.localeCompare(b.id))
      .map(toPriceWindow),
    createdAt: p.createdAt.toISOString(),
    updatedAt: p.updatedAt.toISOString(),
  };
}

export interface CurrentPriceView {
  price: { amount: number; currency: string };
  basePrice: { amount: number; currency: string };
  discount: { amount: number; currency: string };
  effectiveFrom: string;
  effectiveTo: string | null;
}

function currentPriceView(w: PriceWindowRow): CurrentPriceView {
  return {
    price: { amount: w.basePrice - w.discount, currency: w.currency },
    basePrice: { amount: w.basePrice, currency: w.currency },
    discount: { amount: w.discount, currency: w.currency },
    effectiveFrom: w.effectiveFrom.toISOString(),
    effectiveTo: w.effectiveTo?.toISOString() ?? null,
  };
}

export interface AvailabilityView {
  status: 'in_stock' | 'out_of_stock' | 'unknown';
  available: number | null;
  asOf: string | null;
  /** Most units one buyer may hold and buy (null: no limit). */
  maxPerBuyer: number | null;
}

export interface PublicProductView {
  id: string;
  sellerId: string;
  sku: string;
  title: string;
  description: string;
  category: { id: string; name: string; slug: string; path: { id: string; name: string; slug: string }[] };
  version: number;
  variants: {
    id: string;
    sku: string;
    attributes: Record<string, string>;
    listPrice: { amount: number; currency: string };
    /** The prices in effect now, one per currency. */
    currentPrices: CurrentPriceView[];
    availability: AvailabilityView;
  }[];
  images: ProductRecord['images'];
  attributes: ProductRecord['attributes'];
  createdAt: string;
  updatedAt: string;
}

export function toPublicView(p: ProductRecord, now: Date): PublicProductView {
  const current = currentWindows(p.prices, now);
  const leaf = p.categoryPath[p.categoryPath.length - 1];
  return {
    id: p.id,
    sellerId: p.sellerId,
    sku: p.sku,
    title: p.title,
    description: p.description,
    category: { id: p.categoryId, name: leaf?.name ?? '', slug: leaf?.slug ?? '', path: p.categoryPath },
    version: p.version,
    variants: p.variants.map((v) => {
      const a = p.availability.get(v.id);
      return {
        id: v.id,
        sku: v.sku,
        attributes: v.attributes,
        listPrice: v.listPrice,
        currentPrices: current.filter((w) => w.variantId === v.id).sort((x, y) => x.currency.localeCompare(y.currency)).map(currentPriceView),
        availability: a
          ? { status: a.available > 0 ? 'in_stock' : 'out_of_stock', available: a.available, asOf: a.asOf.toISOString(), maxPerBuyer: a.maxPerBuyer }
          : { status: 'unknown', available: null, asOf: null, maxPerBuyer: null },
      };
    }),
    images: p.images,
    attributes: p.attributes,
    createdAt: p.createdAt.toISOString(),
    updatedAt: p.updatedAt.toISOString(),
  };
}

/** A price window as the seller's API shows it: money as { amount, currency }, and whether it is in effect now. */
export interface PriceWindowView extends CurrentPriceView {
  priceId: string;
  variantId: string;
  current: boolean;
}

export function toPriceWindowView(w: PriceWindowRow, now: Date): PriceWindowView {
  return { priceId: w.id, variantId: w.variantId, ...currentPriceView(w), current: coversInstant(w, now) };
}

export interface SellerProductView extends PublicProductView {
  status: ProductRecord['status'];
  /** Price windows, newest first: every current one, every upcoming one (at most SNAPSHOT_PRICES_MAX live) and the last 200 closed. */
  priceWindows: PriceWindowView[];
}

export function toSellerView(p: ProductRecord, now: Date): SellerProductView {
  return {
    ...toPublicView(p, now),
    status: p.status,
    priceWindows: p.prices.map((w) => toPriceWindowView(w, now)),
  };
}

/** Until when a view built at `now` stays right as far as prices go (the next window boundary). */
export function pricesValidUntil(p: ProductRecord, now: Date): Date | undefined {
  return nextPriceChange(p.prices, now);
}
