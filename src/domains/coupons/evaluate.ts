import { type AssessInput, assessCoupons } from './assess.ts';
import type { CouponsDeps } from './deps.ts';
import { type CouponOutcome, type LineDiscount, discountsByLine } from './discounts.ts';

export interface CouponEvaluation {
  currency: string;
  /** One outcome per code given, in order: valid with its split, or the reason it does not apply. */
  coupons: CouponOutcome[];
  /** Every line with the discount all valid coupons together give it. */
  lines: LineDiscount[];
  discountAmount: number;
}

/** What the coupons would take off these lines now; reads only, redeems nothing. */
export async function evaluate(deps: CouponsDeps, input: AssessInput): Promise<CouponEvaluation> {
  const { outcomes } = await assessCoupons(deps.pool, input, deps.clock.now(), null);
  const lines = discountsByLine(input.lines, outcomes);
  return { currency: input.currency, coupons: outcomes, lines, discountAmount: lines.reduce((a, l) => a + l.discountAmount, 0) };
}
