import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newId } from '../../src/platform/ids.ts';
import { type InventoryHarness, expectConsistent, ledger, newVariant, startInventory } from './support.ts';

let h: InventoryHarness;
beforeAll(async () => {
  h = await startInventory();
});
afterAll(async () => {
  await h?.close();
});

const ITEMS = 2;
type Command =
  | { kind: 'adjust'; item: number; amount: number }
  | { kind: 'reserve'; items: number[]; quantity: number; ttl: number }
  | { kind: 'retry'; pick: number; sameBody: boolean }
  | { kind: 'confirm'; pick: number }
  | { kind: 'release'; pick: number }
  | { kind: 'expire'; seconds: number };

const item = fc.nat(ITEMS - 1);
const command: fc.Arbitrary<Command> = fc.oneof(
  fc.record({ kind: fc.constant('adjust' as const), item, amount: fc.integer({ min: -4, max: 6 }).filter((n) => n !== 0) }),
  fc.record({
    kind: fc.constant('reserve' as const),
    items: fc.uniqueArray(item, { minLength: 1, maxLength: ITEMS }),
    quantity: fc.integer({ min: 1, max: 3 }),
    ttl: fc.integer({ min: 5, max: 120 }),
  }),
  fc.record({ kind: fc.constant('retry' as const), pick: fc.nat(), sameBody: fc.boolean() }),
  fc.record({ kind: fc.constant('confirm' as const), pick: fc.nat() }),
  fc.record({ kind: fc.constant('release' as const), pick: fc.nat() }),
  fc.record({ kind: fc.constant('expire' as const), seconds: fc.integer({ min: 1, max: 90 }) }),
);

interface ModelReservation {
  id: string;
  key: string;
  items: { variantId: string; quantity: number }[];
  status: 'active' | 'confirmed' | 'released' | 'expired';
  expiresAtMs: number;
}

const codeOf = async (p: Promise<unknown>): Promise<string> =>
  p.then(
    () => 'OK',
    (e: { code?: string }) => e.code ?? String(e),
  );

describe('stock under any sequence of adjust, reserve, confirm, release, expire and retry', () => {
  it('keeps total = available + active reservations = the sum of the movements after every step, never negative, as a model predicts', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.integer({ min: 0, max: 5 }), { minLength: ITEMS, maxLength: ITEMS }), fc.array(command, { minLength: 5, maxLength: 30, size: 'max' }), async (initial, commands) => {
        const sellerId = newId();
        const ownerId = newId();
        const variants = initial.map(() => newVariant(sellerId));
        await h.api.receiveStock(variants.map((v, i) => ({ ...v, quantity: initial[i] ?? 0 })));
        const model = new Map(variants.map((v, i) => [v.variantId, { total: initial[i] ?? 0, available: initial[i] ?? 0 }]));
        const at = (variantId: string) => model.get(variantId) as { total: number; available: number };
        const reservations: ModelReservation[] = [];
        const pick = (n: number) => reservations[n % reservations.length] as ModelReservation;

        for (const c of commands) {
          const now = h.clock.now().getTime();
          switch (c.kind) {
            case 'adjust': {
              const v = variants[c.item] as (typeof variants)[number];
              const s = at(v.variantId);
              const fits = s.available + c.amount >= 0;
              expect(await codeOf(h.api.adjustStock(sellerId, v.variantId, { amount: c.amount, reason: 'correction' }))).toBe(fits ? 'OK' : 'OUT_OF_STOCK');
              if (fits) {
                s.total += c.amount;
                s.available += c.amount;
              }
              break;
            }
            case 'reserve': {
              const items = c.items.map((i) => ({ variantId: (variants[i] as (typeof variants)[number]).variantId, quantity: c.quantity }));
              const fits = items.every((i) => at(i.variantId).available >= i.quantity);
              const key = newId();
              const result = h.api.reserve({ idempotencyKey: key, ownerId, items, ttlSeconds: c.ttl });
              expect(await codeOf(result)).toBe(fits ? 'OK' : 'OUT_OF_STOCK');
              if (fits) {
                for (const i of items) at(i.variantId).available -= i.quantity;
                reservations.push({ id: (await result).id, key, items, status: 'active', expiresAtMs: now + c.ttl * 1000 });
              }
              break;
            }
            case 'retry': {
              if (reservations.length === 0) break;
              const r = pick(c.pick);
              const items = c.sameBody ? r.items : r.items.map((i) => ({ ...i, quantity: i.quantity + 1 }));
              const retried = h.api.reserve({ idempotencyKey: r.key, ownerId, items });
              if (c.sameBody) expect((await retried).id).toBe(r.id);
              else expect(await codeOf(retried)).toBe('IDEMPOTENCY_KEY_REUSED');
              break;
            }
            case 'confirm': {
              if (reservations.length === 0) break;
              const r = pick(c.pick);
              const ok = r.status === 'confirmed' || (r.status === 'active' && now < r.expiresAtMs);
              expect(await codeOf(h.api.confirm(r.id))).toBe(ok ? 'OK' : 'RESERVATION_NOT_ACTIVE');
              if (ok && r.status === 'active') for (const i of r.items) at(i.variantId).total -= i.quantity;
              if (ok) r.status = 'confirmed';
              break;
            }
            case 'release': {
              if (reservations.length === 0) break;
              const r = pick(c.pick);
              expect(await codeOf(h.api.release(r.id, 'property test'))).toBe(r.status === 'confirmed' ? 'RESERVATION_NOT_ACTIVE' : 'OK');
              if (r.status === 'active') {
                for (const i of r.items) at(i.variantId).available += i.quantity;
                r.status = 'released';
              }
              break;
            }
            case 'expire': {
              h.clock.advance(c.seconds * 1000);
              while ((await h.api.expireDue()) > 0);
              for (const r of reservations) {
                if (r.status !== 'active' || r.expiresAtMs > h.clock.now().getTime()) continue;
                for (const i of r.items) at(i.variantId).available += i.quantity;
                r.status = 'expired';
              }
              break;
            }
          }
          const ids = variants.map((v) => v.variantId);
          for (const l of await ledger(h.pool, ids)) expect({ total: l.total, available: l.available }, `${c.kind} on ${l.variantId}`).toEqual(at(l.variantId));
          await expectConsistent(h.pool, ids);
        }
      }),
      { numRuns: 40 },
    );
  });
});
