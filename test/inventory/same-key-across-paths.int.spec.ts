import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AppError } from '../../src/platform/http/errors.ts';
import { newId } from '../../src/platform/ids.ts';
import { type InventoryHarness, expectConsistent, startInventory, stockedVariant } from './support.ts';

let h: InventoryHarness;
beforeAll(async () => {
  h = await startInventory({}, 10);
});
afterAll(async () => {
  await h?.close();
});

const codeOf = (r: PromiseSettledResult<unknown>) => (r.status === 'rejected' ? ((r.reason as AppError).code ?? String(r.reason)) : 'OK');

describe('one key sent both as a multi-item and as a single-item reservation (found by a review)', () => {
  it('is answered IDEMPOTENCY_KEY_REUSED, never a database deadlock, and the other buyers of the variant are served', async () => {
    const seen: string[] = [];
    for (let round = 0; round < 3; round++) {
      const other = await stockedVariant(h.api, 100);
      const hot = await stockedVariant(h.api, 100);
      const buyer = newId();
      const keys = Array.from({ length: 20 }, () => newId());
      // The multi-item request claims its key in its own transaction; the single-item one goes
      // through the variant's batch, which locks the item, then writes the keys.
      const mixed = keys.flatMap((k) => [
        h.api.reserve({ idempotencyKey: k, ownerId: buyer, items: [{ variantId: hot.variantId, quantity: 1 }, { variantId: other.variantId, quantity: 1 }] }),
        h.api.reserve({ idempotencyKey: k, ownerId: buyer, items: [{ variantId: hot.variantId, quantity: 1 }] }),
      ]);
      const innocent = Array.from({ length: 40 }, () => h.api.reserve({ idempotencyKey: newId(), ownerId: newId(), items: [{ variantId: hot.variantId, quantity: 1 }] }));
      const [mixedOut, innocentOut] = await Promise.all([Promise.allSettled(mixed), Promise.allSettled(innocent)]);
      seen.push(...mixedOut.map(codeOf).filter((c) => c !== 'OK' && c !== 'IDEMPOTENCY_KEY_REUSED').map((c) => `same-key request: ${c}`));
      seen.push(...innocentOut.map(codeOf).filter((c) => c !== 'OK').map((c) => `other buyer: ${c}`));
      // Each key made one reservation, whichever request got there first.
      expect(mixedOut.filter((r) => r.status === 'fulfilled')).toHaveLength(20);
      await expectConsistent(h.pool, [hot.variantId, other.variantId]);
    }
    expect(seen, 'answers other than a reservation or IDEMPOTENCY_KEY_REUSED').toEqual([]);
  }, 120_000);
});
