import { CartCheckedOutV1 } from '../../contracts/cart.ts';
import type { Queryable } from '../../platform/db/pool.ts';
import { AppError } from '../../platform/http/errors.ts';
import { isUuid } from '../../platform/ids.ts';
import type { Trace } from '../../platform/messaging/envelope.ts';
import { changeCart } from './cart-items.ts';
import type { CartDeps } from './deps.ts';
import { markCartCheckedOut, selectCartContents } from './sql.ts';

export interface ActiveCart {
  cartId: string;
  /** Grows with every change: pass it to markCheckedOut to be sure the cart did not change since. */
  version: number;
  items: { itemId: string; productId: string; variantId: string; quantity: number }[];
  couponCodes: string[];
}

export async function getActiveCart(q: Queryable, buyerId: string): Promise<ActiveCart | null> {
  if (!isUuid(buyerId)) return null;
  const cart = await selectCartContents(q, { userId: buyerId });
  if (!cart) return null;
  const { items, coupons } = cart;
  return {
    cartId: cart.id,
    version: cart.version,
    items: items.map((i) => ({ itemId: i.id, productId: i.productId, variantId: i.variantId, quantity: i.quantity })),
    couponCodes: coupons.map((c) => c.code),
  };
}

/**
 * Ends the cart's life as the buyer's active cart (the next add makes a new one) and emits
 * carts.checked_out.v1. Idempotent: marking it again for the same session changes nothing; for
 * another session it is a CONFLICT. With `expectedVersion`, a cart changed since it was read is a
 * VERSION_CONFLICT. The event carries `trace` (null: it starts a trace of its own).
 */
export async function markCheckedOut(
  deps: CartDeps,
  cartId: string,
  checkoutSessionId: string,
  expectedVersion: number | undefined,
  trace: Trace | null,
): Promise<{ cartId: string; checkoutSessionId: string; alreadyCheckedOut: boolean }> {
  if (!isUuid(cartId) || !isUuid(checkoutSessionId)) throw new RangeError('cartId and checkoutSessionId must be UUIDs');
  return changeCart(
    deps.pool,
    (db, lock) => selectCartContents(db, { cartId }, lock),
    async (db, cart) => {
      const now = deps.clock.now();
      if (!cart) throw new AppError('NOT_FOUND', 'cart not found');
      if (cart.status === 'checked_out') {
        if (cart.checkoutSessionId === checkoutSessionId.toLowerCase()) return { cartId, checkoutSessionId, alreadyCheckedOut: true };
        throw new AppError('CONFLICT', `cart ${cartId} was checked out by another checkout session`);
      }
      if (cart.status !== 'active') throw new AppError('CONFLICT', `cart ${cartId} is ${cart.status}`);
      if (expectedVersion !== undefined && cart.version !== expectedVersion) {
        throw new AppError('VERSION_CONFLICT', `cart ${cartId} changed since it was read (version ${cart.version}, expected ${expectedVersion})`);
      }
      const { items, coupons } = cart;
      const data: CartCheckedOutV1 = {
        cartId: cart.id,
        buyerId: cart.userId,
        checkoutSessionId: checkoutSessionId.toLowerCase(),
        items: items.map((i) => ({ itemId: i.id, productId: i.productId, variantId: i.variantId, quantity: i.quantity })),
        couponCodes: coupons.map((c) => c.code),
        checkedOutAt: now.toISOString(),
      };
      // Marked only if the cart is still as read (compare-and-set on its version).
      const events = [{ type: CartCheckedOutV1.type, aggregateId: cart.id, aggregateType: 'cart', data }];
      const marked = await markCartCheckedOut(db, cart.id, cart.version, checkoutSessionId, events, trace, now);
      return marked ? { cartId, checkoutSessionId, alreadyCheckedOut: false } : null;
    },
  );
}
