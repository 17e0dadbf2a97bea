/**
 * Text PostgreSQL cannot store: lone UTF-16 surrogates (half of a pair, e.g. a string cut in the
 * middle of an emoji), valid in a JavaScript string but not in json (`JSON.stringify` writes one as
 * `\udXXX` and the whole statement fails), and U+0000, which no text or json value may hold. They
 * are refused as input and replaced in what bazaar writes itself.
 */

// biome-ignore lint/suspicious/noControlCharactersInRegex: U+0000 is exactly what is looked for.
const UNSTORABLE = /[\u0000\p{Cs}]/u;
/** `\uDXXX` escapes of a surrogate and `\u0000` escapes in JSON text, not preceded by an escaped backslash. */
const UNSTORABLE_ESCAPE = /(?<!\\)((?:\\\\)*)\\u(?:[dD][89a-fA-F][0-9a-fA-F]{2}|0000)/g;

/** What makes a text unstorable, for an error message. */
export function unstorableCharacter(text: string): string | undefined {
  const found = UNSTORABLE.exec(text)?.[0];
  if (found === undefined) return undefined;
  return found === '\u0000' ? 'the character U+0000 (NUL)' : 'a lone surrogate (\\uD800 to \\uDFFF)';
}

/**
 * JSON text made by JSON.stringify with each lone surrogate and each U+0000 replaced by U+FFFD.
 * Paired surrogates are written as the characters themselves, so every `\uD800`–`\uDFFF` escape it
 * holds is a lone one.
 */
export function wellFormedJson(json: string): string {
  // One scan for the usual case: JSON.stringify escapes as \u only control characters and lone surrogates.
  if (!json.includes('\\u')) return json;
  if (!json.includes('\\ud') && !json.includes('\\uD') && !json.includes('\\u0000')) return json;
  return json.replace(UNSTORABLE_ESCAPE, '$1\\ufffd');
}

/**
 * Whether text holds from `min` to `max` characters, counted as PostgreSQL's length() and JSON
 * Schema's maxLength count them: code points, where `.length` counts UTF-16 units (an emoji is two).
 */
export function charactersWithin(text: string, min: number, max: number): boolean {
  if (text.length < min) return false;
  if (text.length <= max && min === 0) return true;
  let characters = 0;
  for (const _ of text) if (++characters > max) return false;
  return characters >= min;
}
