import type { ProductStatus } from '../../contracts/products.ts';
import { isUuid } from '../../platform/ids.ts';
import type { Queryable } from '../../platform/db/pool.ts';
import { coversInstant } from './pricing.ts';
import type { Clock } from '../../platform/clock.ts';
import { LruCache } from './lru-cache.ts';
import { type PurchaseRow, selectVariantsForPurchase } from './sql.ts';

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
  /** Whether a price window of any currency covers the instant asked: the variant is for sale then. */
  pricedNow: boolean;
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

/** The variant as of `at`: its snapshot and the price window covering `at` in `currency`, if any. */
function toVariant(r: PurchaseRow, at: Date, currency?: string): VariantForPurchase {
  const wanted = currency ?? r.list_currency;
  const inEffect = r.prices
    .map((p) => ({ ...p, from: new Date(p.effectiveFrom), to: p.effectiveTo === null ? null : new Date(p.effectiveTo) }))
    .filter((p) => coversInstant({ effectiveFrom: p.from, effectiveTo: p.to }, at));
  const w = inEffect.find((p) => p.currency === wanted);
  return {
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
    pricedNow: inEffect.length > 0,
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
  };
}

function checkedIds(variantIds: readonly string[]): string[] {
  if (variantIds.length > PURCHASE_VARIANTS_MAX) throw new RangeError(`at most ${PURCHASE_VARIANTS_MAX} variants per call`);
  return [...new Set(variantIds)].filter(isUuid);
}

/** Whether a variant can be bought now: for sale, its product not published, or no price in effect. */
export type SaleState = 'for_sale' | 'not_published' | 'no_price';

/** For sale: published, with a price in effect in some currency (a cart or checkout names which). */
export function saleStateOf(v: Pick<VariantForPurchase, 'published' | 'pricedNow'>): SaleState {
  if (!v.published) return 'not_published';
  return v.pricedNow ? 'for_sale' : 'no_price';
}

export interface PurchaseReadOptions {
  /** The price in this currency (the variant's list currency by default). */
  currency?: string;
  /** Read the database, not this process's cache (checkout fixes prices from the source). */
  fresh?: boolean;
}

/** The first instant after `now` at which a price window of the row starts or ends (its price may change then). */
/** How near the clock an instant must be to be answered from the cache, either side. */
const NOW_WITHIN_MS = 1000;

function nextBoundaryMs(r: PurchaseRow, nowMs: number): number {
  let next = Number.POSITIVE_INFINITY;
  for (const w of r.prices) {
    for (const t of [Date.parse(w.effectiveFrom), w.effectiveTo === null ? Number.NaN : Date.parse(w.effectiveTo)]) {
      if (t > nowMs && t < next) next = t;
    }
  }
  return next;
}

/**
 * Per-process cache of what cart and checkout ask the catalog on every request: the purchase rows
 * of variants (snapshot and the current and upcoming price windows), each kept until a price window
 * boundary passes, for at most ttlMs, and dropped when its product changes: by the writes of this
 * process at once, and by the products_cache notifications of every products event at commit.
 * Stock level changes do not touch these rows, so the (frequent) availability notifications leave
 * them alone. While notifications cannot arrive (`coherent` false) nothing is kept. A read that
 * overlapped an invalidation is returned but not kept.
 */
export class PurchaseCatalog {
  readonly #rows: LruCache<PurchaseRow>;
  readonly #variantsOf = new Map<string, Set<string>>();
  readonly #saleStates = new WeakMap<PurchaseRow, SaleState>();
  /** Reads of rows for the cache in flight, per variant, with the generation they started in. */
  readonly #loading = new Map<string, { generation: number; rows: Promise<ReadonlyMap<string, PurchaseRow>> }>();
  #generation = 0;
  coherent = false;
  hits = 0;
  misses = 0;

  constructor(
    readonly db: Queryable,
    readonly clock: Clock,
    readonly options: { entriesMax: number; ttlMs: number },
  ) {
    this.#rows = new LruCache(options.entriesMax, () => clock.now().getTime());
  }

  /**
   * Whether each variant is for sale now (its product published, a price of its list currency in
   * effect), from this process's cache alone, without a wait: undefined when one of them is not
   * cached (then ask `get`). For hot paths that only need to know a variant is for sale (a buyer's
   * reservation in a flash sale). A cached row is kept no longer than its next price boundary, so
   * its price now is known.
   */
  saleStateNow(variantIds: readonly string[]): Map<string, SaleState> | undefined {
    if (!this.coherent) return undefined;
    const result = new Map<string, SaleState>();
    for (const id of variantIds) {
      const row = this.#rows.get(id);
      if (!row) return undefined;
      // A row leaves the cache at its next price boundary, so its state is the same for as long as
      // it is held: worked out once per row (a flash sale asks it on every request).
      let state = this.#saleStates.get(row);
      if (state === undefined) {
        state = saleStateOf(toVariant(row, this.clock.now()));
        this.#saleStates.set(row, state);
      }
      result.set(id, state);
    }
    this.hits += variantIds.length;
    return result;
  }

  /** Unknown variants are left out. `fresh` reads the database whatever is cached (and keeps what it read). */
  async get(variantIds: readonly string[], at: Date, options: PurchaseReadOptions = {}): Promise<Map<string, VariantForPurchase>> {
    const ids = checkedIds(variantIds);
    const result = new Map<string, VariantForPurchase>();
    if (ids.length === 0) return result;
    const nowMs = this.clock.now().getTime();
    // Only "now" is cached: a question about another instant goes to the database.
    const cacheable = this.coherent && Math.abs(at.getTime() - nowMs) < NOW_WITHIN_MS;
    const lookUp = cacheable && !options.fresh;
    const missing: string[] = [];
    for (const id of ids) {
      const row = lookUp ? this.#rows.get(id) : undefined;
      if (row) result.set(id, toVariant(row, at, options.currency));
      else missing.push(id);
    }
    this.hits += ids.length - missing.length;
    if (missing.length === 0) return result;
    this.misses += missing.length;
    const generation = this.#generation;
    // A shared read may hold variants this caller did not ask for: only the missing ones are taken,
    // under the database's spelling of their ids (as rows read for this caller alone always were).
    const take = (rows: ReadonlyMap<string, PurchaseRow>) => {
      for (const id of missing) {
        const r = rows.get(id.toLowerCase());
        if (r) result.set(r.variant_id, toVariant(r, at, options.currency));
      }
    };
    if (!lookUp) {
      take(await this.#fetch(missing, at, generation, nowMs, cacheable));
      return result;
    }
    // The first buyers of a variant nobody asked for yet (a flash sale's opening second) all miss
    // at once: they share one read per variant instead of each queueing its own for a connection.
    // Only a read started since the last invalidation is shared: a caller never gets rows read
    // before a change it could already know of.
    const reads = new Set<Promise<ReadonlyMap<string, PurchaseRow>>>();
    const toRead: string[] = [];
    for (const id of missing) {
      const loading = this.#loading.get(id);
      if (loading && loading.generation === generation) reads.add(loading.rows);
      else toRead.push(id);
    }
    if (toRead.length > 0) reads.add(this.#read(toRead, at, generation, nowMs));
    for (const rows of await Promise.all(reads)) take(rows);
    return result;
  }

  /** Reads rows by variant; keeps them in the cache when `cacheable` and nothing was invalidated since `generation`. */
  async #fetch(ids: readonly string[], at: Date, generation: number, nowMs: number, cacheable: boolean): Promise<ReadonlyMap<string, PurchaseRow>> {
    // A row for the cache answers every instant taken as "now" while it is held, down to a second
    // before the clock: it holds the windows that ended since then too. Read at `at` alone, a row
    // read for a later instant (another caller's shared read, or a request whose clock was read
    // after this one's) lacked the window that had just ended, and answered "no price" for an
    // instant it covered (found by a review: a flash sale's start, a millisecond before the
    // boundary).
    const readAt = cacheable ? new Date(Math.min(at.getTime(), nowMs) - NOW_WITHIN_MS) : at;
    const found = await selectVariantsForPurchase(this.db, ids, readAt);
    const keep = cacheable && this.coherent && generation === this.#generation;
    const byId = new Map<string, PurchaseRow>();
    for (const r of found) {
      byId.set(r.variant_id, r);
      if (keep) this.#keep(r, nowMs);
    }
    return byId;
  }

  /** A read for the cache, shared by the callers that miss the same variants meanwhile. */
  #read(ids: string[], at: Date, generation: number, nowMs: number): Promise<ReadonlyMap<string, PurchaseRow>> {
    const rows = this.#fetch(ids, at, generation, nowMs, true);
    for (const id of ids) this.#loading.set(id, { generation, rows });
    const done = () => {
      for (const id of ids) if (this.#loading.get(id)?.rows === rows) this.#loading.delete(id);
    };
    rows.then(done, done);
    return rows;
  }

  #keep(r: PurchaseRow, nowMs: number): void {
    this.#rows.set(r.variant_id, r, Math.min(nowMs + this.options.ttlMs, nextBoundaryMs(r, nowMs)));
    const variants = this.#variantsOf.get(r.product_id) ?? new Set<string>();
    variants.add(r.variant_id);
    this.#variantsOf.set(r.product_id, variants);
    if (this.#variantsOf.size > 2 * this.options.entriesMax) this.#forgetEvicted();
  }

  /**
   * Rows leave the LRU by eviction without telling the product index: it keeps only the variants
   * still held once it has grown past twice the bound (each kept product holds a row, so it is
   * back under the bound, and this runs again only after as many new products: O(1) per row).
   */
  #forgetEvicted(): void {
    for (const [productId, variants] of this.#variantsOf) {
      for (const variantId of variants) if (!this.#rows.has(variantId)) variants.delete(variantId);
      if (variants.size === 0) this.#variantsOf.delete(productId);
    }
  }

  /** Products the invalidation index knows (tests: it stays bounded by the rows held). */
  get indexedProducts(): number {
    return this.#variantsOf.size;
  }

  /** Whether a variant's row is held now (without touching its recency). */
  cachedVariant(variantId: string): boolean {
    return this.#rows.has(variantId);
  }

  /** Drops the variants of the given products, or everything for '*'. */
  invalidate(productIds: readonly string[] | '*'): void {
    this.#generation++;
    if (productIds === '*') {
      this.#rows.clear();
      this.#variantsOf.clear();
      return;
    }
    for (const productId of productIds) {
      for (const variantId of this.#variantsOf.get(productId) ?? []) this.#rows.delete(variantId);
      this.#variantsOf.delete(productId);
    }
  }
}
