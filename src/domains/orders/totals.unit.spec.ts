import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ORDER_NUMBER_ALPHABET, ORDER_NUMBER_PATTERN, orderNumberGenerator } from './order-number.ts';
import { allocateDiscount, orderTotals } from './totals.ts';

describe('order totals', () => {
  it('adds lines, discount and shipping up to the total', () => {
    const t = orderTotals(
      [
        { unitPrice: 1999, quantity: 2, discountAmount: 300 },
        { unitPrice: 500, quantity: 1, discountAmount: 0 },
      ],
      300,
      499,
    );
    expect(t.lines).toEqual([
      { gross: 3998, discountAmount: 300, lineTotal: 3698 },
      { gross: 500, discountAmount: 0, lineTotal: 500 },
    ]);
    expect(t).toMatchObject({ subtotalAmount: 4498, discountAmount: 300, shippingAmount: 499, totalAmount: 4697 });
  });

  it('splits an order-level coupon discount over the lines in proportion to their amounts', () => {
    const t = orderTotals(
      [
        { unitPrice: 1000, quantity: 1, discountAmount: 0 },
        { unitPrice: 1000, quantity: 2, discountAmount: 0 },
      ],
      301,
      0,
    );
    expect(t.lines.map((l) => l.discountAmount)).toEqual([100, 201]);
    expect(t.totalAmount).toBe(3000 - 301);
  });

  it('refuses line discounts that do not sum to the order discount, and a discount above a line', () => {
    expect(() => orderTotals([{ unitPrice: 1000, quantity: 1, discountAmount: 10 }], 20, 0)).toThrow(RangeError);
    expect(() => orderTotals([{ unitPrice: 100, quantity: 1, discountAmount: 101 }], 101, 0)).toThrow(RangeError);
    expect(() => orderTotals([{ unitPrice: 100, quantity: 0, discountAmount: 0 }], 0, 0)).toThrow(RangeError);
  });

  it('refuses sums past 2^53 − 1 rather than rounding them into a wrong total that looks safe (found by a review)', () => {
    const lines = [
      { unitPrice: Number.MAX_SAFE_INTEGER, quantity: 1, discountAmount: 0 },
      { unitPrice: 2, quantity: 1, discountAmount: 0 },
    ];
    // 2^53 + 1 rounds to 2^53: less a discount of 4, a "safe" total one below the exact one.
    expect(() => orderTotals(lines, 4, 0)).toThrow(RangeError);
    expect(() => allocateDiscount([Number.MAX_SAFE_INTEGER, 2], 4)).toThrow(RangeError);
    // Line discounts given (no split): the subtotal alone is past it.
    expect(() =>
      orderTotals(
        [
          { unitPrice: Number.MAX_SAFE_INTEGER, quantity: 1, discountAmount: 2 },
          { unitPrice: 2, quantity: 1, discountAmount: 2 },
        ],
        4,
        0,
      ),
    ).toThrow(RangeError);
    expect(orderTotals([{ unitPrice: Number.MAX_SAFE_INTEGER - 1, quantity: 1, discountAmount: 0 }, { unitPrice: 1, quantity: 1, discountAmount: 0 }], 1, 0).totalAmount).toBe(
      Number.MAX_SAFE_INTEGER - 1,
    );
  });

  it('allocates any discount as integer parts that sum to it, none above its line', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 10_000_000_000 }), { minLength: 1, maxLength: 30 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (gross, share) => {
          const total = gross.reduce((a, b) => a + b, 0);
          const discount = Math.floor(total * share);
          const parts = allocateDiscount(gross, discount);
          expect(parts.reduce((a, b) => a + b, 0)).toBe(discount);
          parts.forEach((p, i) => {
            expect(Number.isInteger(p)).toBe(true);
            expect(p).toBeGreaterThanOrEqual(0);
            expect(p).toBeLessThanOrEqual(gross[i] as number);
          });
        },
      ),
    );
  });
});

describe('order numbers', () => {
  it('are BZ-, the UTC day and six characters without look-alikes', () => {
    const next = orderNumberGenerator();
    const number = next(new Date('2026-11-24T23:59:59.999Z'));
    expect(number).toMatch(ORDER_NUMBER_PATTERN);
    expect(number.startsWith('BZ-20261124-')).toBe(true);
    expect(ORDER_NUMBER_ALPHABET).not.toMatch(/[01OIL]/);
  });

  it('fit the database check on order numbers', () => {
    const databaseCheck = /^[A-Za-z0-9][A-Za-z0-9-]{3,39}$/;
    const next = orderNumberGenerator();
    for (let i = 0; i < 100; i++) expect(next(new Date())).toMatch(databaseCheck);
  });
});
