import { normaliseCouponCode } from '../../contracts/coupons.ts';
import type { Queryable } from '../../platform/db/pool.ts';
import { CODE_PATTERN } from './coupon-rules.ts';
import { type CouponLine, type CouponOutcome, LINES_MAX, evaluateCoupons } from './discounts.ts';
import { type CouponRecord, lockBuyerFirstOrder, selectBuyerFacts, selectCouponsWithBuyerFacts } from './sql.ts';

/** Codes accepted in one call; the rules allow CODES_MAX of them, the rest are reported as too many. */
export const CODES_PER_CALL_MAX = 20;
const CURRENCY = /^[A-Z]{3}$/;

export interface AssessInput {
  codes: readonly string[];
  buyerId: string;
  currency: string;
  lines: readonly CouponLine[];
}

/** Caller mistakes are programmer errors of another domain: they throw, they are not 4xx. */
export function assertAssessInput(input: AssessInput): void {
  if (input.codes.length > CODES_PER_CALL_MAX) throw new RangeError(`at most ${CODES_PER_CALL_MAX} codes per call`);
  if (input.lines.length > LINES_MAX) throw new RangeError(`at most ${LINES_MAX} lines per call`);
  if (!CURRENCY.test(input.currency)) throw new RangeError(`currency ${input.currency} is not an ISO 4217 code`);
}

/**
 * Reads the coupons named and what their rules need to know about the buyer, then decides (pure).
 * In a redemption (`sessionId` given, inside its transaction) the buyer's first-order check is
 * serialised first, so two checkouts of one buyer cannot both pass it.
 */
export async function assessCoupons(
  q: Queryable,
  input: AssessInput,
  now: Date,
  sessionId: string | null,
): Promise<{ outcomes: CouponOutcome[]; coupons: Map<string, CouponRecord> }> {
  assertAssessInput(input);
  const codes = [...new Set(input.codes.map(normaliseCouponCode).filter((c) => CODE_PATTERN.test(c)))];
  const read = await selectCouponsWithBuyerFacts(q, codes, input.buyerId, sessionId);
  const found = read.coupons;
  const coupons = new Map(found.map((c) => [c.code, c]));
  let buyer = read.buyer;
  if (sessionId !== null && found.length > 0) {
    // A redemption takes the buyer's lock whatever its coupons (see lockBuyerFirstOrder); with a
    // first-order coupon, the facts read with the coupons may be stale by the time the lock is
    // ours: read them again.
    await lockBuyerFirstOrder(q, input.buyerId);
    if (found.some((c) => c.rules.firstOrderOnly)) buyer = await selectBuyerFacts(q, input.buyerId, found.map((c) => c.id), sessionId);
  }
  const outcomes = evaluateCoupons({ codes: input.codes, coupons, lines: input.lines, currency: input.currency, now, buyer });
  return { outcomes, coupons };
}
