import { RULE_CATEGORIES_MAX, RULE_PRODUCTS_MAX, RULE_SELLERS_MAX, normaliseCouponCode } from '../../contracts/coupons.ts';
import { isUuid } from '../../platform/ids.ts';

/**
 * A coupon's definition and its rules, validated when the coupon is created (pure: no I/O), so a
 * wrong rule is a 400 with a clear message instead of a surprise at checkout.
 */

export const CODE_PATTERN = /^[A-Z0-9][A-Z0-9-]{2,31}$/;
export const CODE_LENGTH_MAX = 32;
export const BASIS_POINTS_MAX = 10_000;
/** 1,000,000.00 in a two-decimal currency. */
export const FIXED_DISCOUNT_MAX = 100_000_000;
export const MIN_ORDER_AMOUNT_MAX = 10_000_000_000;
export const MAX_USES_MAX = 10_000_000;
/** Longest validity window a coupon may have. */
export const VALIDITY_DAYS_MAX = 3660;

export type CouponType = 'percentage' | 'fixed_amount';

/** Integer minor units of an ISO 4217 currency, as the API writes money. */
export interface Money {
  amount: number;
  currency: string;
}

export interface CouponRules {
  /** The eligible items' subtotal (before any coupon) must reach this. */
  minOrderAmount?: Money;
  /** Only these products (or, when categoryIds is given too, these products or those categories). */
  productIds?: string[];
  categoryIds?: string[];
  /** Only these sellers' items. Implicit for a seller's coupon (the seller's own items only). */
  sellerIds?: string[];
  onePerCustomer?: boolean;
  firstOrderOnly?: boolean;
}

/**
 * What a seller or an admin asks for (the request body). A percentage coupon gives `discount` in
 * basis points; a fixed_amount coupon gives `amountOff` as money.
 */
export interface CouponDraft {
  code: string;
  type: string;
  discount?: number;
  amountOff?: Money;
  maxUses?: number | null;
  validFrom?: string;
  validTo?: string | null;
  rules?: CouponRules;
}

/** A valid coupon ready to store: code upper-case, times parsed, rules normalised. */
export interface NewCoupon {
  code: string;
  sellerId: string | null;
  type: CouponType;
  discount: number;
  currency: string | null;
  maxUses: number | null;
  validFrom: Date;
  validTo: Date | null;
  rules: CouponRules;
}

export type DraftCheck = { ok: true; coupon: NewCoupon } | { ok: false; problems: string[] };

const CURRENCY = /^[A-Z]{3}$/;

function isIntegerIn(value: unknown, min: number, max: number): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= min && value <= max;
}

function parseInstant(value: unknown, field: string, problems: string[]): Date | undefined {
  if (typeof value !== 'string' || value.length > 40) {
    problems.push(`${field} must be an ISO 8601 date-time`);
    return undefined;
  }
  const at = new Date(value);
  if (Number.isNaN(at.getTime()) || !/^\d{4}-\d{2}-\d{2}T/.test(value)) {
    problems.push(`${field} must be an ISO 8601 date-time, such as 2026-06-01T00:00:00Z`);
    return undefined;
  }
  return at;
}

/**
 * Checks money `{ amount, currency }` named `field`, with the amount from 1 to `max` minor units.
 * Answers the parts that are valid (null for one that is not), or null when it is not an object.
 */
function checkMoney(value: unknown, field: string, max: number, problems: string[]): { amount: number | null; currency: string | null } | null {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    problems.push(`${field} must be {"amount": <integer minor units>, "currency": "USD"}`);
    return null;
  }
  const { amount, currency } = value as { amount?: unknown; currency?: unknown };
  const money = { amount: isIntegerIn(amount, 1, max) ? amount : null, currency: typeof currency === 'string' && CURRENCY.test(currency) ? currency : null };
  if (money.amount === null) problems.push(`${field}.amount must be an integer number of minor units from 1 to ${max}`);
  if (money.currency === null) problems.push(`${field}.currency must be an ISO 4217 code such as USD`);
  return money;
}

function idList(value: unknown, field: string, max: number, what: string, problems: string[]): string[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value)) {
    problems.push(`rules.${field} must be a list of ${what} ids`);
    return undefined;
  }
  if (value.length === 0) problems.push(`rules.${field} must list at least one ${what}; leave it out to allow every ${what}`);
  if (value.length > max) problems.push(`rules.${field} lists ${value.length} ${what}s; at most ${max}`);
  const ids = value.filter((v): v is string => typeof v === 'string' && isUuid(v)).map((v) => v.toLowerCase());
  if (ids.length !== value.length) problems.push(`rules.${field} must hold only ${what} ids (UUIDs)`);
  if (new Set(ids).size !== ids.length) problems.push(`rules.${field} lists a ${what} twice`);
  return ids;
}

function checkRules(input: CouponRules, coupon: { type: unknown; currency: string | null; sellerId: string | null }, problems: string[]): CouponRules {
  const rules: CouponRules = {};
  const known = new Set(['minOrderAmount', 'productIds', 'categoryIds', 'sellerIds', 'onePerCustomer', 'firstOrderOnly']);
  for (const key of Object.keys(input)) if (!known.has(key)) problems.push(`rules.${key} is not a rule; the rules are ${[...known].join(', ')}`);

  if (input.minOrderAmount !== undefined) {
    const min = checkMoney(input.minOrderAmount, 'rules.minOrderAmount', MIN_ORDER_AMOUNT_MAX, problems);
    if (min?.currency && coupon.type === 'fixed_amount' && coupon.currency !== null && min.currency !== coupon.currency) {
      problems.push(`rules.minOrderAmount.currency (${min.currency}) must be the coupon's currency (${coupon.currency})`);
    }
    if (min?.amount && min.currency) rules.minOrderAmount = { amount: min.amount, currency: min.currency };
  }
  const productIds = idList(input.productIds, 'productIds', RULE_PRODUCTS_MAX, 'product', problems);
  if (productIds) rules.productIds = productIds;
  const categoryIds = idList(input.categoryIds, 'categoryIds', RULE_CATEGORIES_MAX, 'category', problems);
  if (categoryIds) rules.categoryIds = categoryIds;
  const sellerIds = idList(input.sellerIds, 'sellerIds', RULE_SELLERS_MAX, 'seller', problems);
  if (coupon.sellerId !== null) {
    if (input.sellerIds !== undefined) {
      problems.push("rules.sellerIds is for platform coupons: a seller's coupon always applies to the seller's own items only");
    }
    // Stored explicitly, so the rule rows say what the coupon covers.
    rules.sellerIds = [coupon.sellerId];
  } else if (sellerIds) {
    rules.sellerIds = sellerIds;
  }
  for (const flag of ['onePerCustomer', 'firstOrderOnly'] as const) {
    const value = input[flag];
    if (value === undefined) continue;
    if (typeof value !== 'boolean') problems.push(`rules.${flag} must be true or false`);
    else if (value) rules[flag] = true;
  }
  return rules;
}

/**
 * Checks a coupon draft as a whole and returns every problem at once, each naming its field.
 * `creator.sellerId` is null for an admin's platform-wide coupon.
 */
export function validateCouponDraft(draft: CouponDraft, creator: { sellerId: string | null }, now: Date): DraftCheck {
  const problems: string[] = [];
  const code = typeof draft.code === 'string' ? normaliseCouponCode(draft.code) : '';
  if (!CODE_PATTERN.test(code)) problems.push('code must be 3 to 32 characters of A-Z, 0-9 and hyphens, starting with a letter or digit');

  const type = draft.type;
  if (type !== 'percentage' && type !== 'fixed_amount') problems.push('type must be percentage or fixed_amount');
  // The body's discount (percentage) or amountOff (fixed_amount) becomes the stored discount and
  // currency: basis points and no currency, or minor units of the currency.
  const discount = draft.discount ?? null;
  const amountOff = draft.amountOff ?? null;
  let value: number | null = null;
  let currency: string | null = null;
  if (type === 'percentage') {
    if (!isIntegerIn(discount, 1, BASIS_POINTS_MAX)) {
      problems.push('discount of a percentage coupon is in basis points from 1 to 10000 (1000 = 10 %)');
    } else value = discount;
    if (amountOff !== null) problems.push('a percentage coupon has no amountOff; give its discount in basis points and leave amountOff out');
  } else if (type === 'fixed_amount') {
    if (discount !== null) problems.push('a fixed_amount coupon has no discount; give amountOff {"amount": <integer minor units>, "currency": "USD"} and leave discount out');
    if (amountOff === null) problems.push('amountOff {"amount": <integer minor units>, "currency": "USD"} is required for a fixed_amount coupon');
    else {
      const money = checkMoney(amountOff, 'amountOff', FIXED_DISCOUNT_MAX, problems);
      value = money?.amount ?? null;
      currency = money?.currency ?? null;
    }
  }

  const maxUses = draft.maxUses ?? null;
  if (maxUses !== null && !isIntegerIn(maxUses, 1, MAX_USES_MAX)) problems.push(`maxUses must be an integer from 1 to ${MAX_USES_MAX}, or null for no limit`);

  const validFrom = draft.validFrom === undefined ? now : parseInstant(draft.validFrom, 'validFrom', problems);
  const validTo = draft.validTo === undefined || draft.validTo === null ? null : parseInstant(draft.validTo, 'validTo', problems);
  if (validFrom && validTo) {
    if (validTo <= validFrom) problems.push('validTo must be after validFrom');
    else if (validTo <= now) problems.push('validTo is in the past: the coupon could never be used');
    else if (validTo.getTime() - validFrom.getTime() > VALIDITY_DAYS_MAX * 86_400_000) problems.push(`the validity window may last at most ${VALIDITY_DAYS_MAX} days`);
  }
  if (validFrom && validFrom.getTime() - now.getTime() > VALIDITY_DAYS_MAX * 86_400_000) problems.push(`validFrom may be at most ${VALIDITY_DAYS_MAX} days ahead`);

  const rulesInput = draft.rules ?? {};
  let rules: CouponRules = {};
  if (typeof rulesInput !== 'object' || rulesInput === null || Array.isArray(rulesInput)) problems.push('rules must be an object');
  else rules = checkRules(rulesInput, { type, currency, sellerId: creator.sellerId }, problems);

  if (problems.length > 0 || !validFrom || value === null) return { ok: false, problems };
  return {
    ok: true,
    coupon: {
      code,
      sellerId: creator.sellerId,
      type: type as CouponType,
      discount: value,
      currency,
      maxUses,
      validFrom,
      validTo: validTo ?? null,
      rules,
    },
  };
}

/** coupon_rules.rule_type values and their rule_json, one row per rule. */
export type RuleType = 'min_order_amount' | 'products' | 'categories' | 'seller_items' | 'one_per_customer' | 'first_order_only';

export interface RuleRow {
  ruleType: RuleType;
  ruleJson: Record<string, unknown>;
}

export function rulesToRows(rules: CouponRules): RuleRow[] {
  const rows: RuleRow[] = [];
  if (rules.minOrderAmount) rows.push({ ruleType: 'min_order_amount', ruleJson: { amount: rules.minOrderAmount.amount, currency: rules.minOrderAmount.currency } });
  if (rules.productIds) rows.push({ ruleType: 'products', ruleJson: { product_ids: rules.productIds } });
  if (rules.categoryIds) rows.push({ ruleType: 'categories', ruleJson: { category_ids: rules.categoryIds } });
  if (rules.sellerIds) rows.push({ ruleType: 'seller_items', ruleJson: { seller_ids: rules.sellerIds } });
  if (rules.onePerCustomer) rows.push({ ruleType: 'one_per_customer', ruleJson: {} });
  if (rules.firstOrderOnly) rows.push({ ruleType: 'first_order_only', ruleJson: {} });
  return rows;
}

/** The inverse of rulesToRows, from `jsonb_object_agg(rule_type, rule_json)`. */
export function rulesFromRows(byType: Record<string, Record<string, unknown>>): CouponRules {
  const rules: CouponRules = {};
  const min = byType.min_order_amount;
  if (min) rules.minOrderAmount = { amount: min.amount as number, currency: min.currency as string };
  if (byType.products) rules.productIds = byType.products.product_ids as string[];
  if (byType.categories) rules.categoryIds = byType.categories.category_ids as string[];
  if (byType.seller_items) rules.sellerIds = byType.seller_items.seller_ids as string[];
  if (byType.one_per_customer) rules.onePerCustomer = true;
  if (byType.first_order_only) rules.firstOrderOnly = true;
  return rules;
}
