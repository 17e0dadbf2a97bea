import { type Queryable, type Tx, abortReason, commitWith } from '../../platform/db/pool.ts';
import type { Trace } from '../../platform/messaging/envelope.ts';
import { type NewEvent, outboxInsert } from '../../platform/messaging/outbox.ts';
import type { ReleaseReason } from '../../contracts/coupons.ts';
import { type NewCoupon, type RuleRow, rulesFromRows } from './coupon-rules.ts';
import type { CouponStatus, CouponTerms } from './discounts.ts';

/** The coupons domain's queries, parameterised; every list is bounded by its caller. */

export const CODE_UNIQUE_CONSTRAINT = 'coupons_code_key';

export interface CouponRecord extends CouponTerms {
  createdBy: string;
  createdAt: Date;
}

interface CouponRow {
  id: string;
  code: string;
  seller_id: string | null;
  type: CouponTerms['type'];
  discount: number;
  currency: string | null;
  max_uses: number | null;
  uses_count: number;
  status: CouponStatus;
  valid_from: Date;
  valid_to: Date | null;
  created_by: string;
  created_at: Date;
  rules: Record<string, Record<string, unknown>>;
}

const COUPON_COLUMNS = `c.id, c.code::text AS code, c.seller_id, c.type, c.discount, c.currency, c.max_uses, c.uses_count, c.status,
  c.valid_from, c.valid_to, c.created_by, c.created_at,
  coalesce((SELECT jsonb_object_agg(r.rule_type, r.rule_json) FROM coupon_rules r WHERE r.coupon_id = c.id), '{}'::jsonb) AS rules`;

function toRecord(row: CouponRow): CouponRecord {
  return {
    id: row.id,
    code: row.code,
    sellerId: row.seller_id,
    type: row.type,
    discount: row.discount,
    currency: row.currency,
    maxUses: row.max_uses,
    usesCount: row.uses_count,
    status: row.status,
    validFrom: row.valid_from,
    validTo: row.valid_to,
    rules: rulesFromRows(row.rules),
    createdBy: row.created_by,
    createdAt: row.created_at,
  };
}

export async function insertCoupon(q: Queryable, c: NewCoupon & { id: string; createdBy: string; now: Date }): Promise<void> {
  await q.query(
    `INSERT INTO coupons (id, code, seller_id, type, discount, currency, max_uses, valid_from, valid_to, created_by, created_at, updated_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11)`,
    [c.id, c.code, c.sellerId, c.type, c.discount, c.currency, c.maxUses, c.validFrom, c.validTo, c.createdBy, c.now],
  );
}

export async function insertRules(q: Queryable, couponId: string, rows: (RuleRow & { id: string })[], now: Date): Promise<void> {
  if (rows.length === 0) return;
  await q.query(
    `INSERT INTO coupon_rules (id, coupon_id, rule_type, rule_json, created_at)
     SELECT id, $2, rule_type, rule_json, $3 FROM unnest($1::uuid[], $4::text[], $5::jsonb[]) AS r(id, rule_type, rule_json)`,
    [rows.map((r) => r.id), couponId, now, rows.map((r) => r.ruleType), rows.map((r) => JSON.stringify(r.ruleJson))],
  );
}

export async function selectCouponById(q: Queryable, id: string): Promise<CouponRecord | undefined> {
  const { rows } = await q.query<CouponRow>(`SELECT ${COUPON_COLUMNS} FROM coupons c WHERE c.id = $1`, [id]);
  return rows[0] && toRecord(rows[0]);
}

/** A seller's coupons, or the platform's (sellerId null), newest first, after the cursor (created_at, id); both read coupons_seller_idx. */
export async function selectSellerCoupons(
  q: Queryable,
  sellerId: string | null,
  after: { createdAt: string; id: string } | undefined,
  limit: number,
): Promise<CouponRecord[]> {
  const { rows } = await q.query<CouponRow>(
    `SELECT ${COUPON_COLUMNS} FROM coupons c
      WHERE ${sellerId === null ? 'c.seller_id IS NULL AND $1::uuid IS NULL' : 'c.seller_id = $1'}
        AND ($2::timestamptz IS NULL OR (c.created_at, c.id) < ($2::timestamptz, $3::uuid))
      ORDER BY c.created_at DESC, c.id DESC
      LIMIT $4`,
    [sellerId, after?.createdAt ?? null, after?.id ?? null, limit],
  );
  return rows.map(toRecord);
}

/**
 * What the rules need to know about the buyer: a live order, or another checkout on its way to
 * orders (an active redemption, or a checkout without coupons noted at its coupon step and whose
 * orders are not known yet), means "not a first order"; and which of these coupons the buyer holds
 * an active one-per-customer use of.
 */
export interface BuyerFacts {
  hasOrdered: boolean;
  usedCouponIds: Set<string>;
}

/**
 * Whether buyer $n has ordered: a live order, a coupon redeemed by another checkout than $n+1
 * (null: any) and not released, or another checkout without coupons, noted and not released, whose
 * orders are not known yet (once they are, the orders answer: a cancelled one does not count).
 */
function hasOrderedSql(buyer: number, exceptSession: number): string {
  return `EXISTS (SELECT 1 FROM coupon_buyer_orders o WHERE o.buyer_id = $${buyer} AND o.cancelled_at IS NULL)
         OR EXISTS (SELECT 1 FROM coupon_redemptions r
                     WHERE r.user_id = $${buyer} AND r.checkout_session_id IS DISTINCT FROM $${exceptSession}::uuid
                       AND NOT EXISTS (SELECT 1 FROM coupon_redemption_releases x WHERE x.redemption_id = r.id))
         OR EXISTS (SELECT 1 FROM coupon_buyer_checkouts k
                     WHERE k.buyer_id = $${buyer} AND k.released_at IS NULL AND k.checkout_session_id IS DISTINCT FROM $${exceptSession}::uuid
                       AND NOT EXISTS (SELECT 1 FROM coupon_buyer_orders o WHERE o.checkout_session_id = k.checkout_session_id))`;
}

/** The advisory lock key of a checkout session (`ref`: an SQL expression of type uuid). */
const sessionLockKey = (ref: string) => `hashtextextended('coupons.checkout:' || ${ref}::text, 0)`;

/**
 * Serialises what is done for one checkout session (its redemption or note, and its release) until
 * the transaction ends. Statements sent after this one see what the previous holder committed; this
 * one's own snapshot may be older, so it reads nothing.
 */
export async function lockCheckoutSession(tx: Tx, checkoutSessionId: string): Promise<void> {
  await tx.query(`SELECT pg_advisory_xact_lock(${sessionLockKey('$1::uuid')})`, [checkoutSessionId]);
}

/** Whether the checkout's coupons were given back (its compensation ran); read under lockCheckoutSession. */
export async function checkoutReleased(tx: Tx, checkoutSessionId: string): Promise<boolean> {
  const { rows } = await tx.query('SELECT 1 FROM coupon_released_checkouts WHERE checkout_session_id = $1', [checkoutSessionId]);
  return rows.length > 0;
}

/**
 * Takes the session's lock and marks its coupons given back (once), in one statement: the mark is
 * written after the lock is held, and the caller's next statements see any redemption committed
 * before.
 */
export async function lockAndMarkCheckoutReleased(tx: Tx, checkoutSessionId: string, now: Date): Promise<void> {
  await tx.query(
    `WITH locked AS (SELECT pg_advisory_xact_lock(${sessionLockKey('$1::uuid')}))
     INSERT INTO coupon_released_checkouts (checkout_session_id, released_at) SELECT $1, $2 FROM locked
     ON CONFLICT (checkout_session_id) DO NOTHING`,
    [checkoutSessionId, now],
  );
}

/**
 * Notes a checkout without coupons at its coupon step (idempotent), so that the buyer's other
 * checkouts see it as an order on its way, unless the checkout's coupons were given back already
 * (false then). Run under lockCheckoutSession. A first-order redemption that read the buyer's facts
 * before this note was committed came first: the coupon goes to the checkout that got there first.
 */
export async function noteBuyerCheckout(tx: Tx, checkoutSessionId: string, buyerId: string, now: Date): Promise<boolean> {
  // Under the buyer's first-order lock (taken first, in the statement): a first-order redemption of
  // another checkout either committed before this note or reads it (see lockBuyerFirstOrder).
  const { rows } = await tx.query<{ released: boolean }>(
    `WITH locked AS (SELECT ${FIRST_ORDER_LOCK_SQL('$2::uuid')}),
          released AS (SELECT EXISTS (SELECT 1 FROM coupon_released_checkouts WHERE checkout_session_id = $1) AS released FROM locked),
          noted AS (
            INSERT INTO coupon_buyer_checkouts (checkout_session_id, buyer_id, noted_at) SELECT $1, $2, $3 FROM released WHERE NOT released
            ON CONFLICT (checkout_session_id) DO NOTHING)
     SELECT released FROM released`,
    [checkoutSessionId, buyerId, now],
  );
  return rows[0]?.released !== true;
}

/** A failed checkout's note is let go: it makes no order. */
export async function releaseBuyerCheckout(q: Queryable, checkoutSessionId: string, now: Date): Promise<void> {
  await q.query('UPDATE coupon_buyer_checkouts SET released_at = $2 WHERE checkout_session_id = $1 AND released_at IS NULL', [checkoutSessionId, now]);
}

export async function selectBuyerFacts(q: Queryable, buyerId: string, couponIds: readonly string[], exceptSessionId: string | null): Promise<BuyerFacts> {
  const { rows } = await q.query<{ has_ordered: boolean; used: string[] }>(
    `SELECT ${hasOrderedSql(1, 3)} AS has_ordered,
            coalesce((SELECT array_agg(u.coupon_id) FROM coupon_customer_uses u
                       WHERE u.user_id = $1 AND u.coupon_id = ANY($2::uuid[]) AND u.uses_count > 0), '{}') AS used`,
    [buyerId, couponIds, exceptSessionId],
  );
  const row = rows[0]!;
  return { hasOrdered: row.has_ordered, usedCouponIds: new Set(row.used) };
}

/**
 * The coupons by code, ignoring case (citext; at most as many as codes given), and what their
 * rules need to know about the buyer (as selectBuyerFacts), read together in one statement. Without a coupon found, the facts are
 * not read: no rule asks for them.
 */
export async function selectCouponsWithBuyerFacts(
  q: Queryable,
  codes: readonly string[],
  buyerId: string,
  exceptSessionId: string | null,
): Promise<{ coupons: CouponRecord[]; buyer: BuyerFacts }> {
  if (codes.length === 0) return { coupons: [], buyer: { hasOrdered: false, usedCouponIds: new Set() } };
  const { rows } = await q.query<CouponRow & { has_ordered: boolean; used_by_buyer: boolean }>(
    `SELECT ${COUPON_COLUMNS}, f.has_ordered,
            EXISTS (SELECT 1 FROM coupon_customer_uses u WHERE u.user_id = $2 AND u.coupon_id = c.id AND u.uses_count > 0) AS used_by_buyer
       FROM coupons c, (SELECT ${hasOrderedSql(2, 3)} AS has_ordered) f
      WHERE c.code = ANY($1::citext[])`,
    [codes, buyerId, exceptSessionId],
  );
  const buyer = { hasOrdered: rows[0]?.has_ordered ?? false, usedCouponIds: new Set(rows.filter((r) => r.used_by_buyer).map((r) => r.id)) };
  return { coupons: rows.map(toRecord), buyer };
}

/** The lock of a buyer's first-order checks, as SQL taking it for the buyer id (a uuid) in `param`. */
const FIRST_ORDER_LOCK_SQL = (param: string) => `pg_advisory_xact_lock(hashtextextended('coupons.first_order:' || ${param}::text, 0))`;

/**
 * Serialises one buyer's checkouts at their coupon step (held until commit): a first-order check
 * and every redemption or note that makes the buyer's checkout "on its way". Taken by all of them,
 * not only by first-order redemptions: a note committed after a first-order redemption read the
 * facts, and before it committed, gave the coupon to a buyer whose other checkout was already on
 * its way (found by a review).
 */
export async function lockBuyerFirstOrder(q: Queryable, buyerId: string): Promise<void> {
  await q.query(`SELECT ${FIRST_ORDER_LOCK_SQL('$1::uuid')}`, [buyerId]);
}

export interface RedemptionRecord {
  id: string;
  couponId: string;
  code: string;
  sellerId: string | null;
  userId: string;
  checkoutSessionId: string;
  amount: number;
  currency: string;
  redeemedAt: Date;
  released: boolean;
  onePerCustomer: boolean;
  lines: { lineId: string; sellerId: string; discountAmount: number }[];
}

/** A checkout session's redemptions (a session redeems at most CODES_MAX coupons). */
export async function selectSessionRedemptions(q: Queryable, checkoutSessionId: string): Promise<RedemptionRecord[]> {
  const { rows } = await q.query<{
    id: string;
    coupon_id: string;
    code: string;
    seller_id: string | null;
    user_id: string;
    checkout_session_id: string;
    amount: number;
    currency: string;
    redeemed_at: Date;
    released: boolean;
    one_per_customer: boolean;
    lines: { lineId: string; sellerId: string; discountAmount: number }[];
  }>(
    `SELECT r.id, r.coupon_id, c.code::text AS code, c.seller_id, r.user_id, r.checkout_session_id, r.amount, r.currency, r.redeemed_at,
            EXISTS (SELECT 1 FROM coupon_redemption_releases x WHERE x.redemption_id = r.id) AS released,
            EXISTS (SELECT 1 FROM coupon_rules cr WHERE cr.coupon_id = r.coupon_id AND cr.rule_type = 'one_per_customer') AS one_per_customer,
            coalesce((SELECT jsonb_agg(jsonb_build_object('lineId', l.line_id, 'sellerId', l.seller_id, 'discountAmount', l.amount) ORDER BY l.line_id)
                        FROM coupon_redemption_lines l WHERE l.redemption_id = r.id), '[]'::jsonb) AS lines
       FROM coupon_redemptions r JOIN coupons c ON c.id = r.coupon_id
      WHERE r.checkout_session_id = $1
      ORDER BY r.coupon_id
      LIMIT 20`,
    [checkoutSessionId],
  );
  return rows.map((r) => ({
    id: r.id,
    couponId: r.coupon_id,
    code: r.code,
    sellerId: r.seller_id,
    userId: r.user_id,
    checkoutSessionId: r.checkout_session_id,
    amount: r.amount,
    currency: r.currency,
    redeemedAt: r.redeemed_at,
    released: r.released,
    onePerCustomer: r.one_per_customer,
    lines: r.lines,
  }));
}

/** One-per-customer: counts the buyer's use only while it is below 1 (no row back: used already). */
export async function takeCustomerUse(q: Queryable, couponId: string, userId: string, now: Date): Promise<boolean> {
  const { rowCount } = await q.query(
    `INSERT INTO coupon_customer_uses (coupon_id, user_id, uses_count, updated_at) VALUES ($1, $2, 1, $3)
     ON CONFLICT (coupon_id, user_id) DO UPDATE SET uses_count = coupon_customer_uses.uses_count + 1, updated_at = EXCLUDED.updated_at
      WHERE coupon_customer_uses.uses_count < 1
     RETURNING uses_count`,
    [couponId, userId, now],
  );
  return rowCount === 1;
}

/** Why a redemption's write was refused: no use left, or this session redeemed the coupon already. */
export class RedeemRefused extends Error {
  constructor(readonly reason: 'exhausted' | 'session_race') {
    super(reason);
  }
}

/**
 * Takes one use of the coupon (only while it is active and has uses left) and writes, in the same
 * statement, the redemption, its lines and `event` (its usesCount and maxUses set to the coupon's
 * counters after this use). A refusal fails the statement
 * (bazaar_abort), so nothing of it or of its transaction stays: RedeemRefused `exhausted` (no use
 * left) or `session_race` (this session redeemed the coupon already: a concurrent retry). With
 * `commit`, the transaction's COMMIT goes in the same message (commitWith): the coupon's row, which
 * every checkout of a popular coupon updates, is held for this one statement only.
 */
export async function redeemWrite(
  tx: Tx,
  r: { id: string; couponId: string; userId: string; checkoutSessionId: string; amount: number; currency: string; now: Date },
  lines: { lineId: string; sellerId: string; productId: string; variantId: string; discountAmount: number }[],
  event: NewEvent,
  trace: Trace | null,
  commit: boolean,
): Promise<void> {
  const outbox = outboxInsert('coupons', [event], 13, trace, r.now, {
    guard: 'EXISTS (SELECT 1 FROM redemption)',
    payload: `e->'payload' || (SELECT jsonb_build_object('usesCount', uses_count, 'maxUses', max_uses) FROM used)`,
  });
  const text = `WITH used AS (
       UPDATE coupons SET uses_count = uses_count + 1, updated_at = $7
        WHERE id = $2 AND status = 'active' AND (max_uses IS NULL OR uses_count < max_uses)
       RETURNING uses_count, max_uses
     ), redemption AS (
       INSERT INTO coupon_redemptions (id, coupon_id, user_id, checkout_session_id, amount, currency, redeemed_at)
       SELECT $1::uuid, $2::uuid, $3::uuid, $4::uuid, $5::bigint, $6::text, $7::timestamptz FROM used
       ON CONFLICT (coupon_id, checkout_session_id) DO NOTHING
       RETURNING id
     ), lines AS (
       INSERT INTO coupon_redemption_lines (redemption_id, line_id, seller_id, product_id, variant_id, amount)
       SELECT r.id, l.* FROM redemption r, unnest($8::text[], $9::uuid[], $10::uuid[], $11::uuid[], $12::bigint[]) AS l
     ), outbox AS (${outbox.sql})
     SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM used) THEN bazaar_abort('exhausted')
                 WHEN NOT EXISTS (SELECT 1 FROM redemption) THEN bazaar_abort('session_race') END AS refused`;
  const values = [
    r.id,
    r.couponId,
    r.userId,
    r.checkoutSessionId,
    r.amount,
    r.currency,
    r.now,
    lines.map((l) => l.lineId),
    lines.map((l) => l.sellerId),
    lines.map((l) => l.productId),
    lines.map((l) => l.variantId),
    lines.map((l) => l.discountAmount),
    ...outbox.values,
  ];
  try {
    if (commit) await commitWith(tx, text, values);
    else await tx.query(text, values);
  } catch (error) {
    const reason = abortReason(error);
    if (reason === 'exhausted' || reason === 'session_race') throw new RedeemRefused(reason);
    throw error;
  }
}

/** Records the release once (unique per redemption); false when it was released already. */
export async function insertRelease(q: Queryable, r: { id: string; redemptionId: string; reason: ReleaseReason; now: Date }): Promise<boolean> {
  const { rowCount } = await q.query(
    `INSERT INTO coupon_redemption_releases (id, redemption_id, reason, released_at) VALUES ($1, $2, $3, $4)
     ON CONFLICT (redemption_id) DO NOTHING`,
    [r.id, r.redemptionId, r.reason, r.now],
  );
  return rowCount === 1;
}

/**
 * Locks these checkout sessions (as lockCheckoutSession, in id order), then, in id order, the
 * coupons of their unreleased redemptions: what a batch of cancellations may give uses back to.
 * Taken up front, in the order redeem and a checkout's release take them (the session, then its
 * coupons), so a batch releasing B then A cannot deadlock with a checkout that holds A and waits for
 * B, nor with a checkout's release of the same session (it records its releases, then waits for the
 * coupon rows such a batch would hold, while the batch waits for those release records).
 */
export async function lockCouponsOfSessions(q: Queryable, checkoutSessionIds: readonly string[]): Promise<void> {
  await q.query(
    `SELECT pg_advisory_xact_lock(${sessionLockKey('s.id')})
       FROM (SELECT DISTINCT id FROM unnest($1::uuid[]) AS u(id) ORDER BY id) s`,
    [checkoutSessionIds],
  );
  await q.query(
    `SELECT c.id FROM coupons c
      WHERE c.id IN (SELECT r.coupon_id FROM coupon_redemptions r
                      WHERE r.checkout_session_id = ANY($1::uuid[])
                        AND NOT EXISTS (SELECT 1 FROM coupon_redemption_releases x WHERE x.redemption_id = r.id))
      ORDER BY c.id
      FOR UPDATE OF c`,
    [checkoutSessionIds],
  );
}

export async function giveUseBack(q: Queryable, couponId: string, now: Date): Promise<{ usesCount: number; maxUses: number | null }> {
  const { rows } = await q.query<{ uses_count: number; max_uses: number | null }>(
    `UPDATE coupons SET uses_count = uses_count - 1, updated_at = $2 WHERE id = $1 RETURNING uses_count, max_uses`,
    [couponId, now],
  );
  const row = rows[0]!;
  return { usesCount: row.uses_count, maxUses: row.max_uses };
}

export async function giveCustomerUseBack(q: Queryable, couponId: string, userId: string, now: Date): Promise<void> {
  await q.query(
    `UPDATE coupon_customer_uses SET uses_count = uses_count - 1, updated_at = $3
      WHERE coupon_id = $1 AND user_id = $2 AND uses_count > 0`,
    [couponId, userId, now],
  );
}

export async function recordOrderPlaced(
  q: Queryable,
  o: { orderId: string; buyerId: string; checkoutSessionId: string; sellerId: string; placedAt: string },
): Promise<void> {
  // The session's note (a checkout without coupons) has done its work: its orders answer now.
  await q.query(
    `WITH placed AS (
       INSERT INTO coupon_buyer_orders (order_id, buyer_id, checkout_session_id, seller_id, placed_at)
       VALUES ($1, $2, $3, $4, $5) ON CONFLICT (order_id) DO NOTHING)
     DELETE FROM coupon_buyer_checkouts WHERE checkout_session_id = $3`,
    [o.orderId, o.buyerId, o.checkoutSessionId, o.sellerId, o.placedAt],
  );
}

export async function recordOrderCancelled(
  q: Queryable,
  o: { orderId: string; buyerId: string; checkoutSessionId: string; sellerId: string; placedAt: string; cancelledAt: string },
): Promise<void> {
  await q.query(
    `INSERT INTO coupon_buyer_orders (order_id, buyer_id, checkout_session_id, seller_id, placed_at, cancelled_at)
     VALUES ($1, $2, $3, $4, $5, $6)
     ON CONFLICT (order_id) DO UPDATE SET cancelled_at = coalesce(coupon_buyer_orders.cancelled_at, EXCLUDED.cancelled_at)`,
    [o.orderId, o.buyerId, o.checkoutSessionId, o.sellerId, o.placedAt, o.cancelledAt],
  );
}

/** Sellers of the session whose order is known and cancelled. */
export async function selectCancelledSellers(q: Queryable, checkoutSessionId: string): Promise<Set<string>> {
  const { rows } = await q.query<{ seller_id: string }>(
    `SELECT seller_id FROM coupon_buyer_orders WHERE checkout_session_id = $1 AND cancelled_at IS NOT NULL LIMIT 200`,
    [checkoutSessionId],
  );
  return new Set(rows.map((r) => r.seller_id));
}
