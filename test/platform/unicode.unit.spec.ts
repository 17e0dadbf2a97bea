import { describe, expect, it } from 'vitest';
import { hasLoneSurrogate, wellFormedJson } from '../../src/platform/unicode.ts';

describe('lone surrogates', () => {
  it('are found in strings, keys and nested values, and a whole emoji is not one', () => {
    expect(hasLoneSurrogate({ a: ['x', { b: 'ok \ud83d\ude00' }] })).toBe(false);
    expect(hasLoneSurrogate({ a: ['x', { b: 'cut \ud83d' }] })).toBe(true);
    expect(hasLoneSurrogate({ '\ude00': 1 })).toBe(true);
  });

  it('are looked for without recursion, so a body nested 100,000 deep is checked, not a stack overflow', () => {
    let deep: unknown = '\ud83d';
    for (let i = 0; i < 100_000; i++) deep = [deep];
    expect(hasLoneSurrogate(deep)).toBe(true);
  });

  it('are not looked for in raw bytes (a webhook body kept as a Buffer for its signature)', () => {
    expect(hasLoneSurrogate(Buffer.alloc(64 * 1024, 0xed))).toBe(false);
  });

  it('become U+FFFD in JSON text, where an escaped backslash before "ud83d" is left alone', () => {
    expect(JSON.parse(wellFormedJson(JSON.stringify({ a: 'x\ud83d', b: String.raw`\ud83d`, c: '😀' })))).toEqual({ a: 'x\ufffd', b: String.raw`\ud83d`, c: '😀' });
  });
});
