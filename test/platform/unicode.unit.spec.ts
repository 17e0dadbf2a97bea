import { describe, expect, it } from 'vitest';
import { findInJson } from '../../src/platform/json-walk.ts';
import { charactersWithin, unstorableCharacter, wellFormedJson } from '../../src/platform/unicode.ts';

/** The first text in a value PostgreSQL cannot store, as the HTTP edge looks for it. */
const findUnstorableText = (value: unknown) => findInJson(value, (v) => (typeof v === 'string' && unstorableCharacter(v) ? v : undefined));

describe('text PostgreSQL cannot store (lone surrogates, U+0000)', () => {
  it('are found in strings, keys and nested values, and a whole emoji is not one', () => {
    expect(findUnstorableText({ a: ['x', { b: 'ok \ud83d\ude00' }] })).toBeUndefined();
    expect(findUnstorableText({ a: ['x', { b: 'cut \ud83d' }] })).toBe('cut \ud83d');
    expect(findUnstorableText({ '\ude00': 1 })).toBe('\ude00');
    expect(unstorableCharacter('cut \ud83d')).toMatch(/lone surrogate/);
  });

  it('find U+0000 in strings and keys, also of objects without Object.prototype (parsed query strings)', () => {
    expect(findUnstorableText({ a: [1, 'a\u0000b'] })).toBe('a\u0000b');
    const query = Object.assign(Object.create(null), { q: 'x', 'k\u0000': 'y' });
    expect(findUnstorableText(query)).toBe('k\u0000');
    expect(unstorableCharacter('k\u0000')).toMatch(/U\+0000/);
    expect(findUnstorableText({ a: 'tab\tand\u0001 are storable' })).toBeUndefined();
  });

  it('are looked for without recursion, so a body nested 100,000 deep is checked, not a stack overflow', () => {
    let deep: unknown = '\ud83d';
    for (let i = 0; i < 100_000; i++) deep = [deep];
    expect(findUnstorableText(deep)).toBe('\ud83d');
  });

  it('are not looked for in raw bytes (a webhook body kept as a Buffer for its signature)', () => {
    expect(findUnstorableText(Buffer.alloc(64 * 1024, 0))).toBeUndefined();
  });

  it('become U+FFFD in JSON text, where an escaped backslash before "ud83d" or "u0000" is left alone', () => {
    expect(JSON.parse(wellFormedJson(JSON.stringify({ a: 'x\ud83d', b: String.raw`\ud83d`, c: '😀', d: 'n\u0000', e: String.raw`\u0000` })))).toEqual({
      a: 'x\ufffd',
      b: String.raw`\ud83d`,
      c: '😀',
      d: 'n\ufffd',
      e: String.raw`\u0000`,
    });
  });
});

describe('charactersWithin', () => {
  it('counts code points, as PostgreSQL length() does, not UTF-16 units', () => {
    expect(charactersWithin('😀'.repeat(3), 0, 3)).toBe(true);
    expect(charactersWithin('😀'.repeat(4), 0, 3)).toBe(false);
    expect(charactersWithin('é😀', 2, 2)).toBe(true);
    expect(charactersWithin('😀', 2, 5)).toBe(false);
    expect(charactersWithin('', 1, 5)).toBe(false);
    expect(charactersWithin('abc', 0, 3)).toBe(true);
  });
});
