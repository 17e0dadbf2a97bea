import { describe, expect, it } from 'vitest';
import { makeRoom } from '../../src/platform/bounded-map.ts';

describe('makeRoom', () => {
  const filled = (n: number) => new Map(Array.from({ length: n }, (_, i) => [`k${i}`, i]));

  it('leaves a map under its bound alone', () => {
    const map = filled(31);
    makeRoom(map, 32);
    expect(map.size).toBe(31);
  });

  it('drops the oldest sixteenth of the bound at once when full, oldest first', () => {
    const map = filled(64);
    makeRoom(map, 64);
    expect(map.size).toBe(60);
    expect([...map.keys()].slice(0, 2)).toEqual(['k4', 'k5']);
    expect(map.has('k3')).toBe(false);
    expect(map.has('k63')).toBe(true);
  });

  it('drops at least one entry, and enough to get under the bound when it was exceeded', () => {
    const small = filled(2);
    makeRoom(small, 2);
    expect([...small.keys()]).toEqual(['k1']);
    const over = filled(100);
    makeRoom(over, 64);
    expect(over.size).toBe(63);
    expect(over.has('k36')).toBe(false);
    expect(over.has('k37')).toBe(true);
  });

  it('tells each entry it drops, in the order dropped', () => {
    const map = filled(64);
    const dropped: [string, number][] = [];
    makeRoom(map, 64, (key, value) => dropped.push([key, value]));
    expect(dropped).toEqual([['k0', 0], ['k1', 1], ['k2', 2], ['k3', 3]]);
  });

  it('keeps a cache filled with distinct keys within its bound, the newest always kept', () => {
    const map = new Map<string, number>();
    for (let i = 0; i < 10_000; i++) {
      makeRoom(map, 1000);
      map.set(`k${i}`, i);
      expect(map.size).toBeLessThanOrEqual(1000);
    }
    expect(map.size).toBeGreaterThan(1000 - 1000 / 16);
    expect(map.has('k9999')).toBe(true);
    expect(map.has('k0')).toBe(false);
  });
});
