import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type BuyerFacts, type CouponLine, type CouponTerms, allocate, discountsByLine, evaluateCoupons } from '../../src/domains/coupons/discounts.ts';
import { newId } from '../../src/platform/ids.ts';

const NOW = new Date('2026-05-01T12:00:00.000Z');
const SELLER_A = newId();
const SELLER_B = newId();
const nobody: BuyerFacts = { hasOrdered: false, usedCouponIds: new Set() };

function coupon(overrides: Partial<CouponTerms> = {}): CouponTerms {
  return {
    id: newId(),
    code: 'TEN',
    sellerId: null,
    type: 'percentage',
    discount: 1000,
    currency: null,
    maxUses: null,
    usesCount: 0,
    status: 'active',
    validFrom: new Date('2026-01-01T00:00:00Z'),
    validTo: null,
    rules: {},
    ...overrides,
  };
}

let lineNo = 0;
function line(overrides: Partial<CouponLine> = {}): CouponLine {
  return { lineId: `L${++lineNo}`, productId: newId(), variantId: newId(), sellerId: SELLER_A, categoryId: null, unitPrice: 1000, quantity: 1, ...overrides };
}

function run(coupons: CouponTerms[], lines: CouponLine[], options: { codes?: string[]; buyer?: BuyerFacts; currency?: string; now?: Date } = {}) {
  return evaluateCoupons({
    codes: options.codes ?? coupons.map((c) => c.code),
    coupons: new Map(coupons.map((c) => [c.code, c])),
    lines,
    currency: options.currency ?? 'USD',
    now: options.now ?? NOW,
    buyer: options.buyer ?? nobody,
  });
}

describe('allocate (largest remainder)', () => {
  it('splits 100 over three equal lines as 34 + 33 + 33, the first remainder winning the tie', () => {
    expect(allocate(100, [100, 100, 100])).toEqual([34, 33, 33]);
  });

  it('gives the unit left over to the largest remainder, not the first line', () => {
    // Exact shares: 7 × 10/60 = 1.17, 7 × 20/60 = 2.33, 7 × 30/60 = 3.5 → floors 1 + 2 + 3 = 6, the 7th unit goes to 3.5.
    expect(allocate(7, [10, 20, 30])).toEqual([1, 2, 4]);
  });

  it('refuses to split more than the weights hold', () => {
    expect(() => allocate(31, [10, 10, 10])).toThrow(RangeError);
  });

  it('adds up exactly, never exceeds a weight and stays within one unit of the exact share', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 10_000_000 }), { minLength: 1, maxLength: 30 }).chain((weights) => {
          const sum = weights.reduce((a, w) => a + w, 0);
          return fc.tuple(fc.constant(weights), fc.integer({ min: 0, max: sum }));
        }),
        ([weights, total]) => {
          const parts = allocate(total, weights);
          const sum = weights.reduce((a, w) => a + w, 0);
          expect(parts.reduce((a, p) => a + p, 0)).toBe(total);
          parts.forEach((p, i) => {
            expect(Number.isInteger(p)).toBe(true);
            expect(p).toBeGreaterThanOrEqual(0);
            expect(p).toBeLessThanOrEqual(weights[i]!);
            if (sum > 0) expect(Math.abs(p - (total * weights[i]!) / sum)).toBeLessThan(1);
          });
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('evaluating one coupon', () => {
  it('takes 10 % off, rounded down, split over the lines in proportion', () => {
    const [o] = run([coupon()], [line({ lineId: 'a', unitPrice: 1999, quantity: 2 }), line({ lineId: 'b', unitPrice: 1005 })]);
    // 10 % of 5003 = 500.3 → 500; shares of 3998 and 1005: 399.52 and 100.46 → 399 + 100 + the remaining unit to a.
    expect(o).toEqual({ code: 'TEN', couponId: expect.any(String), valid: true, discountAmount: 500, lines: [{ lineId: 'a', discountAmount: 400 }, { lineId: 'b', discountAmount: 100 }] });
  });

  it('caps a fixed amount at what the eligible lines cost', () => {
    const [o] = run([coupon({ type: 'fixed_amount', discount: 5000, currency: 'USD' })], [line({ unitPrice: 1200, quantity: 2 })]);
    expect(o?.valid && o.discountAmount).toBe(2400);
  });

  it("discounts only the coupon seller's items, whatever else is in the order", () => {
    const mine = line({ lineId: 'mine', sellerId: SELLER_A, unitPrice: 3000 });
    const theirs = line({ lineId: 'theirs', sellerId: SELLER_B, unitPrice: 9000 });
    const [o] = run([coupon({ sellerId: SELLER_A, type: 'fixed_amount', discount: 5000, currency: 'USD' })], [mine, theirs]);
    expect(o).toMatchObject({ valid: true, discountAmount: 3000, lines: [{ lineId: 'mine', discountAmount: 3000 }] });
  });

  it('applies to listed products or listed categories', () => {
    const productId = newId();
    const categoryId = newId();
    const byProduct = line({ lineId: 'p', productId });
    const byCategory = line({ lineId: 'c', categoryId });
    const other = line({ lineId: 'o' });
    const [o] = run([coupon({ rules: { productIds: [productId], categoryIds: [categoryId] } })], [byProduct, byCategory, other]);
    expect(o?.valid && o.lines.map((l) => l.lineId)).toEqual(['p', 'c']);
  });

  it('covers with a category the categories under it, not the ones above or beside it', () => {
    const [root, parent, child, sibling] = [newId(), newId(), newId(), newId()];
    const inChild = line({ lineId: 'child', categoryId: child, categoryPath: [root, parent, child] });
    const inParent = line({ lineId: 'parent', categoryId: parent, categoryPath: [root, parent] });
    const inSibling = line({ lineId: 'sibling', categoryId: sibling, categoryPath: [root, sibling] });
    const [forParent] = run([coupon({ rules: { categoryIds: [parent] } })], [inChild, inParent, inSibling]);
    expect(forParent?.valid && forParent.lines.map((l) => l.lineId)).toEqual(['child', 'parent']);
    const [forChild] = run([coupon({ rules: { categoryIds: [child] } })], [inChild, inParent, inSibling]);
    expect(forChild?.valid && forChild.lines.map((l) => l.lineId)).toEqual(['child']);
  });

  it('compares the minimum order with the eligible items only', () => {
    const c = coupon({ sellerId: SELLER_A, rules: { minOrderAmount: { amount: 5000, currency: 'USD' } } });
    const [o] = run([c], [line({ sellerId: SELLER_A, unitPrice: 4000 }), line({ sellerId: SELLER_B, unitPrice: 9000 })]);
    expect(o).toMatchObject({ valid: false, reason: 'minimum_not_met' });
    expect(!o?.valid && o?.message).toMatch(/at least 5000 USD minor units; they total 4000/);
  });

  it.each([
    ['an unknown code', [], 'NOPE', nobody, 'not_found'],
    ['a disabled coupon', [coupon({ code: 'X1', status: 'disabled' })], 'X1', nobody, 'inactive'],
    ['a coupon that has not started', [coupon({ code: 'X2', validFrom: new Date('2026-06-01T00:00:00Z') })], 'X2', nobody, 'not_started'],
    ['a coupon at its end (exclusive)', [coupon({ code: 'X3', validTo: NOW })], 'X3', nobody, 'expired'],
    ['a coupon with no uses left', [coupon({ code: 'X4', maxUses: 5, usesCount: 5 })], 'X4', nobody, 'exhausted'],
    ['a fixed coupon in another currency', [coupon({ code: 'X5', type: 'fixed_amount', currency: 'EUR' })], 'X5', nobody, 'currency_mismatch'],
    ['a first-order coupon for a buyer who ordered', [coupon({ code: 'X6', rules: { firstOrderOnly: true } })], 'X6', { hasOrdered: true, usedCouponIds: new Set<string>() }, 'not_first_order'],
    ['a coupon for products not in the order', [coupon({ code: 'X7', rules: { productIds: [newId()] } })], 'X7', nobody, 'no_eligible_items'],
  ] as const)('refuses %s with the reason', (_name, coupons, code, buyer, reason) => {
    const [o] = run([...coupons], [line()], { codes: [code], buyer });
    expect(o).toMatchObject({ valid: false, reason });
  });

  it('refuses a one-per-customer coupon the buyer holds a use of, and allows it to anyone else', () => {
    const c = coupon({ rules: { onePerCustomer: true } });
    expect(run([c], [line()], { buyer: { hasOrdered: false, usedCouponIds: new Set([c.id]) } })[0]).toMatchObject({ valid: false, reason: 'already_used' });
    expect(run([c], [line()])[0]).toMatchObject({ valid: true });
  });

  it('finds the code whatever its case or surrounding spaces', () => {
    expect(run([coupon()], [line()], { codes: ['  ten '] })[0]).toMatchObject({ code: 'TEN', valid: true });
  });
});

describe('evaluating several coupons', () => {
  it('applies them in order, each to what the previous left, never past a line total', () => {
    const all = coupon({ code: 'ALL', type: 'fixed_amount', discount: 900, currency: 'USD' });
    const half = coupon({ code: 'HALF', discount: 5000 });
    const outcomes = run([all, half], [line({ lineId: 'a', unitPrice: 1000 })]);
    expect(outcomes.map((o) => o.valid && o.discountAmount)).toEqual([900, 50]);
    expect(discountsByLine([line({ lineId: 'a' })], outcomes)).toEqual([{ lineId: 'a', discountAmount: 950 }]);
  });

  it('reports the same coupon given twice and more than five codes', () => {
    const c = coupon();
    expect(run([c], [line()], { codes: ['TEN', 'ten'] })[1]).toMatchObject({ valid: false, reason: 'duplicate' });
    const codes = ['A1', 'A2', 'A3', 'A4', 'A5', 'A6'];
    expect(run([], [line()], { codes }).at(-1)).toMatchObject({ valid: false, reason: 'too_many_codes' });
  });

  it('says so when an earlier coupon left nothing to take off', () => {
    const all = coupon({ code: 'ALL', discount: 10_000 });
    expect(run([all, coupon({ code: 'MORE' })], [line()])[1]).toMatchObject({ valid: false, reason: 'no_discount' });
  });
});

describe('splits over random orders (property)', () => {
  const sellers = [SELLER_A, SELLER_B, newId()];
  const lineArb = fc.record({
    unitPrice: fc.integer({ min: 0, max: 500_000 }),
    quantity: fc.integer({ min: 1, max: 20 }),
    seller: fc.integer({ min: 0, max: 2 }),
  });
  const couponArb = fc.oneof(
    fc.record({ type: fc.constant('percentage' as const), discount: fc.integer({ min: 1, max: 10_000 }), seller: fc.option(fc.integer({ min: 0, max: 2 })) }),
    fc.record({ type: fc.constant('fixed_amount' as const), discount: fc.integer({ min: 1, max: 2_000_000 }), seller: fc.option(fc.integer({ min: 0, max: 2 })) }),
  );

  it('gives every valid coupon parts that add up to its discount, and no line more than its total', () => {
    fc.assert(
      fc.property(fc.array(lineArb, { minLength: 1, maxLength: 40 }), fc.array(couponArb, { minLength: 1, maxLength: 5 }), (rawLines, rawCoupons) => {
        const lines = rawLines.map((l, i) => line({ lineId: `l${i}`, unitPrice: l.unitPrice, quantity: l.quantity, sellerId: sellers[l.seller]! }));
        const coupons = rawCoupons.map((c, i) =>
          coupon({ code: `C${i}X`, type: c.type, discount: c.discount, currency: c.type === 'fixed_amount' ? 'USD' : null, sellerId: c.seller === null ? null : sellers[c.seller]! }),
        );
        const outcomes = run(coupons, lines);
        for (const [i, o] of outcomes.entries()) {
          if (!o.valid) continue;
          expect(o.lines.reduce((a, l) => a + l.discountAmount, 0)).toBe(o.discountAmount);
          expect(o.lines.every((l) => Number.isInteger(l.discountAmount) && l.discountAmount >= 0)).toBe(true);
          const c = coupons[i]!;
          if (c.sellerId !== null) expect(o.lines.every((l) => lines.find((x) => x.lineId === l.lineId)!.sellerId === c.sellerId)).toBe(true);
        }
        const totals = discountsByLine(lines, outcomes);
        for (const t of totals) {
          const l = lines.find((x) => x.lineId === t.lineId)!;
          expect(t.discountAmount).toBeLessThanOrEqual(l.unitPrice * l.quantity);
        }
        // The first coupon sees the full amounts: its discount is exactly the rule.
        const first = outcomes[0]!;
        if (first.valid) {
          const c = coupons[0]!;
          const base = lines.filter((l) => c.sellerId === null || l.sellerId === c.sellerId).reduce((a, l) => a + l.unitPrice * l.quantity, 0);
          expect(first.discountAmount).toBe(c.type === 'percentage' ? Math.floor((base * c.discount) / 10_000) : Math.min(c.discount, base));
        }
      }),
      { numRuns: 300 },
    );
  });
});
