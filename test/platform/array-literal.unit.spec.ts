import pgUtils from 'pg/lib/utils.js';
import { describe, expect, it } from 'vitest';
import { arrayLiteral, withArrayLiterals } from '../../src/platform/db/array-literal.ts';

describe('array literals', () => {
  it('are the text pg itself makes for the same array', () => {
    const samples: unknown[][] = [
      [],
      ['0190f5c2-0000-7000-8000-000000000001', '0190f5c2-0000-7000-8000-000000000002'],
      ['plain', 'with "quotes"', 'back\\slash', 'both \\"', '', ' spaced ', '{braces,comma}', 'NULL', 'ünïcödé'],
      [1, 2.5, -3, 0, true, false, 10n],
      [null, undefined, 'x'],
      [new Date('2026-12-04T07:00:00.123Z'), new Date(0)],
      [{ a: 1, b: 'say "hi"' }, [1, 2]],
      [['a', 'b'], ['c', null]],
      [Buffer.from([0, 1, 255])],
    ];
    for (const sample of samples) expect(arrayLiteral(sample), JSON.stringify(sample, (_k, v) => (typeof v === 'bigint' ? `${v}n` : v))).toBe(pgUtils.prepareValue(sample));
  });

  it('replace only the array values of a query, leaving the rest as given', () => {
    const date = new Date();
    const values = ['a', 1, ['x', 'y'], null, date];
    const prepared = withArrayLiterals(values);
    expect(prepared).toEqual(['a', 1, '{"x","y"}', null, date]);
    expect(values[2]).toEqual(['x', 'y']);
    const noArrays = ['a', 1];
    expect(withArrayLiterals(noArrays)).toBe(noArrays);
  });
});
