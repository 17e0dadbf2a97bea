import { describe, expect, it } from 'vitest';
import { isUuidV7, uuidV7 } from '../../src/platform/ids.ts';

const msOf = (id: string) => Number.parseInt(id.replace(/-/g, '').slice(0, 12), 16);

describe('uuidV7', () => {
  it('makes RFC 9562 version 7 ids carrying the millisecond they were made in', () => {
    // Later than any id this process made so far, so the id carries exactly this millisecond.
    const at = Date.now() + 3_600_000;
    const id = uuidV7(at);
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(isUuidV7(id)).toBe(true);
    expect(msOf(id)).toBe(at);
  });

  it('is strictly increasing within one millisecond, past the counter, and when the clock steps back', () => {
    const base = Date.now() + 7_200_000;
    const ids = [uuidV7(base)];
    // 5,000 ids in one millisecond overflow the 12-bit counter: the millisecond moves on.
    for (let i = 0; i < 5_000; i++) ids.push(uuidV7(base));
    // The clock steps back a second: ids keep growing from the last millisecond used.
    for (let i = 0; i < 100; i++) ids.push(uuidV7(base - 1_000));
    for (let i = 1; i < ids.length; i++) expect(ids[i]! > ids[i - 1]!, `${ids[i]} after ${ids[i - 1]}`).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    expect(msOf(ids[0]!)).toBe(base);
    expect(msOf(ids.at(-1)!)).toBeGreaterThan(base);
    expect(msOf(ids.at(-1)!)).toBeLessThan(base + 5);
  });

  it('draws the random part afresh for every id', () => {
    const tails = new Set(Array.from({ length: 10_000 }, () => uuidV7().slice(19)));
    expect(tails.size).toBe(10_000);
  });
});
