/** The clock is injected wherever time decides an outcome (expiry, price windows, retries). */
export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

const FIRST_INSTANT_MS = Date.parse('0001-01-01T00:00:00.000Z');
const LAST_INSTANT_MS = Date.parse('9999-12-31T23:59:59.999Z');

/**
 * Whether an instant (ms since the epoch) is of the years 0001 to 9999 in UTC: what toISOString
 * writes with four digits and the event contracts' instants take. PostgreSQL has no year 0, and
 * node-postgres reads a timestamp past 9999 back as an Invalid Date.
 */
export function isStorableInstant(ms: number): boolean {
  return ms >= FIRST_INSTANT_MS && ms <= LAST_INSTANT_MS;
}

const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})$/;

/**
 * Whether an RFC 3339 date-time names a real moment of the calendar: Date.parse rolls a 30 February
 * over into March and reads 24:00 as the next day's midnight, so "2026-02-30T00:00:00Z" would be
 * taken, and stored, as 2 March. (What ajv's date-time format checks on the HTTP routes, for texts
 * read by hand, such as webhooks.) A leap second (:60) is refused too: a Date cannot hold it. An
 * offset past ±15:59 is refused as well: no zone has one, and PostgreSQL cannot read such a text (a
 * carrier's scan kept as received failed every later shipment of its parcel, found by a helper).
 */
export function isCalendarDateTime(text: string): boolean {
  const m = DATE_TIME.exec(text);
  if (!m) return false;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const daysInMonth = new Date(Date.UTC(2000, month, 0)).getUTCDate() - (month === 2 && !isLeapYear(year) ? 1 : 0);
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth || hour > 23 || minute > 59 || second > 59) return false;
  return hasStorableOffset(text);
}

/** A date-time's offset from UTC, right after its time, in any form the formats take (+hh:mm, +hhmm, +hh). */
const OFFSET = /\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?[+-](\d{2})(?::?(\d{2}))?$/;

/**
 * Whether a date-time's offset is one PostgreSQL reads: up to ±15:59 (no zone has more). A text
 * ending in Z, or with no offset, has none to check.
 */
export function hasStorableOffset(text: string): boolean {
  const m = OFFSET.exec(text);
  if (!m) return true;
  return Number(m[1]) <= 15 && Number(m[2] ?? 0) <= 59;
}

const isLeapYear = (year: number) => (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;

/** A clock that only moves when told to: tests use it instead of sleeping. */
export class ManualClock implements Clock {
  #ms: number;
  constructor(start: Date | string = '2026-01-01T00:00:00.000Z') {
    this.#ms = new Date(start).getTime();
  }
  now(): Date {
    return new Date(this.#ms);
  }
  advance(ms: number): void {
    this.#ms += ms;
  }
  set(at: Date | string): void {
    this.#ms = new Date(at).getTime();
  }
}
