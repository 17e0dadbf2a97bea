import { describe, expect, it } from 'vitest';
import { type CouponDraft, rulesFromRows, rulesToRows, validateCouponDraft } from '../../src/domains/coupons/coupon-rules.ts';
import { newId } from '../../src/platform/ids.ts';

const NOW = new Date('2026-05-01T12:00:00.000Z');
const SELLER = newId();
const seller = { sellerId: SELLER };
const admin = { sellerId: null };

const percent = (overrides: Partial<CouponDraft> = {}): CouponDraft => ({ code: 'spring-10', type: 'percentage', discount: 1000, ...overrides });
const fixed = (overrides: Partial<CouponDraft> = {}): CouponDraft => ({ code: 'FIVE-OFF', type: 'fixed_amount', amountOff: { amount: 500, currency: 'USD' }, ...overrides });

function problemsOf(draft: CouponDraft, creator: { sellerId: string | null } = seller): string[] {
  const check = validateCouponDraft(draft, creator, NOW);
  return check.ok ? [] : check.problems;
}

describe('a valid coupon draft', () => {
  it('upper-cases the code, starts now when no validFrom is given and has no end when validTo is left out', () => {
    const check = validateCouponDraft(percent(), seller, NOW);
    expect(check).toEqual({
      ok: true,
      coupon: {
        code: 'SPRING-10',
        sellerId: SELLER,
        type: 'percentage',
        discount: 1000,
        currency: null,
        maxUses: null,
        validFrom: NOW,
        validTo: null,
        rules: { sellerIds: [SELLER] },
      },
    });
  });

  it('refuses a code with letters other than A-Z instead of rewriting it (found by a helper: maß was stored as MASS)', () => {
    for (const code of ['maß', '\ufb00ab', '\u0131xx', 'caf\u00e9']) {
      expect(problemsOf(percent({ code })), code).toEqual([expect.stringMatching(/^code must be 3 to 32 characters of A-Z/)]);
    }
  });

  it('stores a fixed amount as its discount in minor units and its currency', () => {
    const check = validateCouponDraft(fixed(), seller, NOW);
    expect(check.ok && check.coupon).toMatchObject({ type: 'fixed_amount', discount: 500, currency: 'USD' });
  });

  it("always limits a seller's coupon to the seller's own items, and leaves a platform coupon open to every seller", () => {
    const s = validateCouponDraft(percent(), seller, NOW);
    const p = validateCouponDraft(percent(), admin, NOW);
    expect(s.ok && s.coupon.rules.sellerIds).toEqual([SELLER]);
    expect(p.ok && p.coupon.rules).toEqual({});
  });

  it('keeps every rule, dropping flags that are false', () => {
    const productId = newId();
    const categoryId = newId();
    const check = validateCouponDraft(
      fixed({
        maxUses: 50,
        validTo: '2026-06-01T00:00:00Z',
        rules: { minOrderAmount: { amount: 5000, currency: 'USD' }, productIds: [productId], categoryIds: [categoryId], onePerCustomer: true, firstOrderOnly: false },
      }),
      seller,
      NOW,
    );
    expect(check.ok && check.coupon).toMatchObject({
      maxUses: 50,
      validTo: new Date('2026-06-01T00:00:00Z'),
      rules: { minOrderAmount: { amount: 5000, currency: 'USD' }, productIds: [productId], categoryIds: [categoryId], onePerCustomer: true, sellerIds: [SELLER] },
    });
    expect(check.ok && 'firstOrderOnly' in check.coupon.rules).toBe(false);
  });
});

describe('an invalid coupon draft', () => {
  it.each([
    ['a code with a space', percent({ code: 'NO SPACES' }), /code must be 3 to 32 characters/],
    ['a code of two characters', percent({ code: 'AB' }), /code must be 3 to 32 characters/],
    ['a percentage over 100 %', percent({ discount: 10001 }), /basis points from 1 to 10000/],
    ['a percentage of zero', percent({ discount: 0 }), /basis points from 1 to 10000/],
    ['a fractional percentage', percent({ discount: 12.5 }), /basis points/],
    ['a percentage without a discount', percent({ discount: undefined }), /discount of a percentage coupon is in basis points/],
    ['a percentage with money off', percent({ amountOff: { amount: 500, currency: 'USD' } }), /a percentage coupon has no amountOff/],
    ['a fixed amount without amountOff', fixed({ amountOff: undefined }), /amountOff .* is required for a fixed_amount coupon/],
    ['a fixed amount with a discount', fixed({ discount: 500 }), /a fixed_amount coupon has no discount/],
    ['a fixed amount of zero', fixed({ amountOff: { amount: 0, currency: 'USD' } }), /amountOff.amount must be an integer number of minor units from 1 to 100000000/],
    ['a fixed amount without a currency', fixed({ amountOff: { amount: 500 } as never }), /amountOff.currency must be an ISO 4217 code/],
    ['a lower-case currency', fixed({ amountOff: { amount: 500, currency: 'usd' } }), /amountOff.currency must be an ISO 4217 code/],
    ['money off that is not money', fixed({ amountOff: 500 as never }), /amountOff must be \{"amount"/],
    ['zero max uses', percent({ maxUses: 0 }), /maxUses must be an integer from 1/],
    ['a window that ends before it starts', percent({ validFrom: '2026-06-01T00:00:00Z', validTo: '2026-05-20T00:00:00Z' }), /validTo must be after validFrom/],
    ['a window that ended', percent({ validFrom: '2026-01-01T00:00:00Z', validTo: '2026-02-01T00:00:00Z' }), /validTo is in the past/],
    ['a date that is not a date', percent({ validFrom: 'tomorrow' }), /validFrom must be an ISO 8601 date-time/],
    ['a minimum order in another currency than the coupon', fixed({ rules: { minOrderAmount: { amount: 1000, currency: 'EUR' } } }), /must be the coupon's currency \(USD\)/],
    ['a minimum order of zero', percent({ rules: { minOrderAmount: { amount: 0, currency: 'USD' } } }), /minOrderAmount.amount must be an integer/],
    ['an empty product list', percent({ rules: { productIds: [] } }), /rules.productIds must list at least one product/],
    ['a product listed twice', (() => { const id = newId(); return percent({ rules: { productIds: [id, id] } }); })(), /lists a product twice/],
    ['a category id that is not an id', percent({ rules: { categoryIds: ['shoes'] } }), /rules.categoryIds must hold only category ids/],
    ["sellers on a seller's coupon", percent({ rules: { sellerIds: [newId()] } }), /rules.sellerIds is for platform coupons/],
    ['an unknown rule', percent({ rules: { maxPerDay: 3 } as never }), /rules.maxPerDay is not a rule/],
  ])('refuses %s with a message naming the field', (_name, draft, message) => {
    expect(problemsOf(draft).join('\n')).toMatch(message);
  });

  it('reports every problem at once', () => {
    expect(problemsOf({ code: 'x', type: 'fixed_amount', discount: -1, amountOff: { amount: 0, currency: 'usd' }, maxUses: 0 })).toHaveLength(5);
  });

  it('lets an admin narrow a platform coupon to some sellers, but not to an empty list', () => {
    const sellerId = newId();
    const ok = validateCouponDraft(percent({ rules: { sellerIds: [sellerId] } }), admin, NOW);
    expect(ok.ok && ok.coupon.rules.sellerIds).toEqual([sellerId]);
    expect(problemsOf(percent({ rules: { sellerIds: [] } }), admin).join()).toMatch(/rules.sellerIds must list at least one seller/);
  });
});

describe('rules as coupon_rules rows', () => {
  it('map to one row per rule and back without loss', () => {
    const rules = {
      minOrderAmount: { amount: 2500, currency: 'EUR' },
      productIds: [newId()],
      categoryIds: [newId(), newId()],
      sellerIds: [newId()],
      onePerCustomer: true,
      firstOrderOnly: true,
    };
    const rows = rulesToRows(rules);
    expect(rows.map((r) => r.ruleType)).toEqual(['min_order_amount', 'products', 'categories', 'seller_items', 'one_per_customer', 'first_order_only']);
    expect(rulesFromRows(Object.fromEntries(rows.map((r) => [r.ruleType, r.ruleJson])))).toEqual(rules);
  });
});
