import { describe, expect, it } from 'vitest';
import { releasesOnCancel } from '../../src/domains/coupons/release-policy.ts';

describe('releasing a redemption when orders are cancelled', () => {
  it("releases a seller's coupon when that seller's order is cancelled", () => {
    expect(releasesOnCancel(['s1'], new Set(['s1']))).toBe(true);
  });

  it('keeps a coupon used while one order it discounted lives', () => {
    expect(releasesOnCancel(['s1', 's2'], new Set(['s1']))).toBe(false);
  });

  it('releases it once every order it discounted is cancelled, whatever happened to orders it did not discount', () => {
    expect(releasesOnCancel(['s1', 's2'], new Set(['s2', 's1']))).toBe(true);
    expect(releasesOnCancel(['s1'], new Set(['s3']))).toBe(false);
  });

  it('never releases a redemption that discounted no line', () => {
    expect(releasesOnCancel([], new Set(['s1']))).toBe(false);
  });
});
