import { normaliseCouponCode } from '../../contracts/coupons.ts';
import type { CouponRules, CouponType } from './coupon-rules.ts';

/**
 * Whether coupons apply to an order's lines and how much each takes off each line (pure: the
 * caller reads the coupons and the buyer's facts; this decides).
 *
 * - Coupons apply in the order their codes are given, each to what the coupons before it left of
 *   every line, so a line never gets more discount than its total.
 * - A percentage coupon takes floor(eligible amount × basis points / 10000); a fixed_amount coupon
 *   takes its amount, capped at the eligible amount. The discount is then split over the eligible
 *   lines in proportion to their amounts by the largest-remainder method: integer minor units that
 *   add up exactly to the coupon's discount.
 * - A line is eligible when its seller is in scope (a seller's coupon: that seller only; a platform
 *   coupon: every seller, or rules.sellerIds) and, when the coupon lists products and/or categories,
 *   its product or its category is listed.
 * - rules.minOrderAmount is compared with the eligible lines' subtotal before any coupon.
 */

export const CODES_MAX = 5;
export const LINES_MAX = 100;

export interface CouponLine {
  /** The caller's id for the line (the checkout's or the cart's), unique within the call. */
  lineId: string;
  productId: string;
  variantId: string;
  sellerId: string;
  categoryId: string | null;
  /** The ids of categoryId's ancestors and itself, from the root: a coupon for a category covers those under it. */
  categoryPath?: readonly string[];
  /** Integer minor units of the call's currency. */
  unitPrice: number;
  quantity: number;
}

export type CouponStatus = 'active' | 'disabled' | 'archived';

export interface CouponTerms {
  id: string;
  code: string;
  sellerId: string | null;
  type: CouponType;
  discount: number;
  currency: string | null;
  maxUses: number | null;
  usesCount: number;
  status: CouponStatus;
  validFrom: Date;
  validTo: Date | null;
  rules: CouponRules;
}

export interface BuyerFacts {
  /** The buyer has a live order, or a coupon redeemed by another checkout that is not released. */
  hasOrdered: boolean;
  /** Coupons the buyer holds an active redemption of (for one-per-customer coupons). */
  usedCouponIds: ReadonlySet<string>;
}

export interface LineDiscount {
  lineId: string;
  discountAmount: number;
}

export const REJECTION_REASONS = [
  'not_found',
  'duplicate',
  'too_many_codes',
  'inactive',
  'not_started',
  'expired',
  'exhausted',
  'currency_mismatch',
  'no_eligible_items',
  'minimum_not_met',
  'already_used',
  'not_first_order',
  'no_discount',
] as const;
export type RejectionReason = (typeof REJECTION_REASONS)[number];

export type CouponOutcome =
  | { code: string; couponId: string; valid: true; discountAmount: number; lines: LineDiscount[] }
  | { code: string; couponId: string | null; valid: false; reason: RejectionReason; message: string };


/**
 * Splits `total` over `weights` in proportion, by the largest-remainder method: the parts are
 * integers, add up to `total` exactly, and none exceeds its weight (total ≤ sum of weights).
 * Ties in the remainders go to the earlier weight, so the split is deterministic.
 */
export function allocate(total: number, weights: readonly number[]): number[] {
  const sum = weights.reduce((a, w) => a + w, 0);
  if (!Number.isSafeInteger(total) || total < 0 || total > sum) throw new RangeError(`cannot split ${total} over weights summing to ${sum}`);
  if (total === 0) return weights.map(() => 0);
  const t = BigInt(total);
  const s = BigInt(sum);
  const parts = weights.map((w) => {
    const exact = t * BigInt(w);
    return { floor: exact / s, remainder: exact % s };
  });
  let left = total - parts.reduce((a, p) => a + Number(p.floor), 0);
  const order = parts.map((_, i) => i).sort((a, b) => {
    const ra = parts[a]!.remainder;
    const rb = parts[b]!.remainder;
    return ra === rb ? a - b : ra > rb ? -1 : 1;
  });
  const result = parts.map((p) => Number(p.floor));
  for (const i of order) {
    if (left === 0) break;
    result[i] = result[i]! + 1;
    left--;
  }
  return result;
}

export function isEligible(coupon: Pick<CouponTerms, 'sellerId' | 'rules'>, line: CouponLine): boolean {
  if (coupon.sellerId !== null && line.sellerId !== coupon.sellerId) return false;
  const { sellerIds, productIds, categoryIds } = coupon.rules;
  if (sellerIds && !sellerIds.includes(line.sellerId)) return false;
  if (!productIds && !categoryIds) return true;
  if (productIds?.includes(line.productId)) return true;
  if (!categoryIds || line.categoryId === null) return false;
  // The product's own category or one above it: a coupon for Electronics covers phones.
  return categoryIds.includes(line.categoryId) || (line.categoryPath ?? []).some((id) => categoryIds.includes(id));
}

function formatAmount(amount: number, currency: string): string {
  return `${amount} ${currency} minor units`;
}

function assertLines(lines: readonly CouponLine[]): void {
  if (lines.length > LINES_MAX) throw new RangeError(`at most ${LINES_MAX} lines`);
  const ids = new Set<string>();
  for (const line of lines) {
    if (ids.has(line.lineId)) throw new RangeError(`line ${line.lineId} is given twice`);
    ids.add(line.lineId);
    if (!Number.isSafeInteger(line.unitPrice) || line.unitPrice < 0) throw new RangeError(`line ${line.lineId}: unitPrice must be a non-negative integer`);
    if (!Number.isSafeInteger(line.quantity) || line.quantity < 1) throw new RangeError(`line ${line.lineId}: quantity must be a positive integer`);
    if (!Number.isSafeInteger(line.unitPrice * line.quantity)) throw new RangeError(`line ${line.lineId}: total is too large`);
  }
}

type Rejection = { reason: RejectionReason; message: string };

/** The checks that do not depend on the other coupons of the call. */
function rejectionOf(coupon: CouponTerms, input: { currency: string; now: Date; buyer: BuyerFacts }): Rejection | undefined {
  const { now, currency, buyer } = input;
  if (coupon.status !== 'active') return { reason: 'inactive', message: 'the coupon is switched off' };
  if (now < coupon.validFrom) return { reason: 'not_started', message: `the coupon is valid from ${coupon.validFrom.toISOString()}` };
  if (coupon.validTo && now >= coupon.validTo) return { reason: 'expired', message: `the coupon expired at ${coupon.validTo.toISOString()}` };
  if (coupon.maxUses !== null && coupon.usesCount >= coupon.maxUses) return { reason: 'exhausted', message: 'the coupon has no uses left' };
  if (coupon.currency !== null && coupon.currency !== currency) {
    return { reason: 'currency_mismatch', message: `the coupon is in ${coupon.currency}; this order is in ${currency}` };
  }
  const min = coupon.rules.minOrderAmount;
  if (min && min.currency !== currency) {
    return { reason: 'currency_mismatch', message: `the coupon's minimum order is in ${min.currency}; this order is in ${currency}` };
  }
  if (coupon.rules.onePerCustomer && buyer.usedCouponIds.has(coupon.id)) {
    return { reason: 'already_used', message: 'you have used this coupon already: one use per customer' };
  }
  if (coupon.rules.firstOrderOnly && buyer.hasOrdered) return { reason: 'not_first_order', message: 'the coupon is for a first order only' };
  return undefined;
}

/**
 * Evaluates the codes, in order, against the lines. `coupons` maps normalised codes to the coupons
 * found; `remaining` after a valid coupon is what the next coupon can still take off each line.
 */
export function evaluateCoupons(input: {
  codes: readonly string[];
  coupons: ReadonlyMap<string, CouponTerms>;
  lines: readonly CouponLine[];
  currency: string;
  now: Date;
  buyer: BuyerFacts;
}): CouponOutcome[] {
  assertLines(input.lines);
  const remaining = new Map(input.lines.map((l) => [l.lineId, l.unitPrice * l.quantity]));
  const seen = new Set<string>();
  const outcomes: CouponOutcome[] = [];
  for (const [index, raw] of input.codes.entries()) {
    const code = normaliseCouponCode(raw);
    const coupon = input.coupons.get(code);
    const reject = (r: Rejection): void => {
      outcomes.push({ code, couponId: coupon?.id ?? null, valid: false, ...r });
    };
    if (index >= CODES_MAX) {
      reject({ reason: 'too_many_codes', message: `at most ${CODES_MAX} coupons per order` });
      continue;
    }
    if (!coupon) {
      reject({ reason: 'not_found', message: `no coupon has the code ${code}` });
      continue;
    }
    if (seen.has(coupon.id)) {
      reject({ reason: 'duplicate', message: `the coupon ${code} is given twice` });
      continue;
    }
    seen.add(coupon.id);
    const rejection = rejectionOf(coupon, input);
    if (rejection) {
      reject(rejection);
      continue;
    }
    const eligible = input.lines.filter((l) => isEligible(coupon, l));
    if (eligible.length === 0) {
      reject({
        reason: 'no_eligible_items',
        message: coupon.sellerId !== null ? "none of the items qualifies: the coupon applies only to its seller's items and rules" : 'none of the items qualifies for the coupon',
      });
      continue;
    }
    const min = coupon.rules.minOrderAmount;
    const subtotal = eligible.reduce((a, l) => a + l.unitPrice * l.quantity, 0);
    if (min && subtotal < min.amount) {
      reject({
        reason: 'minimum_not_met',
        message: `the qualifying items must total at least ${formatAmount(min.amount, min.currency)}; they total ${formatAmount(subtotal, input.currency)}`,
      });
      continue;
    }
    const weights = eligible.map((l) => remaining.get(l.lineId)!);
    const base = weights.reduce((a, w) => a + w, 0);
    const total = coupon.type === 'percentage' ? Number((BigInt(base) * BigInt(coupon.discount)) / 10_000n) : Math.min(coupon.discount, base);
    if (total === 0) {
      reject({ reason: 'no_discount', message: 'the coupon takes nothing off these items' });
      continue;
    }
    const parts = allocate(total, weights);
    const lines = eligible.map((l, i) => ({ lineId: l.lineId, discountAmount: parts[i]! }));
    for (const part of lines) remaining.set(part.lineId, remaining.get(part.lineId)! - part.discountAmount);
    outcomes.push({ code, couponId: coupon.id, valid: true, discountAmount: total, lines });
  }
  return outcomes;
}

/** Sums the valid outcomes per line: the discount each line gets from all the coupons. */
export function discountsByLine(lines: readonly CouponLine[], outcomes: readonly CouponOutcome[]): LineDiscount[] {
  const sums = new Map(lines.map((l) => [l.lineId, 0]));
  for (const o of outcomes) {
    if (!o.valid) continue;
    for (const part of o.lines) sums.set(part.lineId, (sums.get(part.lineId) ?? 0) + part.discountAmount);
  }
  return lines.map((l) => ({ lineId: l.lineId, discountAmount: sums.get(l.lineId)! }));
}
