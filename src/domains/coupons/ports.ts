/**
 * What the coupons domain asks the products domain, through its public API (wired by the
 * composition root): whether a coupon's rules name products and categories that exist, and, for a
 * seller's coupon, products of that seller. A coupon aimed at nothing would be refused at every
 * checkout instead of at its creation.
 */
export interface CouponCatalog {
  /** The seller of each product (lowercase ids); unknown products are absent. At most 200 ids. */
  productSellers(productIds: readonly string[]): Promise<ReadonlyMap<string, string>>;
  /** Every category of the tree. */
  listCategories(): Promise<readonly { id: string }[]>;
}

/**
 * What the coupons domain asks the accounts domain, through its public API: whether the sellers a
 * platform coupon names are sellers (a coupon aimed at a buyer's items discounts nothing).
 */
export interface CouponAccounts {
  /** The user with its roles; undefined when there is none. */
  getUser(userId: string): Promise<{ roles: readonly string[] } | undefined>;
}

export interface CouponsPorts {
  catalog: CouponCatalog;
  accounts: CouponAccounts;
}
