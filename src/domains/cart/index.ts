import type { Trace } from '../../platform/messaging/envelope.ts';
import type { DomainContext, DomainModule } from '../../platform/module.ts';
import { type ActiveCart, type BoughtLine, getActiveCart, markCheckedOut } from './check-out.ts';
import type { CartDeps } from './deps.ts';
import type { CatalogReader, CouponEvaluator, StockReader } from './ports.ts';
import { registerCartRoutes } from './routes.ts';

export type { ActiveCart, BoughtLine } from './check-out.ts';
export type { CatalogReader, CatalogVariant, CouponEvaluator, StockReader } from './ports.ts';

/** What other domains (checkout) may ask of the cart (wired in src/domains.ts). */
export interface CartApi {
  /** The buyer's active cart (items and applied coupon codes, no prices), or null when there is none. */
  getActiveCart(buyerId: string): Promise<ActiveCart | null>;
  /**
   * Marks the cart checked out by the session and emits carts.checked_out.v1; idempotent for the
   * same session, CONFLICT for another. With `expectedVersion` (from getActiveCart), a cart that
   * changed since is a VERSION_CONFLICT. The event carries `trace` (the caller's request or handled
   * event); without one it starts a trace of its own. With `bought` (units per variant), what the cart
   * holds beyond it (added while the checkout ran) is carried into a new active cart, not lost with
   * the closed one, with the codes applied meanwhile (those not in `redeemedCodes`).
   */
  markCheckedOut(
    cartId: string,
    checkoutSessionId: string,
    options?: { expectedVersion?: number; trace?: Trace | null; bought?: readonly BoughtLine[]; redeemedCodes?: readonly string[] },
  ): Promise<{ cartId: string; checkoutSessionId: string; alreadyCheckedOut: boolean }>;
}

/** The other domains' public APIs the cart reads through (products, inventory, coupons). */
export interface CartReaders {
  catalog: CatalogReader;
  stock: StockReader;
  coupons: CouponEvaluator;
}

export function createCartModule(ctx: DomainContext, readers: CartReaders): DomainModule & { api: CartApi } {
  const deps: CartDeps = { pool: ctx.pool, clock: ctx.clock, ...readers };
  return {
    name: 'cart',
    routes: (app) => registerCartRoutes(app, deps),
    api: {
      getActiveCart: (buyerId) => getActiveCart(ctx.pool, buyerId),
      markCheckedOut: (cartId, checkoutSessionId, options = {}) =>
        markCheckedOut(deps, cartId, checkoutSessionId, options.expectedVersion, options.trace ?? null, options.bought, options.redeemedCodes),
    },
  };
}
