import { normaliseCouponCode } from '../../contracts/coupons.ts';
import { CART_COUPONS_MAX } from '../../contracts/cart.ts';
import { withTransaction } from '../../platform/db/pool.ts';
import { AppError } from '../../platform/http/errors.ts';
import { newId } from '../../platform/ids.ts';
import type { CartDeps } from './deps.ts';
import type { CouponOutcomeView } from './ports.ts';
import { changeCart } from './cart-items.ts';
import { type PricedCart, priceCart } from './price-cart.ts';
import { type CartContents, deleteCouponByCode, insertCoupon, selectActiveCart, selectCartContents, touchCart } from './sql.ts';

/** A refused code as the buyer sees it: unknown is 404, used up 409, any other reason 422. */
function refusal(outcome: Extract<CouponOutcomeView, { valid: false }>): AppError {
  const extensions = { couponCode: outcome.code, reason: outcome.reason };
  const detail = `${outcome.code}: ${outcome.message}`;
  switch (outcome.reason) {
    case 'not_found':
      return new AppError('NOT_FOUND', `no coupon has the code ${outcome.code}`, extensions);
    case 'exhausted':
      return new AppError('COUPON_EXHAUSTED', detail, extensions);
    case 'already_used':
      return new AppError('COUPON_ALREADY_USED', detail, extensions);
    default:
      return new AppError('COUPON_NOT_APPLICABLE', detail, extensions);
  }
}

/**
 * Applies a code to the buyer's active cart if the coupon exists and would apply to the cart as it
 * is now, after the coupons applied before it. Applying an applied code again changes nothing.
 * Returns whether it was added now, and the cart as it is after.
 */
export async function applyCoupon(
  deps: CartDeps,
  buyerId: string,
  rawCode: string,
  /** The currency the buyer will pay in (as GET /v1/cart?currency=): the coupon is checked in it. */
  currency?: string,
): Promise<{ added: boolean; cart: CartContents; priced?: PricedCart }> {
  const code = normaliseCouponCode(rawCode);
  return changeCart(
    deps.pool,
    (db, lock) => selectCartContents(db, { userId: buyerId }, lock),
    async (db, cart) => {
      if (cart?.coupons.some((c) => c.code.toUpperCase() === code)) return { added: false, cart };
      if (!cart || cart.items.length === 0) {
        // A code that does not exist is 404 whatever the cart holds; one that does needs items first.
        // Whether it exists does not depend on the currency: any serves when the cart has none.
        const { coupons } = await deps.coupons.evaluate({ codes: [code], buyerId, currency: currency ?? 'USD', lines: [] });
        const outcome = coupons[0];
        if (outcome && !outcome.valid && outcome.reason === 'not_found') throw refusal(outcome);
        throw new AppError('COUPON_NOT_APPLICABLE', 'your cart is empty: add items before a coupon', { couponCode: code, reason: 'no_eligible_items' });
      }
      const applied = cart.coupons;
      if (applied.some((c) => c.code.toUpperCase() === code)) return { added: false, cart };
      if (applied.length >= CART_COUPONS_MAX) throw new AppError('CART_LIMIT_EXCEEDED', `a cart takes at most ${CART_COUPONS_MAX} coupons`);
      const priced = await priceCart(deps, buyerId, cart.items, [...applied.map((c) => c.code), code], currency);
      const outcome = priced.coupons.at(-1)!;
      if (!outcome.valid) throw refusal(outcome);
      if (applied.some((c) => c.couponId === outcome.couponId)) return { added: false, cart };
      const now = deps.clock.now();
      // Stored only if the cart is still the one priced (compare-and-set on its version).
      const version = await insertCoupon(db, { id: newId(), cartId: cart.id, couponId: outcome.couponId, code: outcome.code, now, expectedVersion: cart.version });
      if (version === null) return null;
      const coupons = [...applied, { couponId: outcome.couponId, code: outcome.code, appliedAt: now }];
      return { added: true, cart: { ...cart, version, updatedAt: now, coupons }, priced };
    },
  );
}

export async function removeCoupon(deps: CartDeps, buyerId: string, code: string): Promise<void> {
  const now = deps.clock.now();
  await withTransaction(deps.pool, async (tx) => {
    const cart = await selectActiveCart(tx, buyerId, true);
    if (!cart || !(await deleteCouponByCode(tx, cart.id, code.trim()))) throw new AppError('NOT_FOUND', `the coupon ${code} is not applied to your cart`);
    await touchCart(tx, cart.id, now);
  });
}
