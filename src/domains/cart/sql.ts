import type { Queryable } from '../../platform/db/pool.ts';
import { CART_COUPONS_MAX, CART_ITEMS_MAX } from '../../contracts/cart.ts';
import { newId } from '../../platform/ids.ts';

/** The cart domain's queries, parameterised; lists are bounded by the cart's limits. */

export type CartStatus = 'active' | 'checked_out' | 'abandoned';

export interface CartRow {
  id: string;
  userId: string;
  status: CartStatus;
  checkoutSessionId: string | null;
  version: number;
  createdAt: Date;
  updatedAt: Date;
}

export interface CartItemRow {
  id: string;
  cartId: string;
  productId: string;
  variantId: string;
  quantity: number;
  addedAt: Date;
}

export interface CartCouponRow {
  couponId: string;
  code: string;
  appliedAt: Date;
}

const CART_COLUMNS = `id, user_id AS "userId", status, checkout_session_id AS "checkoutSessionId", version, created_at AS "createdAt", updated_at AS "updatedAt"`;

/** The buyer's active cart (carts_one_active_per_user_key), locked for the rest of the transaction when `lock`. */
export async function selectActiveCart(q: Queryable, userId: string, lock = false): Promise<CartRow | undefined> {
  const { rows } = await q.query<CartRow>(
    `SELECT ${CART_COLUMNS} FROM carts WHERE user_id = $1 AND status = 'active'${lock ? ' FOR UPDATE' : ''}`,
    [userId],
  );
  return rows[0];
}

export async function selectCartForUpdate(q: Queryable, cartId: string): Promise<CartRow | undefined> {
  const { rows } = await q.query<CartRow>(`SELECT ${CART_COLUMNS} FROM carts WHERE id = $1 FOR UPDATE`, [cartId]);
  return rows[0];
}

/** Creates the buyer's active cart unless one exists (concurrent first adds make one cart). */
export async function ensureActiveCart(q: Queryable, id: string, userId: string, now: Date): Promise<void> {
  await q.query(
    `INSERT INTO carts (id, user_id, created_at, updated_at) VALUES ($1, $2, $3, $3)
     ON CONFLICT (user_id) WHERE status = 'active' DO NOTHING`,
    [id, userId, now],
  );
}

/**
 * The buyer's active cart, made when missing, locked until commit. A cart checked out between the
 * insert and the lock is no longer active: then a new one is made.
 */
export async function lockActiveCart(q: Queryable, userId: string, now: Date): Promise<CartRow> {
  for (let attempt = 0; attempt < 3; attempt++) {
    await ensureActiveCart(q, newId(), userId, now);
    const cart = await selectActiveCart(q, userId, true);
    if (cart) return cart;
  }
  throw new Error(`no active cart could be locked for buyer ${userId}`);
}

/** Every change bumps the version and the time; the cart row lock serialises the buyer's changes. */
export async function touchCart(q: Queryable, cartId: string, now: Date): Promise<number> {
  const { rows } = await q.query<{ version: number }>(
    `UPDATE carts SET version = version + 1, updated_at = $2 WHERE id = $1 RETURNING version`,
    [cartId, now],
  );
  return rows[0]!.version;
}

export async function markCartCheckedOut(q: Queryable, cartId: string, checkoutSessionId: string, now: Date): Promise<void> {
  await q.query(
    `UPDATE carts SET status = 'checked_out', checkout_session_id = $2, version = version + 1, updated_at = $3 WHERE id = $1`,
    [cartId, checkoutSessionId, now],
  );
}

const ITEM_COLUMNS = `id, cart_id AS "cartId", product_id AS "productId", variant_id AS "variantId", quantity, added_at AS "addedAt"`;

export async function selectItems(q: Queryable, cartId: string): Promise<CartItemRow[]> {
  const { rows } = await q.query<CartItemRow>(
    `SELECT ${ITEM_COLUMNS} FROM cart_items WHERE cart_id = $1 ORDER BY added_at, id LIMIT ${CART_ITEMS_MAX}`,
    [cartId],
  );
  return rows;
}

/** An item of the buyer's active cart; another buyer's item is as absent as a missing one. */
export async function selectOwnItem(q: Queryable, userId: string, itemId: string, lock = false): Promise<(CartItemRow & { cartVersion: number }) | undefined> {
  const { rows } = await q.query<CartItemRow & { cartVersion: number }>(
    `SELECT i.id, i.cart_id AS "cartId", i.product_id AS "productId", i.variant_id AS "variantId", i.quantity, i.added_at AS "addedAt",
            c.version AS "cartVersion"
       FROM cart_items i JOIN carts c ON c.id = i.cart_id
      WHERE i.id = $1 AND c.user_id = $2 AND c.status = 'active'${lock ? ' FOR UPDATE OF c' : ''}`,
    [itemId, userId],
  );
  return rows[0];
}

export async function insertItem(q: Queryable, item: { id: string; cartId: string; productId: string; variantId: string; quantity: number; now: Date }): Promise<void> {
  await q.query(
    `INSERT INTO cart_items (id, cart_id, product_id, variant_id, quantity, added_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6)`,
    [item.id, item.cartId, item.productId, item.variantId, item.quantity, item.now],
  );
}

export async function updateItemQuantity(q: Queryable, itemId: string, quantity: number, now: Date): Promise<void> {
  await q.query(`UPDATE cart_items SET quantity = $2, updated_at = $3 WHERE id = $1`, [itemId, quantity, now]);
}

export async function deleteItem(q: Queryable, itemId: string): Promise<void> {
  await q.query(`DELETE FROM cart_items WHERE id = $1`, [itemId]);
}

export async function selectCoupons(q: Queryable, cartId: string): Promise<CartCouponRow[]> {
  const { rows } = await q.query<CartCouponRow>(
    `SELECT coupon_id AS "couponId", code, applied_at AS "appliedAt" FROM cart_coupons WHERE cart_id = $1 ORDER BY applied_at, id LIMIT ${CART_COUPONS_MAX}`,
    [cartId],
  );
  return rows;
}

export async function insertCoupon(q: Queryable, c: { id: string; cartId: string; couponId: string; code: string; now: Date }): Promise<void> {
  await q.query(
    `INSERT INTO cart_coupons (id, cart_id, coupon_id, code, applied_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`,
    [c.id, c.cartId, c.couponId, c.code, c.now],
  );
}

/** Removes an applied code ignoring case (cart_coupons_cart_code_key); false when it was not applied. */
export async function deleteCouponByCode(q: Queryable, cartId: string, code: string): Promise<boolean> {
  const { rowCount } = await q.query(`DELETE FROM cart_coupons WHERE cart_id = $1 AND lower(code) = lower($2)`, [cartId, code]);
  return (rowCount ?? 0) > 0;
}
