import { CouponRedeemedV1, normaliseCouponCode } from '../../contracts/coupons.ts';
import { type Tx, withTransaction } from '../../platform/db/pool.ts';
import { AppError } from '../../platform/http/errors.ts';
import { isUuid, newId } from '../../platform/ids.ts';
import type { Trace } from '../../platform/messaging/envelope.ts';
import { type AssessInput, assessCoupons } from './assess.ts';
import type { CouponsDeps } from './deps.ts';
import { type CouponOutcome, type LineDiscount, discountsByLine } from './discounts.ts';
import {
  RedeemRefused,
  type RedemptionRecord,
  checkoutReleased,
  lockCheckoutSession,
  noteBuyerCheckout,
  redeemWrite,
  selectSessionRedemptions,
  takeCustomerUse,
} from './sql.ts';

export interface RedeemInput extends AssessInput {
  checkoutSessionId: string;
  /** The caller's trace (checkout's session), carried by the redemption events. */
  trace?: Trace | null;
}

export interface Redemption {
  redemptionId: string;
  couponId: string;
  code: string;
  discountAmount: number;
  currency: string;
  /** The coupon's eligible lines with their share (the shares add up to discountAmount). */
  lines: LineDiscount[];
}

export interface RedeemResult {
  checkoutSessionId: string;
  currency: string;
  redemptions: Redemption[];
  /** Every line given, with the discount of all redemptions together. */
  lines: LineDiscount[];
  discountAmount: number;
}

/** Another transaction of the same session redeemed the coupon first: retry, and replay its result. */
class SessionRace extends Error {}

/** The error a refused coupon becomes; extensions name the code and the reason for clients. */
export function refusalOf(outcome: Extract<CouponOutcome, { valid: false }>): AppError {
  const extensions = { couponCode: outcome.code, reason: outcome.reason };
  const detail = `${outcome.code}: ${outcome.message}`;
  if (outcome.reason === 'exhausted') return new AppError('COUPON_EXHAUSTED', detail, extensions);
  if (outcome.reason === 'already_used') return new AppError('COUPON_ALREADY_USED', detail, extensions);
  return new AppError('COUPON_NOT_APPLICABLE', detail, extensions);
}

function resultOf(input: RedeemInput, redemptions: Redemption[]): RedeemResult {
  const lines = discountsByLine(
    input.lines,
    redemptions.map((r) => ({ code: r.code, couponId: r.couponId, valid: true as const, discountAmount: r.discountAmount, lines: r.lines })),
  );
  return {
    checkoutSessionId: input.checkoutSessionId,
    currency: input.currency,
    redemptions,
    lines,
    discountAmount: redemptions.reduce((a, r) => a + r.discountAmount, 0),
  };
}

const releasedSession = (checkoutSessionId: string) =>
  new AppError('CONFLICT', `the coupons of checkout session ${checkoutSessionId} were released; start a new checkout`);

/** A retried redeem of a session returns what the first one did, if it asks for the same thing. */
function replay(input: RedeemInput, existing: RedemptionRecord[]): RedeemResult {
  if (existing.some((r) => r.released)) throw releasedSession(input.checkoutSessionId);
  const asked = input.codes.map(normaliseCouponCode);
  const byCode = new Map(existing.map((r) => [r.code, r]));
  const same =
    existing.length === new Set(asked).size &&
    asked.every((c) => byCode.has(c)) &&
    existing.every((r) => r.userId === input.buyerId.toLowerCase() && r.currency === input.currency);
  if (!same) throw new AppError('CONFLICT', `checkout session ${input.checkoutSessionId} redeemed other coupons (${existing.map((r) => r.code).join(', ')})`);
  const ordered = [...new Set(asked)].map((c) => byCode.get(c)!);
  return resultOf(
    input,
    ordered.map((r) => ({
      redemptionId: r.id,
      couponId: r.couponId,
      code: r.code,
      discountAmount: r.amount,
      currency: r.currency,
      lines: r.lines.map((l) => ({ lineId: l.lineId, discountAmount: l.discountAmount })),
    })),
  );
}

async function redeemOnce(deps: CouponsDeps, input: RedeemInput): Promise<RedeemResult> {
  const now = deps.clock.now();
  return withTransaction(deps.pool, async (tx: Tx) => {
    // One run of a session at a time, and none after its release (see releaseForCheckout).
    await lockCheckoutSession(tx, input.checkoutSessionId);
    const existing = await selectSessionRedemptions(tx, input.checkoutSessionId);
    if (existing.length > 0) return replay(input, existing);
    if (await checkoutReleased(tx, input.checkoutSessionId)) throw releasedSession(input.checkoutSessionId);

    const { outcomes, coupons } = await assessCoupons(tx, input, now, input.checkoutSessionId);
    const refused = outcomes.find((o) => !o.valid);
    if (refused && !refused.valid) throw refusalOf(refused);
    const valid = outcomes.filter((o): o is Extract<CouponOutcome, { valid: true }> => o.valid);
    const linesById = new Map(input.lines.map((l) => [l.lineId, l]));

    const redemptions = new Map<string, Redemption>();
    // Coupons in id order: two checkouts holding the same coupons cannot deadlock. The buyer's own
    // use first; the coupon's row (shared by every checkout of it) is taken by the statement that
    // writes the redemption and its event, and the last of those statements carries the COMMIT.
    const sorted = [...valid].sort((a, b) => (a.couponId < b.couponId ? -1 : 1));
    for (const outcome of sorted) {
      const coupon = coupons.get(outcome.code)!;
      if (coupon.rules.onePerCustomer && !(await takeCustomerUse(tx, coupon.id, input.buyerId, now))) {
        throw refusalOf({ ...outcome, valid: false, reason: 'already_used', message: 'you have used this coupon already: one use per customer' });
      }
    }
    for (const outcome of sorted) {
      const coupon = coupons.get(outcome.code)!;
      const redemptionId = newId();
      const data: CouponRedeemedV1 = {
        redemptionId,
        couponId: coupon.id,
        code: coupon.code,
        sellerId: coupon.sellerId,
        buyerId: input.buyerId,
        checkoutSessionId: input.checkoutSessionId,
        amount: outcome.discountAmount,
        currency: input.currency,
        // As read; the statement writes the counters as they are after this use.
        usesCount: coupon.usesCount + 1,
        maxUses: coupon.maxUses,
        redeemedAt: now.toISOString(),
      };
      await redeemWrite(
        tx,
        {
          id: redemptionId,
          couponId: coupon.id,
          userId: input.buyerId,
          checkoutSessionId: input.checkoutSessionId,
          amount: outcome.discountAmount,
          currency: input.currency,
          now,
        },
        outcome.lines.map((l) => {
          const line = linesById.get(l.lineId)!;
          return { lineId: l.lineId, sellerId: line.sellerId, productId: line.productId, variantId: line.variantId, discountAmount: l.discountAmount };
        }),
        { type: CouponRedeemedV1.type, aggregateId: coupon.id, aggregateType: 'coupon', data },
        input.trace ?? null,
        // The last write commits with it: nothing else runs in this transaction after it.
        outcome === sorted[sorted.length - 1],
      ).catch((error: unknown) => {
        if (!(error instanceof RedeemRefused)) throw error;
        if (error.reason === 'session_race') throw new SessionRace();
        throw refusalOf({ ...outcome, valid: false, reason: 'exhausted', message: 'the coupon has no uses left' });
      });
      redemptions.set(outcome.code, { redemptionId, couponId: coupon.id, code: coupon.code, discountAmount: outcome.discountAmount, currency: input.currency, lines: outcome.lines });
    }
    return resultOf(input, valid.map((o) => redemptions.get(o.code)!));
  });
}

/**
 * Redeems every code for the checkout session in one transaction, or none: all apply or the first
 * refusal is thrown (COUPON_NOT_APPLICABLE, COUPON_EXHAUSTED, COUPON_ALREADY_USED). Idempotent per
 * (coupon, session): a retry returns the first result. Without codes it notes the buyer's checkout
 * (for first-order coupons of the buyer's other checkouts) and redeems nothing.
 */
export async function redeem(deps: CouponsDeps, input: RedeemInput): Promise<RedeemResult> {
  if (!isUuid(input.checkoutSessionId) || !isUuid(input.buyerId)) throw new RangeError('checkoutSessionId and buyerId must be UUIDs');
  if (input.codes.length === 0) {
    // No coupon to redeem, but an order on its way: first-order coupons of the buyer's other
    // checkouts must see it before its orders' event arrives.
    const now = deps.clock.now();
    const noted = await withTransaction(deps.pool, async (tx) => {
      await lockCheckoutSession(tx, input.checkoutSessionId);
      return noteBuyerCheckout(tx, input.checkoutSessionId, input.buyerId, now);
    });
    if (!noted) throw releasedSession(input.checkoutSessionId);
    return resultOf(input, []);
  }
  for (let attempt = 1; ; attempt++) {
    try {
      return await redeemOnce(deps, input);
    } catch (error) {
      if (error instanceof SessionRace && attempt < 3) continue;
      if (error instanceof AppError && (error.code === 'COUPON_ALREADY_USED' || error.code === 'COUPON_EXHAUSTED')) {
        // A run for the same session at the same time may have taken the use (or the last one) this
        // run waited for: what it redeemed is this session's answer, not a refusal.
        const existing = await selectSessionRedemptions(deps.pool, input.checkoutSessionId);
        if (existing.length > 0) return replay(input, existing);
      }
      throw error;
    }
  }
}
