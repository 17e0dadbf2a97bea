/**
 * Lone UTF-16 surrogates (half of a pair, e.g. a string cut in the middle of an emoji) are valid in
 * a JavaScript string but not in PostgreSQL's json: `JSON.stringify` writes one as `\udXXX`, and the
 * whole statement fails. They are refused as input and replaced in what bazaar writes itself.
 */

const LONE_SURROGATE = /\p{Cs}/u;
/** `\uDXXX` escapes of a surrogate in JSON text, not preceded by an escaped backslash. */
const SURROGATE_ESCAPE = /(?<!\\)((?:\\\\)*)\\u[dD][89a-fA-F][0-9a-fA-F]{2}/g;

/**
 * Whether any string in the value (objects, arrays and strings, as JSON.parse makes them) holds a
 * lone surrogate. Walked with a stack of its own, so a deeply nested body cannot overflow the call
 * stack; anything else (a raw webhook Buffer) is not text to check.
 */
export function hasLoneSurrogate(value: unknown): boolean {
  const pending: unknown[] = [value];
  while (pending.length > 0) {
    const v = pending.pop();
    if (typeof v === 'string') {
      if (LONE_SURROGATE.test(v)) return true;
    } else if (Array.isArray(v)) {
      for (const item of v) pending.push(item);
    } else if (v !== null && typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) {
      for (const [key, item] of Object.entries(v)) {
        if (LONE_SURROGATE.test(key)) return true;
        pending.push(item);
      }
    }
  }
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
