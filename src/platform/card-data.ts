import { AppError } from './http/errors.ts';
/**
 * Payments and checkout accept gateway tokens only. A body that carries what looks like card data is refused
 * before it is stored or logged, so a client mistake cannot put a card number in our database.
 */
const CARD_FIELD = /^(pan|number|card_?number|cardnumber|cvc|cvv|cvc2|cvv2|cid|security_?code|card)$/i;
/**
 * 13 to 19 digits, possibly grouped: the shape of a primary account number. People group them by
 * spaces (no-break ones and tabs too), dashes, dots or slashes, up to three of them (`4111 - 1111`),
 * and sometimes put the first group in parentheses; a field that is nothing else also by commas or
 * underscores (inside a text those join lists of years and identifiers: `1980,1978,2008,1988`).
 */
const PAN_LIKE = /^\(?(?:\d[\s.,_\-/()]{0,3}){12,18}\d$/;
/** What separates the groups of digits of a card number as people write it. */
const GROUP_SEPARATORS = /[\s.,_\-/()]+/;
/**
 * Runs of 13 or more digits (grouped or not) inside a longer text, e.g. `tok_4242424242424242`,
 * not glued to letters or digits: identifiers are (a tracking number `JJD2986844576941236`, an
 * `EAN…` code, a hex string), and one such run in ten passes the checksum.
 */
const DIGIT_RUNS = /(?<![0-9A-Za-z])\d(?:[\s.\-/()]{0,3}\d){12,}(?![0-9A-Za-z])/g;
/** Four digits in parentheses, then the rest of a number written whole (no group of it passes groupedLikeACard). */
const PARENTHESISED_FIRST_GROUP = /(?<![0-9A-Za-z])\((\d{4})\) ?(\d{9,15})(?![0-9A-Za-z])/g;
/** UUIDs (ids, idempotency keys): their digit groups joined by dashes could pass the checksum. */
const UUIDS = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi;
const CARD_LENGTHS_MIN = 13;
const CARD_LENGTHS_MAX = 19;

/** The Luhn checksum every card number satisfies (and most other long digit runs do not). */
export function passesLuhn(digits: string): boolean {
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = digits.charCodeAt(digits.length - 1 - i) - 48;
    if (i % 2 === 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return sum % 10 === 0;
}

/**
 * Whether a text is shaped like a card number, or holds a Luhn-valid run of 13 to 19 digits among
 * other characters (a card number pasted into a name or appended to a token), also with a short
 * group of one to three digits before it (`Apt 5 4111 1111 1111 1111`), a security code of three
 * digits after it, or an expiry date (`4242 4242 4242 4242 09/28`). Other spans inside a longer run
 * are not searched: an IBAN, two phone numbers or a date and a number would hold one that passes
 * the checksum one time in ten. With `checksum`, a text that is a card-shaped number alone must
 * pass the checksum too (an Idempotency-Key: a bare timestamp or snowflake id is one of those).
 */
function holdsCardNumber(given: string, wholeRule: 'shape' | 'checksum' = 'shape', except?: string): boolean {
  // Compatibility forms made plain: full-width digits are digits, a no-break space is a space; and
  // the digits of other scripts (Arabic-Indic ٤١١١…), which NFKC keeps, read as the digits they
  // are, their separators (Arabic comma and thousands separator, Unicode hyphens and minus) as ours.
  const plain = asciiDigits(given.normalize('NFKC'));
  // Characters that show nothing (format and control characters: a soft hyphen, a zero-width space
  // or joiner, a byte order mark, DEL) are read both ways: left out, as a reader sees the text
  // (`4111\u200b1111…` reads as 41111111…, found by a helper: such a number, pasted from a web page,
  // was stored), and as a space (`tok\u200b4242…` is a token and a card number, not one identifier).
  if (!SHOWS_NOTHING.test(plain)) return scanForCardNumber(plain, wholeRule, except);
  return scanForCardNumber(plain.replace(SHOWS_NOTHING_ALL, ''), wholeRule, except) || scanForCardNumber(plain.replace(SHOWS_NOTHING_ALL, ' '), wholeRule, except);
}

/** `except`: digits that are known not to be a card number (a carrier's tracking number, quoted in its texts). */
function scanForCardNumber(plain: string, wholeRule: 'shape' | 'checksum', except: string | undefined): boolean {
  const text = plain.replace(ARABIC_COMMAS, ',').replace(UNICODE_DASHES, '-');
  const whole = text.trim();
  const isCard = (groups: readonly string[]) => isCardNumber(groups) && groups.join('') !== except;
  const wholeDigits = whole.replace(/\D/g, '');
  if (PAN_LIKE.test(whole) && groupedLikeACard(groupsOf(whole)) && (wholeRule === 'shape' || passesLuhn(wholeDigits)) && wholeDigits !== except) return true;
  // Its first four digits in parentheses, the rest written whole: `(4242)424242424242`.
  for (const [, first, rest] of text.matchAll(PARENTHESISED_FIRST_GROUP)) {
    if (isCard([`${first}${rest}`])) return true;
  }
  // An expiry date (MM/YY, MM/YYYY) ends the run before it: it is no group of the number.
  for (const run of text.replace(UUIDS, ' ').replace(EXPIRY_DATES, ' | ').match(DIGIT_RUNS) ?? []) {
    if (candidatesIn(groupsOf(run)).some(isCard)) return true;
  }
  return false;
}

const ARABIC_COMMAS = /[\u060c\u066b\u066c]/g;
/**
 * Characters that show nothing: format and control characters and the rest of Unicode's default
 * ignorables (variation selectors, Hangul fillers, …), but white space (tab, line feed…), which
 * separates groups already.
 */
const SHOWS_NOTHING = /(?![\t\n\v\f\r])[\p{Cf}\p{Cc}\p{Default_Ignorable_Code_Point}]/u;
const SHOWS_NOTHING_ALL = new RegExp(SHOWS_NOTHING.source, 'gu');
const UNICODE_DASHES = /[\u2010-\u2015\u2212]/g;
const DECIMAL_DIGIT = /\p{Nd}/u;
const NOT_ASCII = /\P{ASCII}/u;

/**
 * Every decimal digit of another script as its ASCII digit. Unicode puts each script's digits zero
 * to nine at consecutive code points (a block of ten, or blocks of ten one after the other), so a
 * digit's value is its distance from the start of its run of digits, modulo ten.
 */
function asciiDigits(text: string): string {
  if (!NOT_ASCII.test(text)) return text;
  return text.replace(/\p{Nd}/gu, (ch) => {
    const cp = ch.codePointAt(0) as number;
    if (cp < 0x80) return ch;
    let k = 0;
    while (DECIMAL_DIGIT.test(String.fromCodePoint(cp - k - 1))) k++;
    return String(k % 10);
  });
}

/** A card's expiry date as people write it after the number, not inside a longer digit group. */
const EXPIRY_DATES = /(?<![0-9])(?:0[1-9]|1[0-2]) ?\/ ?(?:[0-9]{2}|20[0-9]{2})(?![0-9])/g;

const isShort = (group: string | undefined) => group !== undefined && group.length <= 3;

/**
 * The spans of a run that may be a card number: the run, less a short group before it; each less a
 * last group of three digits (a security code), or of one to three after a number written whole.
 */
function candidatesIn(groups: readonly string[]): (readonly string[])[] {
  const candidates: (readonly string[])[] = [];
  for (const rest of groups.length > 1 && isShort(groups[0]) ? [groups, groups.slice(1)] : [groups]) {
    candidates.push(rest);
    const last = rest[rest.length - 1] ?? '';
    if (rest.length > 1 && (last.length === 3 || (rest.length === 2 && last.length < 3))) candidates.push(rest.slice(0, -1));
  }
  return candidates;
}

function isCardNumber(groups: readonly string[]): boolean {
  const digits = groups.join('');
  return digits.length >= CARD_LENGTHS_MIN && digits.length <= CARD_LENGTHS_MAX && groupedLikeACard(groups) && passesLuhn(digits);
}

const groupsOf = (run: string): string[] => run.split(GROUP_SEPARATORS).filter((g) => g !== '');

/**
 * A card number is written whole or in groups that start with four digits (4-4-4-4, 4-6-5, 4-6-4,
 * 4-4-4-4-3). Digits grouped otherwise are something else: a reference such as RF-20261205-3455763293
 * (a date and a number) joined across its dash passed the checksum one time in ten, and the payment
 * webhook naming it was refused as card data, leaving its refund pending for good.
 */
function groupedLikeACard(groups: readonly string[]): boolean {
  if (groups.length === 1) return true;
  return groups[0]?.length === 4 && groups.every((g, i) => g.length <= 6 && (i === groups.length - 1 || g.length >= 3));
}

const DEPTH_MAX = 8;
const NODES_MAX = 2000;

/** The path of the first field that looks like card data, or undefined when there is none. */
export function findCardData(value: unknown, options: { except?: string } = {}): string | undefined {
  let nodes = 0;
  const visit = (v: unknown, path: string, depth: number): string | undefined => {
    nodes += 1;
    if (nodes > NODES_MAX || depth > DEPTH_MAX) return undefined;
    if (typeof v === 'string') return holdsCardNumber(v, 'shape', options.except) ? path || '/' : undefined;
    if (Array.isArray(v)) {
      for (const [i, item] of v.entries()) {
        const found = visit(item, `${path}/${i}`, depth + 1);
        if (found) return found;
      }
      return undefined;
    }
    if (v !== null && typeof v === 'object') {
      for (const [key, item] of Object.entries(v)) {
        if (CARD_FIELD.test(key)) return `${path}/${key}`;
        const found = visit(item, `${path}/${key}`, depth + 1);
        if (found) return found;
      }
    }
    return undefined;
  };
  return visit(value, '', 0);
}

/**
 * Whether an identifier a client chose (an Idempotency-Key) holds a card number: as free text, but a
 * number alone counts only when it passes the checksum (found by a review: every key of 13 to 19
 * digits, a millisecond timestamp or a snowflake id, was refused).
 */
export function keyHoldsCardNumber(key: string): boolean {
  return holdsCardNumber(key, 'checksum');
}

/**
 * Whether an identifier another party issued (a carrier's tracking number) holds a card number. A
 * number written whole never counts: carriers issue long numbers of digits only, and one in ten
 * passes the card checksum (found by a helper: a 15-digit tracking number was taken as a card, and
 * every carrier update about its parcel was refused). Written as cards are (`4242-4242-4242-4242`)
 * or inside other characters, it counts as in free text.
 */
export function issuedIdHoldsCardNumber(id: string): boolean {
  return !DIGITS_ONLY.test(id) && holdsCardNumber(id);
}

const DIGITS_ONLY = /^\d+$/;

/**
 * Refuses free text that would carry card data into storage (a refund's reason, a cancellation's):
 * such text is kept for good, in append-only tables and events, so it is refused before anything is
 * written, as payment requests are.
 */
export function refuseCardData(value: unknown): void {
  const field = findCardData(value);
  if (field) throw new AppError('VALIDATION_FAILED', `card numbers and security codes are never accepted (${field}): leave them out of the text`);
}
