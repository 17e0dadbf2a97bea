import { describe, expect, it } from 'vitest';
import { errorMessage } from '../../src/platform/error-message.ts';

describe('errorMessage (what a consumer, a replay or the relay records of a failure)', () => {
  it("is an Error's message, else says what was thrown, and never fails itself", () => {
    expect(errorMessage(new Error('the handler broke'))).toBe('the handler broke');
    expect(errorMessage(new TypeError(''))).toBe('TypeError');
    expect(errorMessage(undefined)).toBe('thrown without an Error: undefined');
    expect(errorMessage(null)).toBe('thrown without an Error: null');
    expect(errorMessage(42)).toBe('thrown without an Error: 42');
    expect(errorMessage(Object.create(null))).toBe('thrown without an Error: [object Object]');
    const hostile = { toString: () => { throw new Error('no'); } };
    expect(errorMessage(hostile)).toBe('thrown without an Error: [object Object]');
    // PostgreSQL's text refuses NUL: a message quoting outside input may hold one (found by a review).
    expect(errorMessage(new Error('bad input: a\u0000b'))).toBe('bad input: a\uFFFDb');
  });

  it('is at most lengthMax characters', () => {
    expect(errorMessage(new Error('x'.repeat(5000)))).toHaveLength(2000);
    expect(errorMessage('y'.repeat(50), 10)).toBe('thrown wit');
  });
});
