import { randomInt } from 'node:crypto';

/**
 * Human-readable order numbers: `BZ-20261124-7K3Q9X` (the UTC day, then six characters from an
 * alphabet without look-alikes 0/O, 1/I/L, so one can be read over the phone). 31^6 ≈ 887 million
 * numbers a day; a collision is retried by the caller with a fresh number.
 */
export const ORDER_NUMBER_ALPHABET = '23456789ABCDEFGHJKMNPQRSTUVWXYZ';
const SUFFIX_LENGTH = 6;
export const ORDER_NUMBER_PATTERN = /^BZ-\d{8}-[2-9A-HJKMNP-Z]{6}$/;

/** Returns an integer in [0, n): injected so tests can force collisions. */
export type RandomInt = (n: number) => number;

export type OrderNumberGenerator = (now: Date) => string;

export function orderNumberGenerator(random: RandomInt = randomInt): OrderNumberGenerator {
  return (now) => {
    const day = now.toISOString().slice(0, 10).replaceAll('-', '');
    let suffix = '';
    for (let i = 0; i < SUFFIX_LENGTH; i++) suffix += ORDER_NUMBER_ALPHABET[random(ORDER_NUMBER_ALPHABET.length)];
    return `BZ-${day}-${suffix}`;
  };
}
