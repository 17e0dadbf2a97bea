import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { captureSplit, refundSplit } from './commission.ts';

describe('capture split', () => {
  it('takes the commission in basis points, rounded down, and gives the seller the rest', () => {
    expect(captureSplit(1000, 1000)).toEqual({ sellerAmount: 900, commissionAmount: 100 });
    expect(captureSplit(1999, 1000)).toEqual({ sellerAmount: 1800, commissionAmount: 199 });
    expect(captureSplit(1, 9999)).toEqual({ sellerAmount: 1, commissionAmount: 0 });
    expect(captureSplit(500, 0)).toEqual({ sellerAmount: 500, commissionAmount: 0 });
    expect(captureSplit(500, 10000)).toEqual({ sellerAmount: 0, commissionAmount: 500 });
  });

  it('stays exact for amounts near the safe integer limit', () => {
    const amount = Number.MAX_SAFE_INTEGER;
    const split = captureSplit(amount, 3333);
    expect(split.sellerAmount + split.commissionAmount).toBe(amount);
    expect(BigInt(split.commissionAmount)).toBe((BigInt(amount) * 3333n) / 10000n);
  });

  it('refuses a rate outside 0..10000 basis points', () => {
    expect(() => captureSplit(100, 10001)).toThrow(RangeError);
    expect(() => captureSplit(100, -1)).toThrow(RangeError);
  });
});

describe('refund split', () => {
  it('gives back the commission in proportion to the running refunded total', () => {
    // 1000 paid, 100 commission; 333 refunded → 33 commission back; then 667 → the remaining 67.
    const first = refundSplit({ allocationAmount: 1000, commissionCharged: 100, commissionReversed: 0, refundedBefore: 0, refundAmount: 333 });
    expect(first).toEqual({ sellerAmount: 300, commissionAmount: 33 });
    const second = refundSplit({ allocationAmount: 1000, commissionCharged: 100, commissionReversed: 33, refundedBefore: 333, refundAmount: 667 });
    expect(second).toEqual({ sellerAmount: 600, commissionAmount: 67 });
  });

  it('refuses refunds beyond the allocation, and a reversed commission that does not match', () => {
    expect(() => refundSplit({ allocationAmount: 100, commissionCharged: 10, commissionReversed: 0, refundedBefore: 50, refundAmount: 51 })).toThrow(RangeError);
    expect(() => refundSplit({ allocationAmount: 100, commissionCharged: 10, commissionReversed: 9, refundedBefore: 10, refundAmount: 10 })).toThrow(RangeError);
  });

  it('over any series of partial refunds, reverses exactly what was charged and never takes the seller below zero', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 10_000_000 }),
        fc.integer({ min: 0, max: 10_000 }),
        fc.array(fc.integer({ min: 1, max: 1_000_000 }), { minLength: 1, maxLength: 30 }),
        (amount, bps, wishes) => {
          const { sellerAmount: sellerCredit, commissionAmount: commission } = captureSplit(amount, bps);
          let refunded = 0;
          let reversed = 0;
          let sellerDebit = 0;
          for (const wish of wishes) {
            const refundAmount = Math.min(wish, amount - refunded);
            if (refundAmount === 0) break;
            const split = refundSplit({ allocationAmount: amount, commissionCharged: commission, commissionReversed: reversed, refundedBefore: refunded, refundAmount });
            expect(split.sellerAmount + split.commissionAmount).toBe(refundAmount);
            expect(split.sellerAmount).toBeGreaterThanOrEqual(0);
            expect(split.commissionAmount).toBeGreaterThanOrEqual(0);
            refunded += refundAmount;
            reversed += split.commissionAmount;
            sellerDebit += split.sellerAmount;
            expect(sellerCredit - sellerDebit).toBeGreaterThanOrEqual(0);
            expect(commission - reversed).toBeGreaterThanOrEqual(0);
          }
          if (refunded === amount) {
            expect(reversed).toBe(commission);
            expect(sellerDebit).toBe(sellerCredit);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
