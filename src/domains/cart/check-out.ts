import { CartCheckedOutV1, CartItemAddedV1 } from '../../contracts/cart.ts';
import { type Queryable, withTransaction } from '../../platform/db/pool.ts';
import { AppError } from '../../platform/http/errors.ts';
import { isUuid, newId } from '../../platform/ids.ts';
import type { Trace } from '../../platform/messaging/envelope.ts';
import { changeCart } from './cart-items.ts';
import type { CartDeps } from './deps.ts';
import { type CartCouponRow, type CartItemRow, ensureActiveCart, insertCoupon, markCartCheckedOut, selectCartContents, writeItemChange } from './sql.ts';

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

/** What a checkout bought: units of a variant, and the cart line (item id) they were taken from. */
export interface BoughtLine {
  variantId: string;
  quantity: number;
  itemId: string;
}

type CartItems = NonNullable<Awaited<ReturnType<typeof selectCartContents>>>['items'];

/**
 * Splits the cart's lines into what the checkout bought and what is beyond it (added or raised while
 * the checkout ran). A bought line covers the cart line it names only: a line the buyer removed and
 * added again meanwhile is another line, and was not bought (found by a helper: matched by variant,
 * a unit added so was taken for one bought, and lost with the closed cart).
 */
export function splitBought(items: CartItems, bought: readonly BoughtLine[]): { checkedOut: CartItems; left: CartItems } {
  const boughtOf = new Map<string, number>();
  for (const b of bought) boughtOf.set(b.itemId.toLowerCase(), (boughtOf.get(b.itemId.toLowerCase()) ?? 0) + b.quantity);
  const checkedOut: CartItems = [];
  const left: CartItems = [];
  for (const item of items) {
    const covered = Math.min(item.quantity, boughtOf.get(item.id.toLowerCase()) ?? 0);
    if (covered > 0) checkedOut.push({ ...item, quantity: covered });
    if (item.quantity > covered) left.push({ ...item, quantity: item.quantity - covered });
  }
  return { checkedOut, left };
}

/**
 * Moves what the buyer added to the cart while its checkout ran into a new active cart, in the
 * transaction that marks the old one checked out: the items were not bought, and must not be lost
 * with the cart. Each moved line is a carts.item_added.v1 of the new cart.
 */
async function carryOver(
  db: Queryable,
  buyerId: string,
  left: CartItems,
  coupons: readonly CartCouponRow[],
  trace: Trace | null,
  now: Date,
): Promise<void> {
  const made = await ensureActiveCart(db, newId(), buyerId, now);
  if (!made) throw new Error(`buyer ${buyerId} has another active cart while one is being checked out`);
  let version = made.version;
  for (const l of left) {
    const item: CartItemRow = { id: newId(), cartId: made.id, productId: l.productId, variantId: l.variantId, quantity: l.quantity, addedAt: now };
    const data: CartItemAddedV1 = {
      cartId: made.id,
      buyerId,
      itemId: item.id,
      productId: l.productId,
      variantId: l.variantId,
      addedQuantity: l.quantity,
      quantity: l.quantity,
      addedAt: now.toISOString(),
    };
    const next = await writeItemChange(db, { kind: 'insert', item }, made.id, version, [{ type: CartItemAddedV1.type, aggregateId: made.id, aggregateType: 'cart', data }], trace, now);
    if (next === null) throw new Error(`the new cart ${made.id} changed while items were carried into it`);
    version = next;
  }
  // Codes applied while the checkout ran were not redeemed by it: they go with the items.
  for (const c of coupons) {
    const next = await insertCoupon(db, { id: newId(), cartId: made.id, couponId: c.couponId, code: c.code, now, expectedVersion: version });
    if (next === null) throw new Error(`the new cart ${made.id} changed while coupons were carried into it`);
    version = next;
  }
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
  bought?: readonly BoughtLine[],
  redeemedCodes?: readonly string[],
): Promise<{ cartId: string; checkoutSessionId: string; alreadyCheckedOut: boolean }> {
  if (!isUuid(cartId) || !isUuid(checkoutSessionId)) throw new RangeError('cartId and checkoutSessionId must be UUIDs');
  // A cart that holds more than was bought is closed in a transaction that also carries the rest over.
  const first = await selectCartContents(deps.pool, { cartId });
  if (bought && first?.status === 'active' && splitBought(first.items, bought).left.length > 0) {
    return withTransaction(deps.pool, async (tx) => {
      const cart = await selectCartContents(tx, { cartId }, true);
      const closed = await closeCart(deps, tx, cart, checkoutSessionId, expectedVersion, trace, bought, redeemedCodes);
      if (!closed) throw new Error(`cart ${cartId} changed under its row lock`);
      return closed;
    });
  }
  return changeCart(
    deps.pool,
    (db, lock) => selectCartContents(db, { cartId }, lock),
    (db, cart) => closeCart(deps, db, cart, checkoutSessionId, expectedVersion, trace, bought, redeemedCodes),
    first,
  );
}

async function closeCart(
  deps: CartDeps,
  db: Queryable,
  cart: Awaited<ReturnType<typeof selectCartContents>>,
  checkoutSessionId: string,
  expectedVersion: number | undefined,
  trace: Trace | null,
  bought: readonly BoughtLine[] | undefined,
  redeemedCodes?: readonly string[],
): Promise<{ cartId: string; checkoutSessionId: string; alreadyCheckedOut: boolean } | null> {
  if (!cart) throw new AppError('NOT_FOUND', 'cart not found');
  const cartId = cart.id;
  const now = deps.clock.now();
  if (cart.status === 'checked_out') {
    if (cart.checkoutSessionId === checkoutSessionId.toLowerCase()) return { cartId, checkoutSessionId, alreadyCheckedOut: true };
    throw new AppError('CONFLICT', `cart ${cartId} was checked out by another checkout session`);
  }
  if (cart.status !== 'active') throw new AppError('CONFLICT', `cart ${cartId} is ${cart.status}`);
  if (expectedVersion !== undefined && cart.version !== expectedVersion) {
    throw new AppError('VERSION_CONFLICT', `cart ${cartId} changed since it was read (version ${cart.version}, expected ${expectedVersion})`);
  }
  const { checkedOut, left } = bought ? splitBought(cart.items, bought) : { checkedOut: cart.items, left: [] };
  const data: CartCheckedOutV1 = {
    cartId: cart.id,
    buyerId: cart.userId,
    checkoutSessionId: checkoutSessionId.toLowerCase(),
    items: checkedOut.map((i) => ({ itemId: i.id, productId: i.productId, variantId: i.variantId, quantity: i.quantity })),
    couponCodes: cart.coupons.map((c) => c.code),
    checkedOutAt: now.toISOString(),
  };
  // Marked only if the cart is still as read (compare-and-set on its version).
  const events = [{ type: CartCheckedOutV1.type, aggregateId: cart.id, aggregateType: 'cart', data }];
  const marked = await markCartCheckedOut(db, cart.id, cart.version, checkoutSessionId, events, trace, now);
  if (!marked) return null;
  // Only in a transaction (see markCheckedOut): a cart read without its lock had nothing left over.
  if (left.length > 0) {
    const redeemed = new Set((redeemedCodes ?? []).map((c) => c.toLowerCase()));
    await carryOver(db, cart.userId, left, cart.coupons.filter((c) => !redeemed.has(c.code.toLowerCase())), trace, now);
  }
  return { cartId, checkoutSessionId, alreadyCheckedOut: false };
}
