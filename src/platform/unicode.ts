/**
 * Lone UTF-16 surrogates (half of a pair, e.g. a string cut in the middle of an emoji) are valid in
 * a JavaScript string but not in PostgreSQL's json: `JSON.stringify` writes one as `\udXXX`, and the
 * whole statement fails. They are refused as input and replaced in what bazaar writes itself.
 */

const LONE_SURROGATE = /\p{Cs}/u;
/** `\uDXXX` escapes of a surrogate in JSON text, not preceded by an escaped backslash. */
const SURROGATE_ESCAPE = /(?<!\\)((?:\\\\)*)\\u[dD][89a-fA-F][0-9a-fA-F]{2}/g;

/** Whether any string in the value (an object, array or string, as JSON.parse makes) holds a lone surrogate. */
export function hasLoneSurrogate(value: unknown): boolean {
  if (typeof value === 'string') return LONE_SURROGATE.test(value);
  if (value === null || typeof value !== 'object') return false;
  if (Array.isArray(value)) return value.some(hasLoneSurrogate);
  for (const key in value) if (LONE_SURROGATE.test(key) || hasLoneSurrogate((value as Record<string, unknown>)[key])) return true;
  return false;
}

/**
 * JSON text made by JSON.stringify with each lone surrogate replaced by U+FFFD. Paired surrogates are
 * written as the characters themselves, so every `\uD800`–`\uDFFF` escape it holds is a lone one.
 */
export function wellFormedJson(json: string): string {
  if (!json.includes('\\ud') && !json.includes('\\uD')) return json;
  return json.replace(SURROGATE_ESCAPE, '$1\\ufffd');
}
