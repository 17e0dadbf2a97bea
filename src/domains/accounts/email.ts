import { AppError } from '../../platform/http/errors.ts';

/** Lower-case letters that toLowerCase keeps apart from the letter Unicode case folding makes them. */
const FOLDED_APART: Record<string, string> = {
  ς: 'σ',
  ſ: 's',
  µ: 'μ',
  ϐ: 'β',
  ϑ: 'θ',
  ϕ: 'φ',
  ϖ: 'π',
  ϰ: 'κ',
  ϱ: 'ρ',
  ϵ: 'ε',
  '\u0345': 'ι',
  '\u1fbe': 'ι',
  // Old Cyrillic letter forms (Unicode's simple case folding makes them the letters they are).
  '\u1c80': 'в',
  '\u1c81': 'д',
  '\u1c82': 'о',
  '\u1c83': 'с',
  '\u1c84': 'т',
  '\u1c85': 'т',
  '\u1c86': 'ъ',
  '\u1c87': 'ѣ',
  '\u1c88': 'ꙋ',
};
const FOLDED_APART_PATTERN = new RegExp(`[${Object.keys(FOLDED_APART).join('')}]`, 'gu');

/** The longest email address (RFC 5321 path limit), as the users table holds it. */
const EMAIL_LENGTH_MAX = 254;

/**
 * Emails are compared ignoring case. The database compares them as citext, whose case folding
 * follows the cluster's locale: the embedded cluster's C locale folds ASCII letters only, so
 * ÉMILE@example.com and émile@example.com were two accounts. An address with a character outside
 * ASCII is therefore stored and looked up in one form, made here: composed (NFC: an accent typed
 * as a combining mark and a precomposed one agree) and in lower case. An ASCII address is kept as
 * written (citext folds its case). Lower case leaves some letters apart from the ones Unicode case
 * folding makes them, which are folded too (FOLDED_APART): final sigma ς (σ at a word's end:
 * ΑΛΕΞΙΣ lowers to αλεξις, αλεξισ stays), long s ſ (ẛ is a long s with a dot), the micro sign µ and
 * Greek symbol forms. Accounts migration 0005 folds them the same way.
 */
export function normalizeEmail(email: string): string {
  const composed = email.normalize('NFC');
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the whole ASCII range
  if (/^[\x00-\x7f]*$/.test(composed)) return composed;
  const folded = composed
    .normalize('NFD')
    .toLowerCase()
    .replace(FOLDED_APART_PATTERN, (c) => FOLDED_APART[c] ?? c)
    .normalize('NFC');
  // Lower case may be longer (İ is i and a combining dot). Counted in characters, as the database
  // counts (an emoji is one, not two UTF-16 units).
  if ([...folded].length > EMAIL_LENGTH_MAX) throw new AppError('VALIDATION_FAILED', `email must hold at most ${EMAIL_LENGTH_MAX} characters`);
  return folded;
}
