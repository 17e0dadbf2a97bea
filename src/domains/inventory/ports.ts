/**
 * What the inventory domain asks another domain, through that domain's public API (wired by the
 * composition root): whether a variant is for sale, before a buyer may hold its stock.
 */
export interface InventoryCatalog {
  /** Keyed by variant id (lowercase); unknown variants are absent. */
  getVariantsForPurchase(
    variantIds: readonly string[],
    at: Date,
  ): Promise<ReadonlyMap<string, { published: boolean; pricedNow: boolean; productId: string; sellerId: string; sku: string }>>;
  /**
   * Whether each variant can be bought now (for_sale; not_published; no_price: no price in effect in any currency),
   * from the owner's cache, without a wait; undefined when it has not all of them.
   */
  saleStateNow(variantIds: readonly string[]): ReadonlyMap<string, 'for_sale' | 'not_published' | 'no_price'> | undefined;
}

export interface InventoryPorts {
  /** Needed by the buyers' reservation route (a module without routes, as in tests of its API, may go without). */
  catalog?: InventoryCatalog;
}
