/**
 * What the inventory domain asks another domain, through that domain's public API (wired by the
 * composition root): whether a variant is for sale, before a buyer may hold its stock.
 */
export interface InventoryCatalog {
  /** Keyed by variant id (lowercase); unknown variants are absent. */
  getVariantsForPurchase(
    variantIds: readonly string[],
    at: Date,
  ): Promise<ReadonlyMap<string, { published: boolean; productId: string; sellerId: string; sku: string }>>;
  /** The same answer from the owner's cache, without a wait; undefined when it has not all of them. */
  publishedNow(variantIds: readonly string[]): ReadonlyMap<string, boolean> | undefined;
}

export interface InventoryPorts {
  /** Needed by the buyers' reservation route (a module without routes, as in tests of its API, may go without). */
  catalog?: InventoryCatalog;
}
