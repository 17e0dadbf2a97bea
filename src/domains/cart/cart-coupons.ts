import { CART_COUPONS_MAX } from '../../contracts/cart.ts';
import { withTransaction } from '../../platform/db/pool.ts';
import { AppError } from '../../platform/http/errors.ts';
import { newId } from '../../platform/ids.ts';
import type { CartDeps } from './deps.ts';
import type { CouponOutcomeView } from './ports.ts';
import { priceCart } from './price-cart.ts';
import { deleteCouponByCode, insertCoupon, selectActiveCart, selectCartForUpdate, selectCoupons, selectItems, touchCart } from './sql.ts';

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
 * Returns whether it was added now.
 */
export async function applyCoupon(deps: CartDeps, buyerId: string, rawCode: string): Promise<boolean> {
  const code = rawCode.trim().toUpperCase();
  const cart = await selectActiveCart(deps.pool, buyerId);
  if (!cart) throw new AppError('COUPON_NOT_APPLICABLE', 'your cart is empty: add items before a coupon', { couponCode: code, reason: 'no_eligible_items' });
  const [items, applied] = await Promise.all([selectItems(deps.pool, cart.id), selectCoupons(deps.pool, cart.id)]);
  if (applied.some((c) => c.code.toUpperCase() === code)) return false;
  if (applied.length >= CART_COUPONS_MAX) throw new AppError('CART_LIMIT_EXCEEDED', `a cart takes at most ${CART_COUPONS_MAX} coupons`);
  const priced = await priceCart(deps, buyerId, items, [...applied.map((c) => c.code), code]);
  const outcome = priced.coupons.at(-1)!;
  if (!outcome.valid) throw refusal(outcome);
  const now = deps.clock.now();
  return withTransaction(deps.pool, async (tx) => {
    const locked = await selectCartForUpdate(tx, cart.id);
    if (locked?.status !== 'active') throw new AppError('CONFLICT', 'the cart was checked out meanwhile');
    const current = await selectCoupons(tx, cart.id);
    if (current.some((c) => c.couponId === outcome.couponId)) return false;
    if (current.length >= CART_COUPONS_MAX) throw new AppError('CART_LIMIT_EXCEEDED', `a cart takes at most ${CART_COUPONS_MAX} coupons`);
    await insertCoupon(tx, { id: newId(), cartId: cart.id, couponId: outcome.couponId, code: outcome.code, now });
    await touchCart(tx, cart.id, now);
    return true;
  });
}

export async function removeCoupon(deps: CartDeps, buyerId: string, code: string): Promise<void> {
  const now = deps.clock.now();
  await withTransaction(deps.pool, async (tx) => {
    const cart = await selectActiveCart(tx, buyerId, true);
    if (!cart || !(await deleteCouponByCode(tx, cart.id, code.trim()))) throw new AppError('NOT_FOUND', `the coupon ${code} is not applied to your cart`);
    await touchCart(tx, cart.id, now);
  });
}
