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
