import type { Trace } from '../../platform/messaging/envelope.ts';
import type { DomainContext, DomainModule } from '../../platform/module.ts';
import { type ImportCategory, type ImportProduct, importCategories, importProducts } from './bulk-import.ts';
import { CacheInvalidationListener } from './cache-listener.ts';
import { registerCategoryRoutes } from './category-routes.ts';
import type { ProductsDeps } from './deps.ts';
import { availabilitySubscription } from './handlers.ts';
import { DEFAULT_PRODUCT_CACHE, type ProductCacheOptions, ProductReadCache } from './product-cache.ts';
import { CategoryTreeCache } from './public-reads.ts';
import { PurchaseCatalog, type PurchaseReadOptions, type SaleState, type VariantForPurchase } from './purchase.ts';
import { registerProductRoutes } from './routes.ts';
import { analyzeCatalog, countCatalog, selectCategories, selectProduct, selectProductSellers } from './sql.ts';

export type { ImportCategory, ImportProduct } from './bulk-import.ts';
export { IMPORT_BATCH_MAX } from './bulk-import.ts';
export type { PurchaseReadOptions, SaleState, VariantForPurchase } from './purchase.ts';
export { PURCHASE_VARIANTS_MAX } from './purchase.ts';

/** What other parts of the system may ask the products domain (wired in src/domains.ts and the seed). */
export interface ProductsApi {
  /**
   * Per variant: the product snapshot (title, attributes, seller, SKUs, status, whether published)
   * and the price in effect at `at` (base, discount, amount, currency; the variant's list currency
   * unless `currency` is given). Unknown variants are absent from the map. At most 200 ids. Served
   * from a per-process cache kept coherent by the products events; `fresh` reads the database.
   */
  getVariantsForPurchase(variantIds: readonly string[], at: Date, options?: PurchaseReadOptions): Promise<Map<string, VariantForPurchase>>;
  /**
   * Whether each variant can be bought now (published, a price in effect), answered from the
   * per-process cache only: undefined when one is not cached (ask getVariantsForPurchase).
   */
  saleStateNow(variantIds: readonly string[]): Map<string, SaleState> | undefined;
  /** Bulk import (seed): categories first, then products in batches of at most IMPORT_BATCH_MAX. */
  importCategories(categories: readonly ImportCategory[], options?: { trace?: Trace | null }): Promise<void>;
  /** `trace`: the caller's, carried by the import's events; without one (the seed), they start a trace of their own. */
  importProducts(products: readonly ImportProduct[], options: { actorId: string; trace?: Trace | null }): Promise<{ products: number; events: number }>;
  catalogCounts(): Promise<{ products: number; categories: number }>;
  /** Every category (at most 5000), flat, roots first by position. */
  listCategories(): Promise<ImportCategory[]>;
  /** The seller of each product, in any status (keyed by lowercase id); unknown products are absent. At most 200 ids. */
  productSellers(productIds: readonly string[]): Promise<Map<string, string>>;
  /** After a bulk import: refreshes the planner's statistics of the catalog tables. */
  finishImport(): Promise<void>;
}

export interface ProductsOptions {
  cache?: Partial<ProductCacheOptions>;
}

export function createProductsModule(
  ctx: DomainContext,
  options: ProductsOptions = {},
): DomainModule & { api: ProductsApi; cache: ProductReadCache; purchases: PurchaseCatalog } {
  const cacheOptions = { ...DEFAULT_PRODUCT_CACHE, ...options.cache };
  const cache = new ProductReadCache((productId, now) => selectProduct(ctx.pool, productId, { at: now, history: false }), ctx.clock, cacheOptions);
  const purchases = new PurchaseCatalog(ctx.pool, ctx.clock, cacheOptions);
  const deps: ProductsDeps = {
    pool: ctx.pool,
    clock: ctx.clock,
    log: ctx.log,
    cache,
    invalidate(productIds) {
      cache.invalidate(productIds);
      purchases.invalidate(productIds);
    },
  };
  const categories = new CategoryTreeCache(deps);
  const listener = new CacheInvalidationListener(
    ctx.pool,
    (ids, kind) => {
      if (kind === 'tree') {
        categories.invalidate();
        return;
      }
      cache.invalidate(ids);
      if (kind === 'catalog') purchases.invalidate(ids);
      if (ids === '*' && kind === 'catalog') categories.invalidate();
    },
    (listening) => {
      cache.coherent = listening;
      purchases.coherent = listening;
      categories.coherent = listening;
    },
    ctx.log.child({ component: 'products-cache' }),
  );

  return {
    name: 'products',
    cache,
    purchases,
    subscriptions: [availabilitySubscription()],
    api: {
      getVariantsForPurchase: (variantIds, at, opts) => purchases.get(variantIds, at, opts),
      saleStateNow: (variantIds) => purchases.saleStateNow(variantIds),
      async importCategories(list, opts = {}) {
        await importCategories(ctx.pool, list, { now: ctx.clock.now(), trace: opts.trace ?? null });
        categories.invalidate();
      },
      importProducts: (list, opts) => importProducts(ctx.pool, list, { now: ctx.clock.now(), actorId: opts.actorId, trace: opts.trace ?? null }),
      catalogCounts: () => countCatalog(ctx.pool),
      finishImport: () => analyzeCatalog(ctx.pool),
      listCategories: async () =>
        (await selectCategories(ctx.pool)).map((c) => ({ id: c.id, parentId: c.parent_id, name: c.name, slug: c.slug, position: c.position })),
      productSellers: (productIds) => selectProductSellers(ctx.pool, productIds),
    },
    routes(app) {
      registerProductRoutes(app, deps, categories);
      registerCategoryRoutes(app, deps, categories);
    },
    async start() {
      await listener.start();
    },
    async stop() {
      await listener.stop();
    },
  };
}
