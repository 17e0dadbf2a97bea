import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OrderCancelledV1 } from '../../src/contracts/orders.ts';
import { restockConfirmedCancellations } from '../../src/domains/inventory/cancelled-order-stock.ts';
import { buyerKey } from '../../src/domains/inventory/reserve-input.ts';
import { withTransaction } from '../../src/platform/db/pool.ts';
import { newId } from '../../src/platform/ids.ts';
import { eventually } from '../support/eventually.ts';
import { type InventoryHarness, type Variant, deadlockCount, eventCount, lockWaiters, expectConsistent, ledger, startInventory, stockedVariant } from './support.ts';

let h: InventoryHarness;
beforeAll(async () => {
  h = await startInventory({}, 6);
});
afterAll(async () => {
  await h?.close();
});

interface Checkout {
  sessionId: string;
  buyerId: string;
}

const newCheckout = (): Checkout => ({ sessionId: newId(), buyerId: newId() });

/** What orders announces when an order of a checkout is cancelled (only the seller's lines are its items). */
function orderCancelled(checkout: Checkout, orderId: string, seller: Variant, lines: { variant: Variant; quantity: number }[], wasPaid = true): OrderCancelledV1 {
  const at = h.clock.now().toISOString();
  const items = lines.map(({ variant, quantity }) => ({
    itemId: newId(),
    productId: variant.productId,
    variantId: variant.variantId,
    sku: variant.sku,
    title: 'Mug',
    variantAttributes: {},
    unitPrice: 1000,
    quantity,
    discountAmount: 0,
    lineTotal: 1000 * quantity,
  }));
  const subtotal = items.reduce((sum, i) => sum + i.lineTotal, 0);
  return {
    orderId,
    orderNumber: `ORD-${orderId.slice(-8)}`,
    checkoutSessionId: checkout.sessionId,
    buyerId: checkout.buyerId,
    sellerId: seller.sellerId,
    status: 'cancelled',
    currency: 'USD',
    subtotalAmount: subtotal,
    discountAmount: 0,
    shippingAmount: 0,
    totalAmount: subtotal,
    refundedAmount: 0,
    items,
    placedAt: at,
    reason: 'changed my mind',
    wasPaid,
    previousStatus: wasPaid ? 'paid' : 'pending_payment',
    actorType: 'buyer',
    cancelledBy: checkout.buyerId,
    cancelledAt: at,
  };
}

const cancel = (event: OrderCancelledV1) => h.deliver('orders.order_cancelled.v1', event);

async function restocks(orderId: string): Promise<{ change: number; reason: string }[]> {
  const { rows } = await h.pool.query<{ change: number; reason: string }>(
    `SELECT change, reason FROM stock_movements WHERE kind = 'restock' AND reference_id = $1 ORDER BY stock_item_id`,
    [orderId],
  );
  return rows;
}

async function levelOf(v: Variant) {
  const item = (await ledger(h.pool, [v.variantId]))[0];
  return item && { total: item.total, available: item.available, reserved: item.reserved };
}

/** A checkout of mugs from one seller and posters from another (by default 2 of 10 and 3 of 5): its reservation and the two orders' ids. */
async function twoSellerCheckout(stock = { mugs: 10, posters: 5 }, bought = { mugs: 2, posters: 3 }) {
  const mug = await stockedVariant(h.api, stock.mugs);
  const poster = await stockedVariant(h.api, stock.posters);
  const checkout = newCheckout();
  const r = await h.api.reserve({
    idempotencyKey: newId(),
    ownerId: checkout.buyerId,
    referenceId: checkout.sessionId,
    items: [
      { variantId: mug.variantId, quantity: bought.mugs },
      { variantId: poster.variantId, quantity: bought.posters },
    ],
  });
  return { mug, poster, checkout, r, mugOrder: newId(), posterOrder: newId() };
}

/** The checkout's confirmation, naming each seller's order. */
function confirmBoth(reservationId: string, c: { mug: Variant; poster: Variant; mugOrder: string; posterOrder: string }) {
  return h.api.confirm(reservationId, {
    orders: [
      { sellerId: c.mug.sellerId, orderId: c.mugOrder },
      { sellerId: c.poster.sellerId, orderId: c.posterOrder },
    ],
  });
}

describe('an order cancelled after its stock was sold', () => {
  it("restocks only the cancelled order's items of a two-seller checkout, once however often the cancellation arrives", async () => {
    const { mug, poster, checkout, r, mugOrder, posterOrder } = await twoSellerCheckout();
    await confirmBoth(r.id, { mug, poster, mugOrder, posterOrder });
    const adjustedBefore = await eventCount(h.pool, 'inventory.stock_adjusted.v1');

    const event = orderCancelled(checkout, mugOrder, mug, [{ variant: mug, quantity: 2 }]);
    await cancel(event);
    await cancel(event);

    expect(await levelOf(mug)).toEqual({ total: 10, available: 10, reserved: 0 });
    expect(await levelOf(poster)).toEqual({ total: 2, available: 2, reserved: 0 });
    expect(await restocks(mugOrder)).toEqual([{ change: 2, reason: 'order_cancelled' }]);
    expect(await restocks(posterOrder)).toEqual([]);
    // The reservation stays what it was: its units were sold, and the restock is a movement of its own.
    expect((await h.api.getReservation(r.id))?.status).toBe('confirmed');
    expect((await eventCount(h.pool, 'inventory.stock_adjusted.v1')) - adjustedBefore).toBe(1);
    const { rows } = await h.pool.query<{ payload: Record<string, unknown> }>(
      `SELECT payload FROM inventory_outbox_events WHERE event_type = 'inventory.stock_adjusted.v1' AND payload->>'orderId' = $1`,
      [mugOrder],
    );
    expect(rows.map((x) => x.payload)).toEqual([
      expect.objectContaining({ variantId: mug.variantId, change: 2, reason: 'order_cancelled', adjustedBy: null, total: 10, available: 10, reserved: 0 }),
    ]);
    await expectConsistent(h.pool, [mug.variantId, poster.variantId]);
  });

  it("restocks the seller's lines when the reservation was confirmed without order ids", async () => {
    const { mug, poster, checkout, r } = await twoSellerCheckout({ mugs: 4, posters: 4 }, { mugs: 1, posters: 1 });
    await h.api.confirm(r.id);
    const posterOrder = newId();
    await cancel(orderCancelled(checkout, posterOrder, poster, [{ variant: poster, quantity: 1 }]));
    expect(await levelOf(poster)).toEqual({ total: 4, available: 4, reserved: 0 });
    expect(await levelOf(mug)).toEqual({ total: 3, available: 3, reserved: 0 });
    await expectConsistent(h.pool, [mug.variantId, poster.variantId]);
  });

  it('makes a sold-out variant reservable again at once', async () => {
    const mug = await stockedVariant(h.api, 1);
    const checkout = newCheckout();
    const r = await h.api.reserve({ idempotencyKey: newId(), ownerId: checkout.buyerId, referenceId: checkout.sessionId, items: [{ variantId: mug.variantId, quantity: 1 }] });
    const orderId = newId();
    await h.api.confirm(r.id, { orders: [{ sellerId: mug.sellerId, orderId }] });
    // This process now remembers the variant as sold out.
    await expect(h.api.reserve({ idempotencyKey: newId(), ownerId: newId(), items: [{ variantId: mug.variantId, quantity: 1 }] })).rejects.toMatchObject({
      code: 'OUT_OF_STOCK',
    });
    await cancel(orderCancelled(checkout, orderId, mug, [{ variant: mug, quantity: 1 }]));
    const again = await h.api.reserve({ idempotencyKey: newId(), ownerId: newId(), items: [{ variantId: mug.variantId, quantity: 1 }] });
    expect(again.status).toBe('active');
  });
});

describe('an order cancelled after its stock was sold, its buyer holding reservations of their own under the session (found by a review)', () => {
  it("restocks the order's units after twenty released holds and twenty buyer-route holds naming the session, made first", async () => {
    const mug = await stockedVariant(h.api, 10);
    const junk = await stockedVariant(h.api, 100);
    const checkout = newCheckout();
    const hold = (idempotencyKey: string) =>
      h.api.reserve({ idempotencyKey, ownerId: checkout.buyerId, referenceId: checkout.sessionId, items: [{ variantId: junk.variantId, quantity: 1 }] });
    for (let i = 0; i < 20; i++) await h.api.release((await hold(newId())).id, 'released by the buyer');
    // Through POST /v1/reservations, whose caller chooses the reference: still active.
    const own = [];
    for (let i = 0; i < 20; i++) own.push(await hold(buyerKey(checkout.buyerId, newId())));
    const r = await h.api.reserve({ idempotencyKey: newId(), ownerId: checkout.buyerId, referenceId: checkout.sessionId, items: [{ variantId: mug.variantId, quantity: 2 }] });
    const orderId = newId();
    await h.api.confirm(r.id, { orders: [{ sellerId: mug.sellerId, orderId }] });
    expect(await levelOf(mug)).toEqual({ total: 8, available: 8, reserved: 0 });

    await cancel(orderCancelled(checkout, orderId, mug, [{ variant: mug, quantity: 2 }]));

    expect(await restocks(orderId)).toEqual([{ change: 2, reason: 'order_cancelled' }]);
    expect(await levelOf(mug)).toEqual({ total: 10, available: 10, reserved: 0 });
    // The buyer's own holds are theirs: the order's cancellation leaves them as they were.
    for (const o of own) expect((await h.api.getReservation(o.id))?.status).toBe('active');
    await expectConsistent(h.pool, [mug.variantId, junk.variantId]);
  });

  it("releases an unpaid order's reservation after twenty active buyer-route holds naming the session, made first", async () => {
    const mug = await stockedVariant(h.api, 10);
    const junk = await stockedVariant(h.api, 100);
    const checkout = newCheckout();
    for (let i = 0; i < 20; i++) {
      await h.api.reserve({ idempotencyKey: buyerKey(checkout.buyerId, newId()), ownerId: checkout.buyerId, referenceId: checkout.sessionId, items: [{ variantId: junk.variantId, quantity: 1 }] });
    }
    const r = await h.api.reserve({ idempotencyKey: newId(), ownerId: checkout.buyerId, referenceId: checkout.sessionId, items: [{ variantId: mug.variantId, quantity: 2 }] });
    await cancel(orderCancelled(checkout, newId(), mug, [{ variant: mug, quantity: 2 }], false));
    expect((await h.api.getReservation(r.id))?.status).toBe('released');
    expect(await levelOf(mug)).toEqual({ total: 10, available: 10, reserved: 0 });
  });
});

describe('an order cancelled before its stock was sold', () => {
  it("leaves a paid order's active reservation to its checkout: the other seller's units are sold, the cancelled order's come back once it confirms", async () => {
    const { mug, poster, checkout, r, mugOrder, posterOrder } = await twoSellerCheckout();
    // The buyer cancels the mug's order once it is paid, before the checkout has confirmed the stock.
    const event = orderCancelled(checkout, mugOrder, mug, [{ variant: mug, quantity: 2 }]);
    await cancel(event);
    await cancel(event);
    expect((await h.api.getReservation(r.id))?.status).toBe('active');
    expect(await levelOf(mug)).toEqual({ total: 10, available: 8, reserved: 2 });

    await confirmBoth(r.id, { mug, poster, mugOrder, posterOrder });
    const settle = () => withTransaction(h.pool, (tx) => restockConfirmedCancellations(tx, h.clock.now()));
    expect((await settle()).settled).toBe(1);
    expect(await settle()).toEqual({ settled: 0, variantIds: [], failed: [] });
    expect(await levelOf(mug)).toEqual({ total: 10, available: 10, reserved: 0 });
    expect(await levelOf(poster)).toEqual({ total: 2, available: 2, reserved: 0 });
    expect(await restocks(mugOrder)).toEqual([{ change: 2, reason: 'order_cancelled' }]);
    expect(await restocks(posterOrder)).toEqual([]);
    await expectConsistent(h.pool, [mug.variantId, poster.variantId]);

    // A checkout that compensates instead releases its reservation: the waiting cancellation goes, nothing is restocked twice.
    const failing = newCheckout();
    const r2 = await h.api.reserve({ idempotencyKey: newId(), ownerId: failing.buyerId, referenceId: failing.sessionId, items: [{ variantId: mug.variantId, quantity: 1 }] });
    const lost = newId();
    await cancel(orderCancelled(failing, lost, mug, [{ variant: mug, quantity: 1 }]));
    await h.api.release(r2.id, 'checkout compensated');
    expect((await settle()).settled).toBe(1);
    expect(await restocks(lost)).toEqual([]);
    expect(await levelOf(mug)).toEqual({ total: 10, available: 10, reserved: 0 });
  });

  it("restocks a paid order's units once its checkout confirms even when the buyer held a reservation of their own under the same reference, released first", async () => {
    const mug = await stockedVariant(h.api, 10);
    const checkout = newCheckout();
    // The buyer's own hold under the checkout session's id, made first (its id sorts first).
    const own = await h.api.reserve({ idempotencyKey: newId(), ownerId: checkout.buyerId, referenceId: checkout.sessionId, items: [{ variantId: mug.variantId, quantity: 1 }] });
    const r = await h.api.reserve({ idempotencyKey: newId(), ownerId: checkout.buyerId, referenceId: checkout.sessionId, items: [{ variantId: mug.variantId, quantity: 2 }] });
    const mugOrder = newId();
    await cancel(orderCancelled(checkout, mugOrder, mug, [{ variant: mug, quantity: 2 }]));
    const settle = () => withTransaction(h.pool, (tx) => restockConfirmedCancellations(tx, h.clock.now()));
    await h.api.release(own.id, 'changed my mind');
    expect((await settle()).settled).toBe(1);
    await h.api.confirm(r.id, { orders: [{ sellerId: mug.sellerId, orderId: mugOrder }] });
    expect((await settle()).settled).toBe(1);
    expect(await restocks(mugOrder)).toEqual([{ change: 2, reason: 'order_cancelled' }]);
    expect(await levelOf(mug)).toEqual({ total: 10, available: 10, reserved: 0 });
    await expectConsistent(h.pool, [mug.variantId]);
  });

  it('settles waiting cancellations of several items without a deadlock with a reservation of those items (found by a review)', async () => {
    const settle = () => withTransaction(h.pool, (tx) => restockConfirmedCancellations(tx, h.clock.now()));
    await settle();
    // Item ids grow: `low` sorts before `high`, but `high`'s cancellation is recorded first.
    const low = await stockedVariant(h.api, 10);
    const high = await stockedVariant(h.api, 10);
    const orders: Record<'low' | 'high', string> = { low: newId(), high: newId() };
    for (const [name, mug] of [['high', high], ['low', low]] as const) {
      const checkout = newCheckout();
      const r = await h.api.reserve({ idempotencyKey: newId(), ownerId: checkout.buyerId, referenceId: checkout.sessionId, items: [{ variantId: mug.variantId, quantity: 1 }] });
      await cancel(orderCancelled(checkout, orders[name], mug, [{ variant: mug, quantity: 1 }]));
      await h.api.confirm(r.id, { orders: [{ sellerId: mug.sellerId, orderId: orders[name] }] });
      h.clock.advance(1000);
    }
    const before = await deadlockCount(h.pool);
    const blocker = await h.pool.connect();
    let settling: Promise<unknown>;
    let buying: Promise<unknown>;
    try {
      // Holds the settle at the first record's events, once it has taken what it takes before them
      // (old: the first record's item alone; now: both items).
      await blocker.query('BEGIN');
      await blocker.query('LOCK TABLE inventory_outbox_events IN SHARE MODE');
      settling = settle();
      await eventually(async () => expect(await lockWaiters(h.pool, '%INSERT INTO inventory_outbox_events%'), 'the settle waiting at its events').toBe(1));
      // Another buyer reserves both items (in id order: low, then high).
      buying = h.api.reserve({ idempotencyKey: newId(), ownerId: newId(), items: [low, high].map((v) => ({ variantId: v.variantId, quantity: 1 })) });
      await eventually(async () => expect(await lockWaiters(h.pool, '%FROM stock_items WHERE variant_id = ANY%'), 'the reservation waiting for an item').toBe(1));
      await blocker.query('ROLLBACK');
    } finally {
      blocker.release();
    }
    expect(await settling).toMatchObject({ settled: 2, failed: [] });
    await buying;
    expect((await deadlockCount(h.pool)) - before).toBe(0);
    expect(await restocks(orders.low)).toEqual([{ change: 1, reason: 'order_cancelled' }]);
    expect(await restocks(orders.high)).toEqual([{ change: 1, reason: 'order_cancelled' }]);
    await expectConsistent(h.pool, [low.variantId, high.variantId]);
  });

  it('keeps a waiting cancellation that cannot be restocked for the next round, and settles the others', async () => {
    const settle = () => withTransaction(h.pool, (tx) => restockConfirmedCancellations(tx, h.clock.now()));
    await settle();
    const orders: { orderId: string; mug: Variant }[] = [];
    for (let i = 0; i < 2; i++) {
      const mug = await stockedVariant(h.api, 3);
      const checkout = newCheckout();
      const r = await h.api.reserve({ idempotencyKey: newId(), ownerId: checkout.buyerId, referenceId: checkout.sessionId, items: [{ variantId: mug.variantId, quantity: 1 }] });
      const orderId = newId();
      await cancel(orderCancelled(checkout, orderId, mug, [{ variant: mug, quantity: 1 }]));
      await h.api.confirm(r.id, { orders: [{ sellerId: mug.sellerId, orderId }] });
      orders.push({ orderId, mug });
    }
    const [broken, fine] = orders as [(typeof orders)[0], (typeof orders)[0]];
    // A fault of the first one's restock alone (as a stock item that cannot be written would be).
    await h.pool.query(`CREATE FUNCTION test_refuse_restock() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN IF NEW.reference_id = '${broken.orderId}' THEN RAISE EXCEPTION 'test fault'; END IF; RETURN NEW; END $$`);
    await h.pool.query('CREATE TRIGGER test_refuse_restock BEFORE INSERT ON stock_movements FOR EACH ROW EXECUTE FUNCTION test_refuse_restock()');
    try {
      const round = await settle();
      expect(round).toMatchObject({ settled: 1, failed: [{ orderId: broken.orderId }] });
      expect(await restocks(fine.orderId)).toEqual([{ change: 1, reason: 'order_cancelled' }]);
      expect(await restocks(broken.orderId)).toEqual([]);
    } finally {
      await h.pool.query('DROP TRIGGER test_refuse_restock ON stock_movements');
      await h.pool.query('DROP FUNCTION test_refuse_restock()');
    }
    expect(await settle()).toMatchObject({ settled: 1, failed: [] });
    expect(await restocks(broken.orderId)).toEqual([{ change: 1, reason: 'order_cancelled' }]);
    await expectConsistent(h.pool, [broken.mug.variantId, fine.mug.variantId]);
  });

  it("releases the checkout's active reservation once when the order was not paid, and leaves another buyer's reservation with the same reference alone", async () => {
    const mug = await stockedVariant(h.api, 6);
    const checkout = newCheckout();
    const r = await h.api.reserve({ idempotencyKey: newId(), ownerId: checkout.buyerId, referenceId: checkout.sessionId, items: [{ variantId: mug.variantId, quantity: 2 }] });
    const stranger = await h.api.reserve({ idempotencyKey: newId(), ownerId: newId(), referenceId: checkout.sessionId, items: [{ variantId: mug.variantId, quantity: 1 }] });
    const releasedBefore = await eventCount(h.pool, 'inventory.reservation_released.v1');
    const orderId = newId();

    const event = orderCancelled(checkout, orderId, mug, [{ variant: mug, quantity: 2 }], false);
    await cancel(event);
    await cancel(event);

    expect(await h.api.getReservation(r.id)).toMatchObject({ status: 'released', releaseReason: `order ${orderId} cancelled: changed my mind` });
    expect((await h.api.getReservation(stranger.id))?.status).toBe('active');
    expect(await levelOf(mug)).toEqual({ total: 6, available: 5, reserved: 1 });
    expect((await eventCount(h.pool, 'inventory.reservation_released.v1')) - releasedBefore).toBe(1);
    expect(await restocks(orderId)).toEqual([]);
    // A checkout that gets this far later cannot sell the released units.
    await expect(h.api.confirm(r.id, { orders: [{ sellerId: mug.sellerId, orderId }] })).rejects.toMatchObject({ code: 'RESERVATION_NOT_ACTIVE' });
    await expectConsistent(h.pool, [mug.variantId]);
  });

  it('gives nothing back twice when the reservation was already released or had expired', async () => {
    const mug = await stockedVariant(h.api, 3);
    const released = newCheckout();
    const r1 = await h.api.reserve({ idempotencyKey: newId(), ownerId: released.buyerId, referenceId: released.sessionId, items: [{ variantId: mug.variantId, quantity: 1 }] });
    await h.api.release(r1.id, 'payment declined');
    const expired = newCheckout();
    await h.api.reserve({ idempotencyKey: newId(), ownerId: expired.buyerId, referenceId: expired.sessionId, items: [{ variantId: mug.variantId, quantity: 1 }], ttlSeconds: 5 });
    h.clock.advance(5_000);
    await h.api.expireDue();

    await cancel(orderCancelled(released, newId(), mug, [{ variant: mug, quantity: 1 }]));
    await cancel(orderCancelled(expired, newId(), mug, [{ variant: mug, quantity: 1 }]));

    expect(await levelOf(mug)).toEqual({ total: 3, available: 3, reserved: 0 });
    expect((await h.api.getReservation(r1.id))?.releaseReason).toBe('payment declined');
    await expectConsistent(h.pool, [mug.variantId]);
  });

  it('does nothing for an order whose checkout reserved nothing here', async () => {
    const mug = await stockedVariant(h.api, 2);
    await cancel(orderCancelled(newCheckout(), newId(), mug, [{ variant: mug, quantity: 1 }]));
    expect(await levelOf(mug)).toEqual({ total: 2, available: 2, reserved: 0 });
  });
});
