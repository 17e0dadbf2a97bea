import { createHash } from 'node:crypto';

/**
 * Fingerprint of a reserve request, stored with its idempotency key: the same key with another
 * owner, reference or items is refused instead of returning someone else's reservation.
 */
export function reserveRequestHash(input: { ownerId: string; referenceId: string | null; items: readonly { variantId: string; quantity: number }[] }): string {
  const items = [...input.items].sort((a, b) => (a.variantId < b.variantId ? -1 : a.variantId > b.variantId ? 1 : 0)).map((i) => [i.variantId, i.quantity]);
  return createHash('sha256').update(JSON.stringify([input.ownerId, input.referenceId, items])).digest('base64url');
}
