import { type Static, Type } from '@sinclair/typebox';
import { RULE_CATEGORIES_MAX, RULE_PRODUCTS_MAX, RULE_SELLERS_MAX } from '../../contracts/coupons.ts';
import { CurrencyCode as Currency, MoneySchema } from '../../platform/http/schemas.ts';
import { BASIS_POINTS_MAX, CODE_LENGTH_MAX, FIXED_DISCOUNT_MAX, MAX_USES_MAX, MIN_ORDER_AMOUNT_MAX } from './coupon-rules.ts';
import type { CouponRecord } from './sql.ts';

/**
 * Request and response shapes of the coupons routes. The body schema checks shapes and bounds;
 * validateCouponDraft (pure) checks meaning and says what is wrong in words.
 */
const closed = { additionalProperties: false } as const;
const Uuid = Type.String({ format: 'uuid' });

export const CouponRulesSchema = Type.Object(
  {
    minOrderAmount: Type.Optional(
      Type.Object(
        { amount: Type.Integer({ minimum: 1, maximum: MIN_ORDER_AMOUNT_MAX, description: 'Integer minor units' }), currency: Currency },
        { ...closed, description: 'The qualifying items must total at least this before any coupon' },
      ),
    ),
    productIds: Type.Optional(Type.Array(Uuid, { maxItems: RULE_PRODUCTS_MAX, description: 'Only these products (or these categories, when categoryIds is given too)' })),
    categoryIds: Type.Optional(Type.Array(Uuid, { maxItems: RULE_CATEGORIES_MAX, description: 'Only products in these categories' })),
    sellerIds: Type.Optional(
      Type.Array(Uuid, { maxItems: RULE_SELLERS_MAX, description: "Platform coupons only: only these sellers' items. A seller's coupon always covers only the seller's own items" }),
    ),
    onePerCustomer: Type.Optional(Type.Boolean({ description: 'Each buyer may use the coupon once' })),
    firstOrderOnly: Type.Optional(Type.Boolean({ description: 'Only for a buyer without a previous (not cancelled) order' })),
  },
  { ...closed, description: 'Conditions the order must meet; every rule given must hold' },
);

export const CreateCouponBody = Type.Object(
  {
    code: Type.String({ maxLength: CODE_LENGTH_MAX, description: '3 to 32 characters of A-Z, 0-9 and hyphens, starting with a letter or digit; unique ignoring case, stored upper-case' }),
    type: Type.Union([Type.Literal('percentage'), Type.Literal('fixed_amount')]),
    discount: Type.Optional(
      Type.Integer({ minimum: 1, maximum: BASIS_POINTS_MAX, description: 'percentage only, and required for it: basis points from 1 to 10000 (1000 = 10 %)' }),
    ),
    amountOff: Type.Optional(
      Type.Object(
        { amount: Type.Integer({ minimum: 1, maximum: FIXED_DISCOUNT_MAX, description: 'Integer minor units' }), currency: Currency },
        {
          ...closed,
          description: 'fixed_amount only, and required for it: the money taken off the eligible items (capped at what they cost), for orders in this currency only',
        },
      ),
    ),
    maxUses: Type.Optional(Type.Union([Type.Integer({ minimum: 1, maximum: MAX_USES_MAX }), Type.Null()], { description: 'Uses at once; null or absent for no limit' })),
    validFrom: Type.Optional(Type.String({ format: 'date-time', description: 'Default: now' })),
    validTo: Type.Optional(Type.Union([Type.String({ format: 'date-time' }), Type.Null()], { description: 'Exclusive end; null or absent for no end' })),
    rules: Type.Optional(CouponRulesSchema),
  },
  closed,
);
export type CreateCouponBody = Static<typeof CreateCouponBody>;

export const CouponView = Type.Object({
  id: Uuid,
  code: Type.String(),
  sellerId: Type.Union([Uuid, Type.Null()], { description: 'null for a platform-wide coupon' }),
  type: Type.Union([Type.Literal('percentage'), Type.Literal('fixed_amount')]),
  discount: Type.Union([Type.Integer(), Type.Null()], { description: 'percentage: basis points (1000 = 10 %); null for fixed_amount' }),
  amountOff: Type.Union([MoneySchema, Type.Null()], { description: 'fixed_amount: the money taken off; null for percentage' }),
  maxUses: Type.Union([Type.Integer(), Type.Null()]),
  usesCount: Type.Integer({ description: 'Active (not released) redemptions' }),
  status: Type.Union([Type.Literal('active'), Type.Literal('disabled'), Type.Literal('archived')]),
  redeemable: Type.Union([Type.Literal('now'), Type.Literal('not_started'), Type.Literal('expired'), Type.Literal('used_up'), Type.Literal('inactive')], {
    description:
      'Whether a buyer can use it at the time of the answer: now, not_started (before validFrom), expired (validTo passed), used_up (maxUses reached), inactive (status not active). Its rules (minimum, items, one per customer…) still apply per cart',
  }),
  validFrom: Type.String({ format: 'date-time' }),
  validTo: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  rules: CouponRulesSchema,
  createdAt: Type.String({ format: 'date-time' }),
});
export type CouponView = Static<typeof CouponView>;

/** Whether a buyer can use the coupon at `now`, before its rules meet a cart. */
function redeemableAt(c: CouponRecord, now: Date): CouponView['redeemable'] {
  if (c.status !== 'active') return 'inactive';
  if (now < c.validFrom) return 'not_started';
  if (c.validTo && now >= c.validTo) return 'expired';
  if (c.maxUses !== null && c.usesCount >= c.maxUses) return 'used_up';
  return 'now';
}

export function couponView(c: CouponRecord, now: Date): CouponView {
  return {
    id: c.id,
    code: c.code,
    sellerId: c.sellerId,
    type: c.type,
    // Stored as discount and currency for both types; the API writes a fixed amount as money.
    discount: c.type === 'percentage' ? c.discount : null,
    amountOff: c.type === 'fixed_amount' ? { amount: c.discount, currency: c.currency! } : null,
    maxUses: c.maxUses,
    usesCount: c.usesCount,
    status: c.status,
    redeemable: redeemableAt(c, now),
    validFrom: c.validFrom.toISOString(),
    validTo: c.validTo?.toISOString() ?? null,
    rules: c.rules,
    createdAt: c.createdAt.toISOString(),
  };
}
