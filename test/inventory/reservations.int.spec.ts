import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { catalogSubscription } from '../../src/domains/inventory/handlers.ts';
import { withTransaction } from '../../src/platform/db/pool.ts';
import { newId } from '../../src/platform/ids.ts';
import { type EventEnvelope, traceOf } from '../../src/platform/messaging/envelope.ts';
import type { NewEvent } from '../../src/platform/messaging/outbox.ts';
import { type InventoryHarness, eventCount, expectConsistent, ledger, newVariant, startInventory, stockedVariant } from './support.ts';

let h: InventoryHarness;
beforeAll(async () => {
  h = await startInventory();
});
afterAll(async () => {
  await h?.close();
});

/** One reservation of `quantities[0]` units of a and `quantities[1]` of b. */
function reserveBoth(a: { variantId: string }, b: { variantId: string }, quantities: [number, number]) {
  return h.api.reserve({
    idempotencyKey: newId(),
    ownerId: newId(),
    items: [
      { variantId: a.variantId, quantity: quantities[0] },
      { variantId: b.variantId, quantity: quantities[1] },
    ],
  });
}

describe('confirming and releasing', () => {
  it('sells the units of every line on confirm, records the orders per seller, and returns the same on a retry', async () => {
    const a = await stockedVariant(h.api, 5);
    const b = await stockedVariant(h.api, 5);
    const r = await reserveBoth(a, b, [2, 1]);
    const orderA = newId();
    const orderB = newId();
    const orders = [
      { sellerId: a.sellerId, orderId: orderA },
      { sellerId: b.sellerId, orderId: orderB },
    ];
    const confirmed = await h.api.confirm(r.id, { orders });
    expect(confirmed.status).toBe('confirmed');
    // Two orders: the reservation as a whole belongs to neither.
    expect(confirmed.orderId).toBeNull();
    expect(await h.api.confirm(r.id, { orders })).toEqual(confirmed);

    const items = await ledger(h.pool, [a.variantId, b.variantId]);
    expect(items.find((i) => i.variantId === a.variantId)).toMatchObject({ total: 3, available: 3, reserved: 0, sold: 2 });
    expect(items.find((i) => i.variantId === b.variantId)).toMatchObject({ total: 4, available: 4, reserved: 0, sold: 1 });
    const { rows } = await h.pool.query<{ variant_id: string; order_id: string }>(
      'SELECT s.variant_id, l.order_id FROM stock_reservations l JOIN stock_items s ON s.id = l.stock_item_id WHERE l.reservation_id = $1',
      [r.id],
    );
    expect(Object.fromEntries(rows.map((x) => [x.variant_id, x.order_id]))).toEqual({ [a.variantId]: orderA, [b.variantId]: orderB });
    const events = await h.pool.query('SELECT 1 FROM inventory_outbox_events WHERE event_type = $1 AND aggregate_id = $2', ['inventory.reservation_confirmed.v1', r.id]);
    expect(events.rowCount).toBe(1);
    await expectConsistent(h.pool, [a.variantId, b.variantId]);
  });

  it('keeps the order on the reservation when all its lines went to one order', async () => {
    const a = await stockedVariant(h.api, 2);
    const b = await stockedVariant(h.api, 2, a.sellerId);
    const r = await reserveBoth(a, b, [1, 1]);
    const orderId = newId();
    const confirmed = await h.api.confirm(r.id, { orders: [{ sellerId: a.sellerId, orderId }] });
    expect(confirmed).toMatchObject({ status: 'confirmed', orderId });
    const { rows } = await h.pool.query<{ payload: { orderId: string | null } }>(
      'SELECT payload FROM inventory_outbox_events WHERE event_type = $1 AND aggregate_id = $2',
      ['inventory.reservation_confirmed.v1', r.id],
    );
    expect(rows[0]?.payload.orderId).toBe(orderId);
  });

  it('refuses a confirmation naming one seller with two orders, and changes nothing (found by a review: a database error)', async () => {
    const v = await stockedVariant(h.api, 2);
    const r = await h.api.reserve({ idempotencyKey: newId(), ownerId: newId(), items: [{ variantId: v.variantId, quantity: 1 }] });
    await expect(
      h.api.confirm(r.id, { orders: [{ sellerId: v.sellerId, orderId: newId() }, { sellerId: v.sellerId.toUpperCase(), orderId: newId() }] }),
    ).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
    expect((await h.api.getReservation(r.id))?.status).toBe('active');
    await expectConsistent(h.pool, [v.variantId]);
  });

  it('refuses to release a confirmed reservation and to confirm a released one', async () => {
    const v = await stockedVariant(h.api, 2);
    const sold = await h.api.reserve({ idempotencyKey: newId(), ownerId: newId(), items: [{ variantId: v.variantId, quantity: 1 }] });
    await h.api.confirm(sold.id);
    await expect(h.api.release(sold.id, 'changed my mind')).rejects.toMatchObject({ code: 'RESERVATION_NOT_ACTIVE' });

    const given = await h.api.reserve({ idempotencyKey: newId(), ownerId: newId(), items: [{ variantId: v.variantId, quantity: 1 }] });
    const released = await h.api.release(given.id, 'payment_declined');
    expect(released).toMatchObject({ status: 'released', releaseReason: 'payment_declined' });
    expect(await h.api.release(given.id, 'payment_declined')).toEqual(released);
    await expect(h.api.confirm(given.id)).rejects.toMatchObject({ code: 'RESERVATION_NOT_ACTIVE', detail: expect.stringMatching(/released/) });
    expect((await ledger(h.pool, [v.variantId]))[0]).toMatchObject({ total: 1, available: 1, reserved: 0 });
  });

  it("plans the first reservation after a seller's adjustment from the state it left: one statement, no lock", async () => {
    const v = newVariant();
    await h.api.receiveStock([{ ...v, quantity: 0 }]);
    await h.api.adjustStock(v.sellerId, v.variantId, { amount: 5, reason: 'received' });
    const connect = vi.spyOn(h.pool, 'connect');
    const query = vi.spyOn(h.pool, 'query');
    try {
      const r = await h.api.reserve({ idempotencyKey: newId(), ownerId: newId(), items: [{ variantId: v.variantId, quantity: 2 }] });
      expect(r.status).toBe('active');
      // One statement on the pool (which takes a connection for it), no transaction of its own. This
      // harness runs no event delivery, so the pool also wakes other processes' relays by a NOTIFY
      // after the commit (ADR 0009): not part of the reservation, not counted.
      const statements = query.mock.calls.filter(([text]) => !String(text).includes('pg_notify('));
      expect(statements).toHaveLength(1);
      expect(connect).toHaveBeenCalledTimes(query.mock.calls.length);
    } finally {
      connect.mockRestore();
      query.mockRestore();
    }
    expect((await ledger(h.pool, [v.variantId]))[0]).toMatchObject({ total: 5, available: 3, reserved: 2 });
  });

  it('answers NOT_FOUND for a reservation that does not exist', async () => {
    await expect(h.api.confirm(newId())).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(h.api.release('not-an-id', 'x')).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it("tells the reservation made under a key to its owner only, and makes none when there is none", async () => {
    const v = await stockedVariant(h.api, 4);
    const key = newId();
    const owner = newId();
    expect(await h.api.getReservationByKey(key, owner)).toBeUndefined();
    const made = await h.api.reserve({ idempotencyKey: key, ownerId: owner, items: [{ variantId: v.variantId, quantity: 1 }] });
    expect(await h.api.getReservationByKey(key, owner.toUpperCase())).toMatchObject({ id: made.id, status: 'active', ownerId: owner });
    expect(await h.api.getReservationByKey(key, newId())).toBeUndefined();
    expect(await h.api.getReservationByKey(newId(), owner)).toBeUndefined();
    // The lookups held nothing: one unit is reserved, by the reserve.
    expect((await ledger(h.pool, [v.variantId]))[0]).toMatchObject({ total: 4, available: 3, reserved: 1 });
  });

  it('reserves nothing at all when one item of several is short', async () => {
    const plenty = await stockedVariant(h.api, 10);
    const short = await stockedVariant(h.api, 1);
    await expect(
      h.api.reserve({
        idempotencyKey: newId(),
        ownerId: newId(),
        items: [
          { variantId: plenty.variantId, quantity: 3 },
          { variantId: short.variantId, quantity: 2 },
        ],
      }),
    ).rejects.toMatchObject({ code: 'OUT_OF_STOCK', extensions: { unavailable: [{ variantId: short.variantId, requested: 2, available: 1 }] } });
    const items = await ledger(h.pool, [plenty.variantId, short.variantId]);
    expect(items.map((i) => i.available).sort()).toEqual([1, 10]);
  });
});

describe('stock items and receipts', () => {
  it('creates one stock item per announced variant, however often the announcement is delivered', async () => {
    const sellerId = newId();
    const productId = newId();
    const variants = [newVariant(sellerId), newVariant(sellerId)];
    const event = {
      id: newId(),
      type: 'products.product_created.v1',
      data: { productId, sellerId, variants: variants.map((v) => ({ variantId: v.variantId, sku: v.sku })) },
    } as unknown as EventEnvelope;
    const emitted: NewEvent[] = [];
    for (let i = 0; i < 2; i++) {
      await withTransaction(h.pool, (tx) => catalogSubscription.handle({ tx, now: h.clock.now(), trace: traceOf(event), emit: async (e) => void emitted.push(...e) }, event));
    }
    const availability = await h.api.getAvailability(variants.map((v) => v.variantId));
    expect(availability).toHaveLength(2);
    expect(availability.every((a) => a.productId === productId && a.total === 0)).toBe(true);
    expect(emitted.map((e) => e.type)).toEqual(['inventory.stock_item_created.v1', 'inventory.stock_item_created.v1']);
  });

  it('receives stock in bulk for many variants with one movement each, adding to what is there', async () => {
    const sellerId = newId();
    const variants = Array.from({ length: 1200 }, () => newVariant(sellerId));
    const adjustedBefore = await eventCount(h.pool, 'inventory.stock_adjusted.v1');
    const createdBefore = await eventCount(h.pool, 'inventory.stock_item_created.v1');
    expect(await h.api.receiveStock(variants.map((v, i) => ({ ...v, quantity: i % 3 })))).toEqual({ created: 1200, received: 800 });
    expect(await h.api.receiveStock(variants.slice(0, 2).map((v) => ({ ...v, quantity: 5 })))).toEqual({ created: 0, received: 2 });
    const items = await ledger(h.pool, variants.map((v) => v.variantId));
    expect(items).toHaveLength(1200);
    const first = items.find((i) => i.variantId === variants[1]?.variantId);
    expect(first).toMatchObject({ total: 6, available: 6, movementsSum: 6 });
    // New items are announced once, with their first stock; later receipts are adjustments.
    expect((await eventCount(h.pool, 'inventory.stock_item_created.v1')) - createdBefore).toBe(1200);
    expect((await eventCount(h.pool, 'inventory.stock_adjusted.v1')) - adjustedBefore).toBe(2);
    const { rows } = await h.pool.query<{ payload: { total: number; available: number; version: number } }>(
      `SELECT payload FROM inventory_outbox_events WHERE event_type = 'inventory.stock_item_created.v1' AND payload->>'variantId' = $1`,
      [variants[2]?.variantId],
    );
    expect(rows[0]?.payload).toMatchObject({ total: 2, available: 2, version: 1 });
    await expectConsistent(h.pool, variants.map((v) => v.variantId));
  });

  it('refuses a seller adjustment that would take away reserved units', async () => {
    const v = await stockedVariant(h.api, 3);
    await h.api.reserve({ idempotencyKey: newId(), ownerId: newId(), items: [{ variantId: v.variantId, quantity: 2 }] });
    await expect(h.api.adjustStock(v.sellerId, v.variantId, { amount: -2, reason: 'damaged' })).rejects.toMatchObject({ code: 'OUT_OF_STOCK', status: 409 });
    const done = await h.api.adjustStock(v.sellerId, v.variantId, { amount: -1, reason: 'damaged', note: 'dropped' });
    expect(done.stock).toMatchObject({ total: 2, available: 0, reserved: 2 });
    await expectConsistent(h.pool, [v.variantId]);
  });
});
