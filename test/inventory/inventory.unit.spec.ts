import { describe, expect, it } from 'vitest';
import { allocate } from '../../src/domains/inventory/allocation.ts';
import { decide, type ReservationStatus } from '../../src/domains/inventory/lifecycle.ts';
import { reserveRequestHash } from '../../src/domains/inventory/request-hash.ts';
import { ReservationQueue, takeBatch } from '../../src/domains/inventory/reservation-queue.ts';
import type { ReserveResult } from '../../src/domains/inventory/reservation-view.ts';
import { toReserveRequest } from '../../src/domains/inventory/reserve-input.ts';
import { SoldOutMemo } from '../../src/domains/inventory/sold-out-memo.ts';

const expiresAt = new Date('2026-01-01T00:15:00.000Z');
const before = new Date('2026-01-01T00:14:59.999Z');
const at = new Date('2026-01-01T00:15:00.000Z');
const state = (status: ReservationStatus) => ({ status, expiresAt });

describe('reservation lifecycle', () => {
  it('confirms an active reservation before it expires, selling its stock', () => {
    expect(decide(state('active'), { type: 'confirm' }, before)).toEqual({ outcome: 'transition', to: 'confirmed', stock: 'sell' });
  });

  it('refuses to confirm an active reservation once its expires_at has come, even before the sweeper ran', () => {
    expect(decide(state('active'), { type: 'confirm' }, at)).toMatchObject({ outcome: 'rejected', code: 'RESERVATION_NOT_ACTIVE' });
  });

  it('refuses to confirm a released or expired reservation', () => {
    for (const s of ['released', 'expired'] as const) {
      expect(decide(state(s), { type: 'confirm' }, before)).toMatchObject({ outcome: 'rejected', code: 'RESERVATION_NOT_ACTIVE' });
    }
  });

  it('treats confirming a confirmed reservation again as done (a retry changes nothing)', () => {
    expect(decide(state('confirmed'), { type: 'confirm' }, at)).toEqual({ outcome: 'unchanged' });
  });

  it('releases an active reservation, even after expiry, giving its stock back', () => {
    expect(decide(state('active'), { type: 'release', reason: 'payment_declined' }, at)).toEqual({ outcome: 'transition', to: 'released', stock: 'return' });
  });

  it('changes nothing when releasing a released or expired reservation', () => {
    for (const s of ['released', 'expired'] as const) expect(decide(state(s), { type: 'release', reason: 'x' }, before)).toEqual({ outcome: 'unchanged' });
  });

  it('refuses to release a confirmed reservation, whose stock was sold', () => {
    expect(decide(state('confirmed'), { type: 'release', reason: 'x' }, before)).toMatchObject({ outcome: 'rejected' });
  });

  it('expires an active reservation exactly from its expires_at on, and nothing else', () => {
    expect(decide(state('active'), { type: 'expire' }, before)).toEqual({ outcome: 'unchanged' });
    expect(decide(state('active'), { type: 'expire' }, at)).toEqual({ outcome: 'transition', to: 'expired', stock: 'return' });
    for (const s of ['confirmed', 'released', 'expired'] as const) expect(decide(state(s), { type: 'expire' }, at)).toEqual({ outcome: 'unchanged' });
  });
});

describe('allocating a batch', () => {
  it('serves requests in arrival order while stock lasts', () => {
    const r = allocate(3, [1, 1, 1, 1, 1]);
    expect(r.decisions.map((d) => d.granted)).toEqual([true, true, true, false, false]);
    expect(r).toMatchObject({ grantedTotal: 3, availableAfter: 0 });
  });

  it('lets later smaller requests through when a large one does not fit', () => {
    const r = allocate(2, [3, 1, 1, 1]);
    expect(r.decisions).toEqual([
      { granted: false, availableBefore: 2 },
      { granted: true, availableBefore: 2 },
      { granted: true, availableBefore: 1 },
      { granted: false, availableBefore: 0 },
    ]);
  });

  it('refuses a non-positive quantity as a programmer error', () => {
    expect(() => allocate(2, [0])).toThrow(RangeError);
  });

  it('holds each buyer to the limit, counting what they hold and what the batch grants them', () => {
    const limit = { maxPerBuyer: 2, owners: ['a', 'a', 'b', 'a', 'c', 'b'], held: new Map([['b', 1]]) };
    const r = allocate(10, [1, 1, 1, 1, 2, 1], limit);
    expect(r.decisions).toEqual([
      { granted: true, availableBefore: 10 },
      { granted: true, availableBefore: 9 },
      { granted: true, availableBefore: 8 },
      { granted: false, availableBefore: 7, overLimit: { held: 2 } },
      { granted: true, availableBefore: 7 },
      { granted: false, availableBefore: 5, overLimit: { held: 2 } },
    ]);
    expect(r).toMatchObject({ grantedTotal: 5, availableAfter: 5 });
  });

  it('does not count against the limit a request that found no stock', () => {
    const r = allocate(1, [1, 1, 1], { maxPerBuyer: 1, owners: ['a', 'b', 'b'], held: new Map() });
    expect(r.decisions).toEqual([
      { granted: true, availableBefore: 1 },
      { granted: false, availableBefore: 0 },
      { granted: false, availableBefore: 0 },
    ]);
  });

  it('refuses a request over the limit even when stock is short (the limit answers first)', () => {
    const r = allocate(0, [3], { maxPerBuyer: 2, owners: ['a'], held: new Map() });
    expect(r.decisions).toEqual([{ granted: false, availableBefore: 0, overLimit: { held: 0 } }]);
  });
});

describe('taking a batch from a queue', () => {
  const w = (key: string, n: number) => ({ request: { idempotencyKey: key }, n });

  it('takes at most the batch size, in order, and leaves the rest queued', () => {
    const queue = [w('a', 1), w('b', 2), w('c', 3)];
    expect(takeBatch(queue, 2).map((x) => x.n)).toEqual([1, 2]);
    expect(queue.map((x) => x.n)).toEqual([3]);
  });

  it('keeps a repeated key for the next batch, ahead of what was not looked at', () => {
    const queue = [w('a', 1), w('a', 2), w('b', 3), w('c', 4)];
    expect(takeBatch(queue, 2).map((x) => x.n)).toEqual([1, 3]);
    expect(queue.map((x) => x.n)).toEqual([2, 4]);
  });
});

describe('the reservation queue', () => {
  const request = (key: string) => ({
    idempotencyKey: key,
    ownerId: '0190f5c2-0000-7000-8000-000000000001',
    referenceId: null,
    items: [{ variantId: '0190f5c2-0000-7000-8000-0000000000a1', quantity: 1 }],
    ttlSeconds: 60,
    trace: null,
    requestHash: key,
  });
  const echo = () => {
    const batches: number[] = [];
    const queue = new ReservationQueue(
      async (_variantId, batch) => {
        batches.push(batch.length);
        return batch.map((b) => ({ ok: true as const, value: { id: b.request.idempotencyKey } as ReserveResult }));
      },
      { batchSizeMax: 50, waitingMax: 100 },
    );
    return { queue, batches };
  };

  it('runs a lone request at once and batches what arrives while it runs', async () => {
    const { queue, batches } = echo();
    const answers = await Promise.all(['a', 'b', 'c', 'd'].map((k) => queue.submit(request(k))));
    expect(answers.map((a) => a.id)).toEqual(['a', 'b', 'c', 'd']);
    expect(batches).toEqual([1, 3]);
  });

  describe('while a variant is busy', () => {
    /** A queue whose batches end when the test says, recording their sizes; a variant stays busy for a minute. */
    const controlled = (gatherMs: number, options: { batchSizeMax?: number; soldOut?: () => boolean } = {}) => {
      const batches: number[] = [];
      const ends: (() => void)[] = [];
      const queue = new ReservationQueue(
        (_variantId, batch) =>
          new Promise((resolve) => {
            batches.push(batch.length);
            ends.push(() => resolve(batch.map((b) => ({ ok: true as const, value: { id: b.request.idempotencyKey } as ReserveResult }))));
          }),
        { batchSizeMax: options.batchSizeMax ?? 50, waitingMax: 100, gatherMs, busyWindowMs: 60_000 },
        options.soldOut ? { isSoldOut: options.soldOut, answer: async (_variantId, batch) => batch.map(() => ({ ok: false as const, error: new Error('sold out') })), lookupsMax: 1 } : undefined,
      );
      const endBatch = async () => {
        ends.shift()?.();
        // Let the answers and the queue's next step run.
        await new Promise((resolve) => setImmediate(resolve));
      };
      return { queue, batches, endBatch };
    };
    const turn = () => new Promise((resolve) => setImmediate(resolve));
    /** Waits (up to 5 s) until `done` holds. */
    const until = async (done: () => boolean) => {
      for (let i = 0; i < 1000 && !done(); i++) await new Promise((resolve) => setTimeout(resolve, 5));
    };

    it('waits for the buyers a batch answered, so that they go as one batch and not as a lone one and the rest', async () => {
      const { queue, batches, endBatch } = controlled(10_000);
      const first = [queue.submit(request('a'))];
      first.push(queue.submit(request('b')), queue.submit(request('c')));
      await endBatch(); // a alone; b and c waited for it
      await endBatch(); // b and c: two buyers at once, so the variant is busy
      await Promise.all(first);
      expect(batches).toEqual([1, 2]);
      // Both come back (with one who waited meanwhile): no batch starts before the third arrives.
      const again = [queue.submit(request('b2'))];
      await turn();
      again.push(queue.submit(request('c2')));
      await turn();
      expect(batches).toEqual([1, 2]);
      again.push(queue.submit(request('d')));
      await turn();
      expect(batches).toEqual([1, 2, 3]);
      await endBatch();
      expect((await Promise.all(again)).map((r) => r.id)).toEqual(['b2', 'c2', 'd']);
    });

    it('does not wait when a full batch waits already', async () => {
      const { queue, batches, endBatch } = controlled(10_000, { batchSizeMax: 2 });
      const all = [queue.submit(request('a')), queue.submit(request('b')), queue.submit(request('c'))];
      await endBatch();
      expect(batches).toEqual([1, 2]);
      all.push(queue.submit(request('d')), queue.submit(request('e')));
      await endBatch();
      expect(batches).toEqual([1, 2, 2]);
      await endBatch();
      expect(await Promise.all(all)).toHaveLength(5);
    });

    it('does not wait once the variant is sold out (nobody more would join the batch)', async () => {
      let soldOut = false;
      const { queue, batches, endBatch } = controlled(10_000, { soldOut: () => soldOut });
      const all = [queue.submit(request('a')), queue.submit(request('b')), queue.submit(request('c'))];
      await endBatch();
      all.push(queue.submit(request('d')));
      // The batch of b and c sells out; d, queued meanwhile, runs at once.
      soldOut = true;
      await endBatch();
      expect(batches).toEqual([1, 2, 1]);
      await endBatch();
      expect(await Promise.all(all)).toHaveLength(4);
    });

    it('starts a batch after gatherMs with whoever came, and never waits for a variant that had one buyer at a time', async () => {
      const { queue, batches, endBatch } = controlled(20);
      const lone = queue.submit(request('a'));
      await turn();
      expect(batches).toEqual([1]);
      await endBatch();
      await lone;
      // The last batch had one request: the next starts at once.
      const next = queue.submit(request('b'));
      expect(batches).toEqual([1, 1]);
      const waiting = [queue.submit(request('c')), queue.submit(request('d'))];
      await endBatch();
      await next;
      expect(batches).toEqual([1, 1, 2]);
      await endBatch();
      await Promise.all(waiting);
      // Two were answered together: one coming back waits about 20 ms for the other, then goes alone.
      const started = performance.now();
      const late = queue.submit(request('e'));
      await turn();
      expect(batches).toEqual([1, 1, 2]);
      await until(() => batches.length === 4);
      // A timer may fire a little early by this clock (the loop's time is read at its turn's start).
      expect(performance.now() - started).toBeGreaterThanOrEqual(15);
      expect(batches).toEqual([1, 1, 2, 1]);
      await endBatch();
      await late;
    });
  });

  it('serves a request submitted at the very moment the last one is answered', async () => {
    const { queue } = echo();
    let answered: string | undefined;
    void queue.submit(request('first')).then(() =>
      queue.submit(request('second')).then((r) => {
        answered = r.id;
      }),
    );
    await queue.idle();
    expect(answered).toBe('second');
  });

  it('tells a buyer to come back when too many wait for one variant', async () => {
    const queue = new ReservationQueue(() => new Promise(() => undefined), { batchSizeMax: 1, waitingMax: 2 });
    void queue.submit(request('running'));
    void queue.submit(request('w1'));
    void queue.submit(request('w2'));
    expect(() => queue.submit(request('w3'))).toThrow(expect.objectContaining({ code: 'RATE_LIMITED' }));
  });

  describe('once the variant is sold out', () => {
    /** A queue whose batches never end unless released, and a sold-out lane that records its lookups. */
    const withLane = (lookupsMax: number) => {
      let soldOut = false;
      const lookups: string[][] = [];
      const pending: (() => void)[] = [];
      const queue = new ReservationQueue(
        () => new Promise(() => undefined),
        { batchSizeMax: 50, waitingMax: 100 },
        {
          isSoldOut: () => soldOut,
          answer: (_variantId, batch) => {
            lookups.push(batch.map((b) => b.request.idempotencyKey));
            return new Promise((resolve) => {
              pending.push(() => resolve(batch.map(() => ({ ok: false as const, error: new Error('sold out') }))));
            });
          },
          lookupsMax,
        },
      );
      return { queue, lookups, pending, sellOut: () => (soldOut = true) };
    };
    const turn = () => new Promise((resolve) => setImmediate(resolve));

    it('answers without waiting for the batch in flight, one lookup for what arrives in one turn', async () => {
      const { queue, lookups, pending, sellOut } = withLane(3);
      void queue.submit(request('granted-never-ends'));
      sellOut();
      const answers = ['a', 'b', 'c'].map((k) => queue.submit(request(k)).catch((e: Error) => e.message));
      await turn();
      expect(lookups).toEqual([['a', 'b', 'c']]);
      for (const release of pending.splice(0)) release();
      expect(await Promise.all(answers)).toEqual(['sold out', 'sold out', 'sold out']);
    });

    it('runs at most lookupsMax lookups at once; later arrivals wait for one to end', async () => {
      const { queue, lookups, pending, sellOut } = withLane(2);
      sellOut();
      const answers: Promise<unknown>[] = [];
      for (const k of ['a', 'b', 'c', 'd']) {
        answers.push(queue.submit(request(k)).catch(() => k));
        await turn();
      }
      expect(lookups).toEqual([['a'], ['b']]);
      pending.shift()?.();
      await turn();
      await turn();
      expect(lookups).toEqual([['a'], ['b'], ['c', 'd']]);
      const idle = queue.idle();
      for (const release of pending.splice(0)) release();
      await idle;
      expect(await Promise.all(answers)).toEqual(['a', 'b', 'c', 'd']);
    });
  });
});

describe('the sold-out memo', () => {
  it('remembers a sold-out variant until its time is up or stock comes back', () => {
    let now = 0;
    const memo = new SoldOutMemo(1000, 10, () => now);
    memo.markSoldOut('v', memo.stamp());
    expect(memo.isSoldOut('v')).toBe(true);
    now = 1000;
    expect(memo.isSoldOut('v')).toBe(false);
    memo.markSoldOut('v', memo.stamp());
    memo.forget(['v']);
    expect(memo.isSoldOut('v')).toBe(false);
  });

  it('is not marked by a reader whose stamp is older than a return of the same variant', () => {
    const memo = new SoldOutMemo(1000, 10, () => 0);
    const before = memo.stamp();
    memo.forget(['other']);
    memo.markSoldOut('v', before);
    expect(memo.isSoldOut('v')).toBe(true);
    const read = memo.stamp();
    memo.forget(['v']);
    memo.markSoldOut('v', read);
    expect(memo.isSoldOut('v')).toBe(false);
    memo.markSoldOut('v', memo.stamp());
    expect(memo.isSoldOut('v')).toBe(true);
  });

  it('stays bounded by dropping the oldest mark and the oldest return, and then refuses marks it cannot tell are safe', () => {
    const memo = new SoldOutMemo(1000, 2, () => 0);
    memo.markSoldOut('a', memo.stamp());
    memo.markSoldOut('b', memo.stamp());
    memo.markSoldOut('c', memo.stamp());
    expect(memo.size).toBe(2);
    expect(memo.isSoldOut('a')).toBe(false);
    const read = memo.stamp();
    memo.forget(['x', 'y', 'z']);
    // x's return was dropped to keep the bound: a mark read before it cannot be told safe.
    memo.markSoldOut('x', read);
    memo.markSoldOut('never-returned', read);
    expect([memo.isSoldOut('x'), memo.isSoldOut('never-returned')]).toEqual([false, false]);
    memo.markSoldOut('x', memo.stamp());
    expect(memo.isSoldOut('x')).toBe(true);
  });
  it('refuses a mark read before any of the returns it dropped together, not only the first of them', () => {
    const memo = new SoldOutMemo(1000, 32, () => 0);
    memo.forget(['v0']);
    // Read after v0's return, before v1's.
    const read = memo.stamp();
    memo.forget(Array.from({ length: 31 }, (_, i) => `v${i + 1}`));
    // Full: the next return drops the two oldest (v0, v1) in one pass.
    memo.forget(['v32']);
    memo.markSoldOut('v1', read);
    expect(memo.isSoldOut('v1')).toBe(false);
    memo.markSoldOut('v1', memo.stamp());
    expect(memo.isSoldOut('v1')).toBe(true);
  });
});

describe('reserve requests', () => {
  const owner = '0190f5c2-0000-7000-8000-000000000001';
  const v1 = '0190f5c2-0000-7000-8000-0000000000a1';
  const v2 = '0190f5c2-0000-7000-8000-0000000000a2';

  it('fingerprint the owner, the reference and the items whatever their order', () => {
    const a = reserveRequestHash({ ownerId: owner, referenceId: null, items: [{ variantId: v1, quantity: 1 }, { variantId: v2, quantity: 2 }] });
    const b = reserveRequestHash({ ownerId: owner, referenceId: null, items: [{ variantId: v2, quantity: 2 }, { variantId: v1, quantity: 1 }] });
    const c = reserveRequestHash({ ownerId: owner, referenceId: null, items: [{ variantId: v2, quantity: 1 }, { variantId: v1, quantity: 1 }] });
    expect(a).toBe(b);
    expect(a).not.toBe(c);
  });

  it('refuse a variant listed twice, a zero quantity and a TTL out of range', () => {
    const base = { idempotencyKey: 'k', ownerId: owner, items: [{ variantId: v1, quantity: 1 }] };
    expect(() => toReserveRequest({ ...base, items: [{ variantId: v1, quantity: 1 }, { variantId: v1, quantity: 1 }] }, 900)).toThrow(/twice/);
    // In capitals it is the same variant: refused too, never one line dropped.
    expect(() => toReserveRequest({ ...base, items: [{ variantId: v1, quantity: 3 }, { variantId: v1.toUpperCase(), quantity: 4 }] }, 900)).toThrow(/twice/);
    expect(() => toReserveRequest({ ...base, items: [{ variantId: v1, quantity: 0 }] }, 900)).toThrow(/quantity/);
    expect(() => toReserveRequest({ ...base, ttlSeconds: 1 }, 900)).toThrow(/ttlSeconds/);
    expect(toReserveRequest(base, 900).ttlSeconds).toBe(900);
  });
});
