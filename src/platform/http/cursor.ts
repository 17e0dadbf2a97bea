import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { isStorableInstant } from '../clock.ts';
import { AppError } from './errors.ts';

/**
 * The key cursors are signed with. Every process of one marketplace must use the same one, so
 * `useCursorKey` derives it from the token signing key at start; until then (a unit test) a key of
 * this process's own.
 */
let cursorKey = randomBytes(32);

export function useCursorKey(secret: Uint8Array): void {
  cursorKey = createHmac('sha256', secret).update('bazaar pagination cursor v1').digest();
}

/** 128 bits of HMAC-SHA256 over the cursor's payload. */
function tagOf(payload: string): Buffer {
  return createHmac('sha256', cursorKey).update(payload).digest().subarray(0, 16);
}

/** The list a cursor belongs to, as the cursor carries it: 64 bits of SHA-256 of its scope. */
function listOf(scope: string): string {
  return createHash('sha256').update(scope).digest().subarray(0, 8).toString('base64url');
}

/** The member of a cursor's payload that names its list. */
const LIST_KEY = 'l';

/**
 * Opaque cursors: base64url JSON of the sort key of the last item returned, and a signature of it
 * and of the list it belongs to (`scope`: the list, whose it is and its filters), so a cursor the API
 * did not write (an edited position, a forged key) or wrote for another list (another user's, the
 * products list's given to notifications, channel=in_app's given with channel=email) is
 * INVALID_CURSOR rather than a page from wherever the client chose. A signing key change (rotation)
 * makes the cursors out there invalid: clients ask the first page again.
 */
export function encodeCursor(scope: string, value: Record<string, string | number>): string {
  return signCursor({ ...value, [LIST_KEY]: listOf(scope) });
}

/** A signed cursor of exactly this payload (the list included): encodeCursor's last step, and tests' way to forge a key's value. */
export function signCursor(payloadValue: Record<string, unknown>): string {
  const payload = Buffer.from(JSON.stringify(payloadValue)).toString('base64url');
  return `${payload}.${tagOf(payload).toString('base64url')}`;
}

export function decodeCursor<T extends Record<string, string | number>>(scope: string, cursor: string | undefined, keys: (keyof T & string)[]): T | undefined {
  if (cursor === undefined || cursor === '') return undefined;
  try {
    const dot = cursor.lastIndexOf('.');
    if (dot <= 0) throw new Error('unsigned');
    const payload = cursor.slice(0, dot);
    const tag = Buffer.from(cursor.slice(dot + 1), 'base64url');
    const expected = tagOf(payload);
    if (tag.length !== expected.length || !timingSafeEqual(tag, expected)) throw new Error('not signed by this API');
    const parsed = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>;
    if (parsed === null || typeof parsed !== 'object' || parsed[LIST_KEY] !== listOf(scope)) throw new Error('a cursor of another list');
    delete parsed[LIST_KEY];
    for (const key of keys) {
      const v = parsed[key];
      if (typeof v !== 'string' && typeof v !== 'number') throw new Error('missing key');
      // PostgreSQL text cannot hold NUL: such a value would fail the query (a 500), not the cursor.
      if (typeof v === 'string' && v.includes('\u0000')) throw new Error('NUL in a key');
    }
    return parsed as T;
  } catch {
    throw new AppError('INVALID_CURSOR');
  }
}

const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/**
 * Whether a cursor's time is one the API wrote (`Date.prototype.toISOString`, UTC, milliseconds).
 * `Date.parse` alone accepts strings PostgreSQL rejects ("1", "March 7", years past 9999, year 0000),
 * which would fail the query with a 500 instead of the cursor with a 400.
 */
export function isCursorInstant(value: unknown): value is string {
  if (typeof value !== 'string' || !ISO_INSTANT.test(value)) return false;
  const t = Date.parse(value);
  return isStorableInstant(t) && new Date(t).toISOString() === value;
}

const ISO_INSTANT_MICROSECONDS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;

/**
 * Whether a cursor's time is a UTC instant to the microsecond, as the API writes a key that
 * PostgreSQL set (`now()` keeps microseconds: a key cut to milliseconds would skip the rows between
 * the cut and the real time). Its milliseconds must pass isCursorInstant.
 */
export function isCursorInstantMicroseconds(value: unknown): value is string {
  return typeof value === 'string' && ISO_INSTANT_MICROSECONDS.test(value) && isCursorInstant(`${value.slice(0, 23)}Z`);
}
