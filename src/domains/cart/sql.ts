import type { Queryable } from '../../platform/db/pool.ts';
import { CART_COUPONS_MAX, CART_ITEMS_MAX } from '../../contracts/cart.ts';
import { newId } from '../../platform/ids.ts';
import { AppError } from '../../platform/http/errors.ts';
import type { Trace } from '../../platform/messaging/envelope.ts';
import { type NewEvent, outboxInsert } from '../../platform/messaging/outbox.ts';

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

/** A cart with its items and applied coupons, read in one statement. */
export interface CartContents extends CartRow {
  items: CartItemRow[];
  coupons: CartCouponRow[];
}

type ContentsRow = CartRow & {
  items: (Omit<CartItemRow, 'addedAt'> & { addedAt: string })[];
  coupons: (Omit<CartCouponRow, 'appliedAt'> & { appliedAt: string })[];
};

/**
 * A cart with its items and coupons (in the order they were added), in ONE statement: the buyer's
 * active cart, or one cart by id. Undefined when there is none. With `lock`, the cart row is locked
 * first, in a statement of its own, for the rest of the transaction: the contents are then read by
 * the next statement, which sees every change committed before the lock was granted (a subquery of
 * a locking statement would still see the snapshot from before the wait).
 */
export async function selectCartContents(q: Queryable, key: { userId: string } | { cartId: string }, lock = false): Promise<CartContents | undefined> {
  const where = 'userId' in key ? `c.user_id = $1 AND c.status = 'active'` : 'c.id = $1';
  const param = 'userId' in key ? key.userId : key.cartId;
  if (lock) {
    const locked = await q.query(`SELECT c.id FROM carts c WHERE ${where} FOR UPDATE`, [param]);
    if (locked.rows.length === 0) return undefined;
  }
  const { rows } = await q.query<ContentsRow>(
    `SELECT c.id, c.user_id AS "userId", c.status, c.checkout_session_id AS "checkoutSessionId", c.version,
            c.created_at AS "createdAt", c.updated_at AS "updatedAt",
            (SELECT coalesce(json_agg(json_build_object('id', i.id, 'cartId', i.cart_id, 'productId', i.product_id, 'variantId', i.variant_id,
                                                        'quantity', i.quantity, 'addedAt', i.added_at) ORDER BY i.added_at, i.id), '[]'::json)
               FROM (SELECT * FROM cart_items WHERE cart_id = c.id ORDER BY added_at, id LIMIT ${CART_ITEMS_MAX}) i) AS items,
            (SELECT coalesce(json_agg(json_build_object('couponId', k.coupon_id, 'code', k.code, 'appliedAt', k.applied_at) ORDER BY k.applied_at, k.id), '[]'::json)
               FROM (SELECT * FROM cart_coupons WHERE cart_id = c.id ORDER BY applied_at, id LIMIT ${CART_COUPONS_MAX}) k) AS coupons
       FROM carts c WHERE ${where}`,
    [param],
  );
  const row = rows[0];
  if (!row) return undefined;
  return {
    ...row,
    items: row.items.map((i) => ({ ...i, addedAt: new Date(i.addedAt) })),
    coupons: row.coupons.map((k) => ({ ...k, appliedAt: new Date(k.appliedAt) })),
  };
}

/**
 * The buyer's active cart with its contents, made when missing (concurrent first adds make one
 * cart); with `lock`, locked until the transaction ends.
 */
export async function activeCartContents(q: Queryable, userId: string, now: Date, lock = false): Promise<CartContents> {
  for (let attempt = 1; ; attempt++) {
    const existing = await selectCartContents(q, { userId }, lock);
    if (existing) return existing;
    // Made by this call: empty, and no other change can have reached it yet.
    const made = await ensureActiveCart(q, newId(), userId, now);
    if (made) return { ...made, items: [], coupons: [] };
    // Another request made the buyer's cart between the two statements, and a checkout may have
    // closed it since: read again, or make the next one.
    const cart = await selectCartContents(q, { userId }, lock);
    if (cart) return cart;
    if (attempt === ACTIVE_CART_ATTEMPTS) throw new AppError('CONFLICT', 'the cart was checked out while this change was made: send it again');
  }
}

/** Rounds of activeCartContents: each lost only to a cart made and checked out between its statements. */
const ACTIVE_CART_ATTEMPTS = 3;

/**
 * Creates the buyer's active cart unless one exists (concurrent first adds make one cart); returns
 * it when this call made it.
 */
export async function ensureActiveCart(q: Queryable, id: string, userId: string, now: Date): Promise<CartRow | undefined> {
  const { rows } = await q.query<CartRow>(
    `INSERT INTO carts (id, user_id, created_at, updated_at) VALUES ($1, $2, $3, $3)
     ON CONFLICT (user_id) WHERE status = 'active' DO NOTHING
     RETURNING id, user_id AS "userId", status, checkout_session_id AS "checkoutSessionId", version, created_at AS "createdAt", updated_at AS "updatedAt"`,
    [id, userId, now],
  );
  return rows[0];
}

/** Every change bumps the version and the time; the cart row lock serialises the buyer's changes. */
export async function touchCart(q: Queryable, cartId: string, now: Date): Promise<number> {
  const { rows } = await q.query<{ version: number }>(
    `UPDATE carts SET version = version + 1, updated_at = $2 WHERE id = $1 RETURNING version`,
    [cartId, now],
  );
  return rows[0]!.version;
}

/**
 * Marks the cart checked out and writes its events, in one statement, if the cart is still active at
 * `expectedVersion` (compare-and-set); false when it changed meanwhile.
 */
export async function markCartCheckedOut(
  q: Queryable,
  cartId: string,
  expectedVersion: number,
  checkoutSessionId: string,
  events: NewEvent[],
  trace: Trace | null,
  now: Date,
): Promise<boolean> {
  const outbox = outboxInsert('cart', events, 5, trace, now, { guard: 'EXISTS (SELECT 1 FROM marked)' });
  const { rows } = await q.query(
    `WITH marked AS (
       UPDATE carts SET status = 'checked_out', checkout_session_id = $2, version = version + 1, updated_at = $3
        WHERE id = $1 AND version = $4 AND status = 'active'
       RETURNING id),
     events AS (${outbox.sql})
     SELECT id FROM marked`,
    [cartId, checkoutSessionId, now, expectedVersion, ...outbox.values],
  );
  return rows.length > 0;
}

/**
 * Writes an item change (a new line, or a line's new quantity), bumps the cart's version and writes
 * the change's events, in one statement, if the cart is still active at `expectedVersion`
 * (compare-and-set: the change was decided from that version). Returns the new version, or null
 * when the cart changed meanwhile (nothing written: decide again).
 */
export async function writeItemChange(
  q: Queryable,
  change: { kind: 'insert'; item: CartItemRow } | { kind: 'quantity'; itemId: string; quantity: number },
  cartId: string,
  expectedVersion: number,
  events: NewEvent[],
  trace: Trace | null,
  now: Date,
): Promise<number | null> {
  const outbox = outboxInsert('cart', events, 8, trace, now, { guard: 'EXISTS (SELECT 1 FROM touched)' });
  const write =
    change.kind === 'insert'
      ? `INSERT INTO cart_items (id, cart_id, product_id, variant_id, quantity, added_at, updated_at)
         SELECT $3, $1, $4::uuid, $5::uuid, $6::int, $2, $2 WHERE EXISTS (SELECT 1 FROM touched)`
      : // Both shapes take the same six parameters; the update has no use for $4 and $5 (always null).
        `UPDATE cart_items SET quantity = $6::int, updated_at = $2
          WHERE id = $3 AND $4::uuid IS NULL AND $5::uuid IS NULL AND EXISTS (SELECT 1 FROM touched)`;
  const params =
    change.kind === 'insert'
      ? [change.item.id, change.item.productId, change.item.variantId, change.item.quantity]
      : [change.itemId, null, null, change.quantity];
  const { rows } = await q.query<{ version: number }>(
    `WITH touched AS (
       UPDATE carts SET version = version + 1, updated_at = $2 WHERE id = $1 AND version = $7 AND status = 'active' RETURNING version),
     item AS (${write}),
     events AS (${outbox.sql})
     SELECT version FROM touched`,
    [cartId, now, ...params, expectedVersion, ...outbox.values],
  );
  return rows[0]?.version ?? null;
}

/**
 * An item of the buyer's active cart; another buyer's item is as absent as a missing one. With
 * `lock`, the cart's row and the item's are locked (cart first, as every change of a cart takes
 * them): after waiting for a concurrent change, both are read again as it left them, where locking
 * the cart alone would still show the item as it was before (gone, or at another quantity).
 */
export async function selectOwnItem(q: Queryable, userId: string, itemId: string, lock = false): Promise<(CartItemRow & { cartVersion: number }) | undefined> {
  const { rows } = await q.query<CartItemRow & { cartVersion: number }>(
    `SELECT i.id, i.cart_id AS "cartId", i.product_id AS "productId", i.variant_id AS "variantId", i.quantity, i.added_at AS "addedAt",
            c.version AS "cartVersion"
       FROM carts c JOIN cart_items i ON i.cart_id = c.id
      WHERE i.id = $1 AND c.user_id = $2 AND c.status = 'active'${lock ? ' FOR UPDATE OF c, i' : ''}`,
    [itemId, userId],
  );
  return rows[0];
}

export async function updateItemQuantity(q: Queryable, itemId: string, quantity: number, now: Date): Promise<void> {
  await q.query(`UPDATE cart_items SET quantity = $2, updated_at = $3 WHERE id = $1`, [itemId, quantity, now]);
}

export async function deleteItem(q: Queryable, itemId: string): Promise<void> {
  await q.query(`DELETE FROM cart_items WHERE id = $1`, [itemId]);
}

/**
 * Applies a coupon and bumps the cart's version, in one statement, if the cart is still active at
 * `expectedVersion`; returns the new version, or null when the cart changed meanwhile.
 */
export async function insertCoupon(
  q: Queryable,
  c: { id: string; cartId: string; couponId: string; code: string; now: Date; expectedVersion: number },
): Promise<number | null> {
  const { rows } = await q.query<{ version: number }>(
    `WITH touched AS (
       UPDATE carts SET version = version + 1, updated_at = $5 WHERE id = $2 AND version = $6 AND status = 'active' RETURNING version),
     applied AS (
       INSERT INTO cart_coupons (id, cart_id, coupon_id, code, applied_at)
       SELECT $1, $2, $3, $4, $5 WHERE EXISTS (SELECT 1 FROM touched)
       ON CONFLICT DO NOTHING)
     SELECT version FROM touched`,
    [c.id, c.cartId, c.couponId, c.code, c.now, c.expectedVersion],
  );
  return rows[0]?.version ?? null;
}

/** Removes an applied code ignoring case (cart_coupons_cart_code_key); false when it was not applied. */
export async function deleteCouponByCode(q: Queryable, cartId: string, code: string): Promise<boolean> {
  const { rowCount } = await q.query(`DELETE FROM cart_coupons WHERE cart_id = $1 AND lower(code) = lower($2)`, [cartId, code]);
  return (rowCount ?? 0) > 0;
}
