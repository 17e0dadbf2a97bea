import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newId } from '../../src/platform/ids.ts';
import { type InventoryHarness, eventCount, expectConsistent, ledger, startInventory, stockedVariant } from './support.ts';

let h: InventoryHarness;
beforeAll(async () => {
  h = await startInventory();
});
afterAll(async () => {
  await h?.close();
});

const reserveOne = (variantId: string, quantity = 1, ttlSeconds = 60) =>
  h.api.reserve({ idempotencyKey: newId(), ownerId: newId(), items: [{ variantId, quantity }], ttlSeconds });

describe('reservation expiry', () => {
  it('keeps a reservation until its expires_at and gives the stock back once the clock passes it', async () => {
    const v = await stockedVariant(h.api, 5);
    const r = await reserveOne(v.variantId, 2, 60);
    expect(r.expiresAt).toBe(new Date(h.clock.now().getTime() + 60_000).toISOString());

    h.clock.advance(59_999);
    await h.api.expireDue();
    expect((await h.api.getReservation(r.id))?.status).toBe('active');

    h.clock.advance(1);
    await h.api.expireDue();
    const after = await h.api.getReservation(r.id);
    expect(after).toMatchObject({ status: 'expired', releaseReason: 'expired' });
    expect((await ledger(h.pool)).find((i) => i.variantId === v.variantId)).toMatchObject({ total: 5, available: 5, reserved: 0 });
    await expectConsistent(h.pool);
  });

  it('refuses to confirm an expired reservation with RESERVATION_NOT_ACTIVE, before and after the sweep', async () => {
    const v = await stockedVariant(h.api, 1);
    const r = await reserveOne(v.variantId, 1, 30);
    h.clock.advance(30_000);
    await expect(h.api.confirm(r.id)).rejects.toMatchObject({ code: 'RESERVATION_NOT_ACTIVE', status: 409 });
    await h.api.expireDue();
    await expect(h.api.confirm(r.id)).rejects.toMatchObject({ code: 'RESERVATION_NOT_ACTIVE', detail: expect.stringMatching(/expired/) });
  });

  it('judges a confirm when it takes effect: one that waited for the reservation past its expires_at fails (found by a review: the time was read before the lock)', async () => {
    const v = await stockedVariant(h.api, 1);
    const r = await reserveOne(v.variantId, 1, 30);
    const blocker = await h.pool.connect();
    try {
      await blocker.query('BEGIN');
      await blocker.query('SELECT 1 FROM reservations WHERE id = $1 FOR UPDATE', [r.id]);
      const confirming = h.api.confirm(r.id).then(
        () => 'confirmed',
        (e: { code?: string }) => e.code,
      );
      // The confirm is waiting for the row now; the hold expires meanwhile.
      await new Promise((resolve) => setTimeout(resolve, 200));
      h.clock.advance(30_000);
      await blocker.query('COMMIT');
      expect(await confirming).toBe('RESERVATION_NOT_ACTIVE');
    } finally {
      blocker.release();
    }
    expect((await h.api.getReservation(r.id))?.status).toBe('active');
    await h.api.expireDue();
    expect((await ledger(h.pool)).find((i) => i.variantId === v.variantId)).toMatchObject({ total: 1, available: 1, reserved: 0 });
  });

  it('releases every due reservation exactly once when two sweepers run at the same time', async () => {
    const v = await stockedVariant(h.api, 300);
    const expiredBefore = await eventCount(h.pool, 'inventory.reservation_expired.v1');
    const made = await Promise.all(Array.from({ length: 240 }, () => reserveOne(v.variantId, 1, 10)));
    h.clock.advance(10_000);

    const second = h.other();
    // Small batches so the two sweepers interleave over many rounds.
    const sweepAll = async (sweep: () => Promise<number>) => {
      let total = 0;
      for (;;) {
        const n = await sweep();
        total += n;
        if (n === 0) return total;
      }
    };
    const [a, b] = await Promise.all([sweepAll(() => h.api.expireDue(7)), sweepAll(() => second.expireDue(7))]);
    expect(a + b).toBe(240);

    expect((await eventCount(h.pool, 'inventory.reservation_expired.v1')) - expiredBefore).toBe(240);
    const { rows } = await h.pool.query<{ id: string; n: number }>(
      `SELECT payload->>'reservationId' AS id, count(*)::int AS n FROM inventory_outbox_events
        WHERE event_type = 'inventory.reservation_expired.v1' AND payload->>'reservationId' = ANY($1::text[])
        GROUP BY 1 HAVING count(*) <> 1`,
      [made.map((r) => r.id)],
    );
    expect(rows).toEqual([]);
    expect((await ledger(h.pool)).find((i) => i.variantId === v.variantId)).toMatchObject({ total: 300, available: 300, reserved: 0 });
    await expectConsistent(h.pool);
  });

  it('never expires a reservation that was confirmed or released first', async () => {
    const v = await stockedVariant(h.api, 3);
    const confirmed = await reserveOne(v.variantId, 1, 10);
    const released = await reserveOne(v.variantId, 1, 10);
    await h.api.confirm(confirmed.id);
    await h.api.release(released.id, 'checkout_abandoned');
    h.clock.advance(10_000);
    await h.api.expireDue();
    expect((await h.api.getReservation(confirmed.id))?.status).toBe('confirmed');
    expect((await h.api.getReservation(released.id))?.status).toBe('released');
    expect((await ledger(h.pool)).find((i) => i.variantId === v.variantId)).toMatchObject({ total: 2, available: 2, reserved: 0, sold: 1 });
    await expectConsistent(h.pool);
  });

  it('announces each expiry with the variant and its new available and total', async () => {
    const v = await stockedVariant(h.api, 4);
    const r = await reserveOne(v.variantId, 3, 10);
    h.clock.advance(10_000);
    await h.api.expireDue();
    const { rows } = await h.pool.query<{ payload: { items: { variantId: string; available: number; total: number; reserved: number; quantity: number }[] } }>(
      `SELECT payload FROM inventory_outbox_events WHERE event_type = 'inventory.reservation_expired.v1' AND payload->>'reservationId' = $1`,
      [r.id],
    );
    expect(rows).toHaveLength(1);
    expect(rows[0]?.payload.items).toEqual([expect.objectContaining({ variantId: v.variantId, quantity: 3, available: 4, reserved: 0, total: 4 })]);
  });
});
