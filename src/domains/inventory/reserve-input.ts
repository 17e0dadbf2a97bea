import { RESERVATION_ITEMS_MAX } from '../../contracts/inventory.ts';
import { isUuid } from '../../platform/ids.ts';
import { AppError } from '../../platform/http/errors.ts';
import type { Trace } from '../../platform/messaging/envelope.ts';
import { reserveRequestHash } from './request-hash.ts';

export const RESERVE_QUANTITY_MAX = 10_000;
export const IDEMPOTENCY_KEY_LENGTH_MAX = 255;
export const TTL_SECONDS_MIN = 5;
export const TTL_SECONDS_MAX = 86_400;

/** Keys of reservations made through the buyer route start so (their own namespace: see buyerKey). */
export const BUYER_KEY_PREFIX = 'buyer:';

/** Buyers' keys live in their own namespace: one buyer's key can never reach another's reservation. */
export const buyerKey = (buyerId: string, key: string) => `${BUYER_KEY_PREFIX}${buyerId}:${key}`;

/** What reserve() takes (checkout, the seed and the buyer route). */
export interface ReserveInput {
  idempotencyKey: string;
  ownerId: string;
  referenceId?: string | null;
  items: readonly { variantId: string; quantity: number }[];
  /** Lifetime of the hold; RESERVATION_TTL_SECONDS when not given. */
  ttlSeconds?: number;
  /**
   * The caller's trace (its HTTP request or handled event), carried by the reservation's events;
   * without one, they start a trace of their own.
   */
  trace?: Trace | null;
}

export interface ReserveRequest {
  idempotencyKey: string;
  ownerId: string;
  referenceId: string | null;
  items: { variantId: string; quantity: number }[];
  ttlSeconds: number;
  trace: Trace | null;
  readonly requestHash: string;
}

const invalid = (detail: string) => new AppError('VALIDATION_FAILED', detail);

/** Checks a reserve request at the API boundary: the same rules for HTTP and in-process callers. */
export function toReserveRequest(input: ReserveInput, defaultTtlSeconds: number): ReserveRequest {
  const key = input.idempotencyKey;
  if (typeof key !== 'string' || key.length < 1 || key.length > IDEMPOTENCY_KEY_LENGTH_MAX) {
    throw invalid(`idempotencyKey must hold 1 to ${IDEMPOTENCY_KEY_LENGTH_MAX} characters`);
  }
  if (!isUuid(input.ownerId)) throw invalid('ownerId must be a UUID');
  const referenceId = input.referenceId ?? null;
  if (referenceId !== null && !isUuid(referenceId)) throw invalid('referenceId must be a UUID');
  if (!Array.isArray(input.items) || input.items.length < 1 || input.items.length > RESERVATION_ITEMS_MAX) {
    throw invalid(`items must hold 1 to ${RESERVATION_ITEMS_MAX} lines`);
  }
  const seen = new Set<string>();
  const items = input.items.map(({ variantId, quantity }) => {
    if (!isUuid(variantId)) throw invalid('every variantId must be a UUID');
    // One variant in capitals and in lowercase is still one variant (the second line was dropped).
    const id = variantId.toLowerCase();
    if (seen.has(id)) throw invalid(`variant ${id} appears twice; put the whole quantity on one line`);
    seen.add(id);
    if (!Number.isInteger(quantity) || quantity < 1 || quantity > RESERVE_QUANTITY_MAX) {
      throw invalid(`quantity must be an integer from 1 to ${RESERVE_QUANTITY_MAX}`);
    }
    return { variantId: id, quantity };
  });
  const ttlSeconds = input.ttlSeconds ?? defaultTtlSeconds;
  if (!Number.isInteger(ttlSeconds) || ttlSeconds < TTL_SECONDS_MIN || ttlSeconds > TTL_SECONDS_MAX) {
    throw invalid(`ttlSeconds must be an integer from ${TTL_SECONDS_MIN} to ${TTL_SECONDS_MAX}`);
  }
  const ownerId = input.ownerId.toLowerCase();
  const ref = referenceId?.toLowerCase() ?? null;
  let requestHash: string | undefined;
  return {
    idempotencyKey: key,
    ownerId,
    referenceId: ref,
    items,
    ttlSeconds,
    trace: input.trace ?? null,
    // Computed when first read: only a write or a replay needs it, and most answers of a flash sale
    // are "sold out" from memory, which needs neither.
    get requestHash() {
      requestHash ??= reserveRequestHash({ ownerId, referenceId: ref, items });
      return requestHash;
    },
  };
}
