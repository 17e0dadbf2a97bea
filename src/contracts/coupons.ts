import { type Static, Type } from '@sinclair/typebox';
import { defineEvent } from './define.ts';
import { registerContracts } from './registry.ts';

/**
 * Events of the coupons domain. A coupon's definition is immutable once created, so
 * coupon_created carries all of it (rules included); redemption events carry the counters after
 * the change, so a read model needs no call back. Patterns, not `format`, so the contract checker
 * needs no format registry.
 */
const Uuid = Type.String({ pattern: '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$', maxLength: 36 });
const Instant = Type.String({ pattern: '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d+)?Z$', maxLength: 40 });
const Currency = Type.String({ pattern: '^[A-Z]{3}$', minLength: 3, maxLength: 3 });
const Amount = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER });
const Code = Type.String({ pattern: '^[A-Z0-9][A-Z0-9-]{2,31}$', maxLength: 32 });
const closed = { additionalProperties: false } as const;

/**
 * A coupon code as stored and looked up: trimmed, ASCII letters upper-cased. Other letters stay as
 * they are (so they match no code): upper-casing them would turn `maß` into `MASS` and `ﬀab` into
 * `FFAB`. Shared by coupons and the cart, which takes a code as typed.
 */
export function normaliseCouponCode(code: string): string {
  return code.trim().replace(/[a-z]+/g, (letters) => letters.toUpperCase());
}

export const COUPON_TYPES = ['percentage', 'fixed_amount'] as const;
export type CouponType = (typeof COUPON_TYPES)[number];

/** Bounds of a coupon's rules, shared by the coupons routes and their validation. */
export const RULE_PRODUCTS_MAX = 100;
export const RULE_CATEGORIES_MAX = 50;
export const RULE_SELLERS_MAX = 50;

export const CouponRulesFacts = Type.Object(
  {
    minOrderAmount: Type.Optional(Type.Object({ amount: Amount, currency: Currency }, closed)),
    productIds: Type.Optional(Type.Array(Uuid, { maxItems: RULE_PRODUCTS_MAX })),
    categoryIds: Type.Optional(Type.Array(Uuid, { maxItems: RULE_CATEGORIES_MAX })),
    sellerIds: Type.Optional(Type.Array(Uuid, { maxItems: RULE_SELLERS_MAX })),
    onePerCustomer: Type.Optional(Type.Boolean()),
    firstOrderOnly: Type.Optional(Type.Boolean()),
  },
  closed,
);
export type CouponRulesFacts = Static<typeof CouponRulesFacts>;

export const CouponCreatedV1 = defineEvent(
  'coupons.coupon_created.v1',
  Type.Object(
    {
      couponId: Uuid,
      code: Code,
      /** Owner; null for a platform-wide coupon created by an admin. */
      sellerId: Type.Union([Uuid, Type.Null()]),
      type: Type.Union(COUPON_TYPES.map((t) => Type.Literal(t))),
      /** Basis points (1000 = 10 %) for percentage; minor units of currency for fixed_amount. */
      discount: Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER }),
      currency: Type.Union([Currency, Type.Null()]),
      maxUses: Type.Union([Type.Integer({ minimum: 1 }), Type.Null()]),
      validFrom: Instant,
      validTo: Type.Union([Instant, Type.Null()]),
      rules: CouponRulesFacts,
      createdBy: Uuid,
      createdAt: Instant,
    },
    closed,
  ),
);
export type CouponCreatedV1 = Static<typeof CouponCreatedV1.schema>;

const redemptionFacts = {
  redemptionId: Uuid,
  couponId: Uuid,
  code: Code,
  sellerId: Type.Union([Uuid, Type.Null()]),
  buyerId: Uuid,
  checkoutSessionId: Uuid,
  /** Discount the redemption gave, in minor units of currency. */
  amount: Amount,
  currency: Currency,
  /** The coupon's active redemptions after this change, and its limit (null: unlimited). */
  usesCount: Type.Integer({ minimum: 0 }),
  maxUses: Type.Union([Type.Integer({ minimum: 1 }), Type.Null()]),
};

export const CouponRedeemedV1 = defineEvent('coupons.coupon_redeemed.v1', Type.Object({ ...redemptionFacts, redeemedAt: Instant }, closed));
export type CouponRedeemedV1 = Static<typeof CouponRedeemedV1.schema>;

export const RELEASE_REASONS = ['checkout_failed', 'order_cancelled', 'admin'] as const;
export type ReleaseReason = (typeof RELEASE_REASONS)[number];

export const RedemptionReleasedV1 = defineEvent(
  'coupons.redemption_released.v1',
  Type.Object(
    {
      ...redemptionFacts,
      reason: Type.Union(RELEASE_REASONS.map((r) => Type.Literal(r))),
      /** The caller's words (e.g. why the checkout failed); null when there are none. */
      detail: Type.Union([Type.String({ maxLength: 500 }), Type.Null()]),
      releasedAt: Instant,
    },
    closed,
  ),
);
export type RedemptionReleasedV1 = Static<typeof RedemptionReleasedV1.schema>;

registerContracts(CouponCreatedV1, CouponRedeemedV1, RedemptionReleasedV1);
