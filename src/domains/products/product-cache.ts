import type { Clock } from '../../platform/clock.ts';
import { type CachedBody, cachedBody } from './http-cache.ts';
import { LruCache } from './lru-cache.ts';
import type { ProductRecord } from './sql.ts';
import { pricesValidUntil, toPublicView } from './views.ts';

export interface CachedProduct extends CachedBody {
  /** When the representation stops being right because a price window starts or ends; undefined if never. */
  pricesValidUntilMs: number | undefined;
}

export interface ProductCacheOptions {
  entriesMax: number;
  /** Upper bound on an entry's life: staleness is bounded even if an invalidation were lost. */
  ttlMs: number;
}

export const DEFAULT_PRODUCT_CACHE: ProductCacheOptions = { entriesMax: 10_000, ttlMs: 60_000 };

/**
 * Per-process read-through cache of published product pages (serialised body + ETag). Entries are
 * dropped on invalidation (in-process after a write, and from the products_cache notifications
 * that every products event raises at commit), when a price window boundary passes, and after ttlMs.
 * Concurrent misses for one product share one database read; a read that raced an invalidation is
 * returned but not kept, so a stale row can never be cached after the invalidation that outdated it.
 */
export class ProductReadCache {
  readonly #lru: LruCache<CachedProduct>;
  /** Reads in flight; an invalidation marks the read stale, so its result is returned but not kept. */
  readonly #inflight = new Map<string, { promise: Promise<CachedProduct | undefined>; stale: boolean }>();
  /**
   * False while invalidations from other processes cannot arrive (the listening connection is down,
   * or not started): reads then go to the database and nothing is kept.
   */
  coherent = false;
  hits = 0;
  misses = 0;

  constructor(
    readonly load: (productId: string, now: Date) => Promise<ProductRecord | undefined>,
    readonly clock: Clock,
    readonly options: ProductCacheOptions = DEFAULT_PRODUCT_CACHE,
  ) {
    this.#lru = new LruCache(options.entriesMax, () => clock.now().getTime());
  }

  get size(): number {
    return this.#lru.size;
  }

  /** The public representation of a published product; undefined when there is none to show. */
  get(productId: string): Promise<CachedProduct | undefined> | CachedProduct {
    const hit = this.#lru.get(productId);
    if (hit) {
      this.hits++;
      return hit;
    }
    const pending = this.#inflight.get(productId);
    if (pending) return pending.promise;
    this.misses++;
    const read = { promise: Promise.resolve<CachedProduct | undefined>(undefined), stale: false };
    read.promise = this.#fill(productId, read).finally(() => {
      if (this.#inflight.get(productId) === read) this.#inflight.delete(productId);
    });
    this.#inflight.set(productId, read);
    return read.promise;
  }

  async #fill(productId: string, read: { stale: boolean }): Promise<CachedProduct | undefined> {
    const now = this.clock.now();
    const record = await this.load(productId, now);
    if (record?.status !== 'published') return undefined;
    const until = pricesValidUntil(record, now)?.getTime();
    const entry: CachedProduct = { ...cachedBody(toPublicView(record, now)), pricesValidUntilMs: until };
    if (this.coherent && !read.stale) {
      const expiresAtMs = Math.min(now.getTime() + this.options.ttlMs, until ?? Number.POSITIVE_INFINITY);
      this.#lru.set(productId, entry, expiresAtMs);
    }
    return entry;
  }

  /** Drops the given products, or everything for '*'. */
  invalidate(productIds: readonly string[] | '*'): void {
    if (productIds === '*') {
      this.#lru.clear();
      for (const read of this.#inflight.values()) read.stale = true;
      this.#inflight.clear();
      return;
    }
    for (const id of productIds) {
      this.#lru.delete(id);
      const read = this.#inflight.get(id);
      if (read) {
        read.stale = true;
        this.#inflight.delete(id);
      }
    }
  }
}
