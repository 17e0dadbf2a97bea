import { isStorableInstant } from '../clock.ts';
import { AppError } from './errors.ts';

/** Opaque cursors: base64url JSON of the sort key of the last item returned. */
export function encodeCursor(value: Record<string, string | number>): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

export function decodeCursor<T extends Record<string, string | number>>(cursor: string | undefined, keys: (keyof T & string)[]): T | undefined {
  if (cursor === undefined || cursor === '') return undefined;
  try {
    const parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as Record<string, unknown>;
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
