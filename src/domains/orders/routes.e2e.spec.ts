import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../../../test/support/app.ts';
import { eventually } from '../../../test/support/eventually.ts';
import { ManualClock } from '../../platform/clock.ts';
import { type Pool, withTransaction } from '../../platform/db/pool.ts';
import type { Role } from '../../platform/http/tokens.ts';
import { newId } from '../../platform/ids.ts';
import type { Trace } from '../../platform/messaging/envelope.ts';
import { appendEvents } from '../../platform/messaging/outbox.ts';
import type { OrdersApi, PlacedOrder } from './index.ts';
import { completeDeliveredOrders } from './complete-delivered.ts';
import { capturedEvent, checkoutInput, refundEvent } from './spec-support.ts';
import { SYSTEM } from './status-machine.ts';
import { changeStatus } from './transitions.ts';

let t: TestApp;
let db: Pool;
let api: OrdersApi;
const clock = new ManualClock('2026-11-24T10:00:00.000Z');

interface User {
  id: string;
  token: string;
}

async function user(...roles: Role[]): Promise<User> {
  const id = newId();
  const { token } = await t.app.tokens.sign({ userId: id, roles }, clock.now());
  return { id, token };
}

async function place(buyer: User, sellers: User[]): Promise<{ session: string; orders: PlacedOrder[] }> {
  clock.advance(60_000);
  const input = checkoutInput(buyer.id, sellers.map((s, i) => ({ sellerId: s.id, lines: [{ unitPrice: 1000 * (i + 1), quantity: 1 }], shippingAmount: 100 })));
  return { session: input.checkoutSessionId, orders: await api.createOrdersForCheckout(input) };
}

/** Publishes a payments event through the payments outbox, as the payments domain would; answers its id. */
async function publishAsPayments(type: string, intent: string, data: unknown, trace: Trace | null = null): Promise<string> {
  const [id] = await withTransaction(t.app.pools.get('payments') as Pool, (tx) =>
    appendEvents(tx, 'payments', [{ type, aggregateId: intent, aggregateType: 'payment_intent', data }], trace),
  );
  return id as string;
}

async function payThroughPayments(buyer: User, session: string, orders: PlacedOrder[], trace: Trace | null = null) {
  const intent = newId();
  const data = capturedEvent(intent, buyer.id, session, orders.map((o) => ({ orderId: o.orderId, sellerId: o.sellerId, amount: o.totalAmount })));
  const eventId = await publishAsPayments('payments.payment_captured.v1', intent, data, trace);
  return { intent, eventId };
}

/** The trace headers of an order's events of one type. */
async function tracesOf(orderId: string, type: string): Promise<{ correlation: string; causation: string | null }[]> {
  const { rows } = await db.query<{ correlation: string; causation: string | null }>(
    `SELECT headers->>'correlationid' AS correlation, headers->>'causationid' AS causation FROM orders_outbox_events WHERE event_type = $1 AND aggregate_id = $2`,
    [type, orderId],
  );
  return rows;
}

let alice: User;
let bob: User;
let sellerX: User;
let sellerY: User;
/** Alice's orders, oldest first. */
const aliceOrders: PlacedOrder[] = [];
let bobOrder: PlacedOrder;
let aliceSessions: string[] = [];

beforeAll(async () => {
  t = await startTestApp({}, { clock });
  db = t.app.pools.get('orders') as Pool;
  const module = t.app.modules.find((m) => m.name === 'orders') as unknown as { api: OrdersApi };
  api = module.api;
  [alice, bob, sellerX, sellerY] = await Promise.all([user('buyer'), user('buyer'), user('seller'), user('seller')]);
  const first = await place(alice, [sellerX, sellerY]);
  const second = await place(alice, [sellerX]);
  const third = await place(alice, [sellerY]);
  aliceOrders.push(...first.orders, ...second.orders, ...third.orders);
  aliceSessions = [first.session, second.session, third.session];
  bobOrder = (await place(bob, [sellerX])).orders[0] as PlacedOrder;
});

afterAll(async () => {
  await t?.close();
});

describe('buyer order routes', () => {
  it('lists only the buyer own orders, newest first, page by page', async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const url: string = `/v1/orders?limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
      const res = await t.request('GET', url, { token: alice.token });
      expect(res.statusCode, res.body).toBe(200);
      const body = res.json() as { items: { id: string; buyerId: string; createdAt: string; items: unknown[] }[]; nextCursor: string | null };
      expect(body.items.length).toBeLessThanOrEqual(2);
      for (const o of body.items) {
        expect(o.buyerId).toBe(alice.id);
        expect(o.items).toHaveLength(1);
        seen.push(o.id);
      }
      cursor = body.nextCursor;
      pages++;
    } while (cursor && pages < 10);
    expect(pages).toBe(2);
    expect(new Set(seen).size).toBe(4);
    // Newest checkout first; two orders of one checkout share a time and come in id order, descending.
    const newestFirst = [aliceOrders[3], aliceOrders[2], ...[aliceOrders[0], aliceOrders[1]].sort((a, b) => (a!.orderId < b!.orderId ? 1 : -1))];
    expect(seen).toEqual(newestFirst.map((o) => o?.orderId));
    expect(seen).not.toContain(bobOrder.orderId);
  });

  it('reads one own order with items, history, payments, shipments and refunds; another buyer gets 404', async () => {
    const order = aliceOrders[2] as PlacedOrder;
    const own = await t.request('GET', `/v1/orders/${order.orderId}`, { token: alice.token });
    expect(own.statusCode, own.body).toBe(200);
    expect(own.json()).toMatchObject({
      id: order.orderId,
      orderNumber: order.orderNumber,
      status: 'pending_payment',
      total: { amount: order.totalAmount, currency: 'EUR' },
      shipping: { amount: 100, currency: 'EUR' },
      items: [
        {
          title: 'Product 1',
          quantity: 1,
          unitPrice: { amount: 1000, currency: 'EUR' },
          lineTotal: { amount: 1000, currency: 'EUR' },
          variantAttributes: { size: 'M', colour: 'blue' },
          productSnapshot: { title: 'Product 1', basePrice: 1000 },
        },
      ],
      statusHistory: [{ fromStatus: null, toStatus: 'pending_payment', actorType: 'buyer', changedBy: alice.id }],
      payments: [],
      shipments: [],
      refunds: [],
      shippingAddress: { city: 'Lyon' },
    });
    const other = await t.request('GET', `/v1/orders/${order.orderId}`, { token: bob.token });
    expect(other.statusCode).toBe(404);
    const missing = await t.request('GET', `/v1/orders/${newId()}`, { token: alice.token });
    expect(missing.statusCode).toBe(404);
  });

  it('is for signed-in buyers only', async () => {
    expect((await t.request('GET', '/v1/orders')).statusCode).toBe(401);
    expect((await t.request('GET', '/v1/orders', { token: sellerX.token })).statusCode).toBe(403);
    expect((await t.request('GET', '/v1/orders?cursor=not-a-cursor', { token: alice.token })).statusCode).toBe(400);
  });

  it('cancels a paid order before shipment and emits order_cancelled with wasPaid, so payment, stock and coupon come back', async () => {
    const order = aliceOrders[2] as PlacedOrder;
    const paidTrace = { correlationId: newId(), causationId: null };
    const { intent, eventId: captured } = await payThroughPayments(alice, aliceSessions[1] as string, [order], paidTrace);
    await eventually(async () => {
      const res = await t.request('GET', `/v1/orders/${order.orderId}`, { token: alice.token });
      expect(res.json()).toMatchObject({ status: 'paid', payments: [{ paymentId: intent, status: 'captured', amount: { amount: order.totalAmount } }] });
    });
    // The handler's events name the capture as their cause, in the capture's trace.
    expect(await tracesOf(order.orderId, 'orders.order_paid.v1')).toEqual([{ correlation: paidTrace.correlationId, causation: captured }]);
    const cancelTrace = newId();
    const res = await t.request('POST', `/v1/orders/${order.orderId}/cancel`, {
      token: alice.token,
      headers: { 'x-correlation-id': cancelTrace },
      body: { reason: 'changed my mind' },
    });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ status: 'cancelled' });
    expect(await tracesOf(order.orderId, 'orders.order_cancelled.v1')).toEqual([{ correlation: cancelTrace, causation: null }]);
    const { rows } = await db.query<{ payload: Record<string, unknown> }>(
      `SELECT payload FROM orders_outbox_events WHERE event_type = 'orders.order_cancelled.v1' AND aggregate_id = $1`,
      [order.orderId],
    );
    expect(rows.map((r) => r.payload)).toEqual([
      expect.objectContaining({
        orderId: order.orderId,
        buyerId: alice.id,
        sellerId: sellerX.id,
        checkoutSessionId: aliceSessions[1],
        reason: 'changed my mind',
        wasPaid: true,
        previousStatus: 'paid',
        actorType: 'buyer',
        cancelledBy: alice.id,
        // Placed (1), paid (2), cancelled (3): the order's version after the fact.
        version: 3,
      }),
    ]);
    const { rows: versions } = await db.query<{ version: number }>(`SELECT version FROM orders WHERE id = $1`, [order.orderId]);
    expect(versions[0]?.version).toBe(3);
    // Cancelling again is answered with the order as it is, and emits nothing more.
    const again = await t.request('POST', `/v1/orders/${order.orderId}/cancel`, { token: alice.token });
    expect(again.statusCode, again.body).toBe(200);
    const { rows: after } = await db.query(`SELECT 1 FROM orders_outbox_events WHERE event_type = 'orders.order_cancelled.v1' AND aggregate_id = $1`, [order.orderId]);
    expect(after).toHaveLength(1);
  });

  it('cancels a paid order that was partly refunded before shipment, and shows how far it got', async () => {
    const [carol, sellerZ] = await Promise.all([user('buyer'), user('seller')]);
    const { session, orders } = await place(carol, [sellerZ]);
    const order = orders[0] as PlacedOrder;
    const { intent } = await payThroughPayments(carol, session, [order]);
    await publishAsPayments('payments.refund_succeeded.v1', intent, refundEvent(intent, order, 300, 300));
    await eventually(async () => {
      const res = await t.request('GET', `/v1/orders/${order.orderId}`, { token: carol.token });
      expect(res.json()).toMatchObject({ status: 'partially_refunded', fulfilmentStatus: 'paid', refunded: { amount: 300 } });
    });
    const res = await t.request('POST', `/v1/orders/${order.orderId}/cancel`, { token: carol.token, body: { reason: 'found it cheaper' } });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({
      status: 'cancelled',
      fulfilmentStatus: 'paid',
      refunded: { amount: 300 },
      statusHistory: [
        { toStatus: 'pending_payment' },
        { fromStatus: 'pending_payment', toStatus: 'paid' },
        { fromStatus: 'paid', toStatus: 'partially_refunded', actorType: 'system' },
        { fromStatus: 'partially_refunded', toStatus: 'cancelled', actorType: 'buyer', changedBy: carol.id, reason: 'found it cheaper' },
      ],
    });
    const list = await t.request('GET', '/v1/orders', { token: carol.token });
    expect(list.json().items).toEqual([expect.objectContaining({ id: order.orderId, status: 'cancelled', fulfilmentStatus: 'paid' })]);
  });

  it('refuses to cancel after shipment with 409, and another buyer order with 404', async () => {
    const order = aliceOrders[3] as PlacedOrder;
    await changeStatus(db, order.orderId, { type: 'record_payment' }, { actor: SYSTEM, reason: 'payment captured', now: clock.now(), trace: null });
    await changeStatus(db, order.orderId, { type: 'mark_shipped' }, { actor: SYSTEM, reason: 'shipment created', now: clock.now(), trace: null });
    const res = await t.request('POST', `/v1/orders/${order.orderId}/cancel`, { token: alice.token, body: {} });
    expect(res.statusCode, res.body).toBe(409);
    expect(res.json()).toMatchObject({ code: 'INVALID_STATE_TRANSITION' });
    const { rows } = await db.query('SELECT status FROM orders WHERE id = $1', [order.orderId]);
    expect(rows).toEqual([{ status: 'shipped' }]);

    const foreign = await t.request('POST', `/v1/orders/${bobOrder.orderId}/cancel`, { token: alice.token });
    expect(foreign.statusCode).toBe(404);
    // Its own buyer cannot cancel it either while its payment is being taken (checkout owns that phase).
    const own = await t.request('POST', `/v1/orders/${bobOrder.orderId}/cancel`, { token: bob.token });
    expect(own.json()).toMatchObject({ status: 409, code: 'INVALID_STATE_TRANSITION', detail: expect.stringContaining('payment is still being taken') });
    const { rows: untouched } = await db.query('SELECT status FROM orders WHERE id = $1', [bobOrder.orderId]);
    expect(untouched).toEqual([{ status: 'pending_payment' }]);
  });

  it('refuses unknown fields in the cancel body', async () => {
    const res = await t.request('POST', `/v1/orders/${aliceOrders[0]?.orderId}/cancel`, { token: alice.token, body: { reason: 'x', refund: 'all' } });
    expect(res.statusCode).toBe(400);
  });
});

describe('seller order routes', () => {
  async function sellerPage(seller: User, query: string) {
    const res = await t.request('GET', `/v1/seller/orders?${query}`, { token: seller.token });
    expect(res.statusCode, res.body).toBe(200);
    return res.json() as { items: { id: string; sellerId: string; status: string }[]; nextCursor: string | null };
  }

  it('lists only orders of the seller own products, page by page', async () => {
    const expected = [...aliceOrders, bobOrder].filter((o) => o.sellerId === sellerX.id).map((o) => o.orderId);
    const first = await sellerPage(sellerX, 'limit=2');
    expect(first.items).toHaveLength(2);
    expect(first.nextCursor).not.toBeNull();
    const second = await sellerPage(sellerX, `limit=2&cursor=${encodeURIComponent(first.nextCursor as string)}`);
    expect(second.nextCursor).toBeNull();
    const ids = [...first.items, ...second.items].map((o) => o.id);
    // Newest first: placed one after another, so the reverse of the order they were placed in.
    expect(ids).toEqual(expected.slice().reverse());
    for (const o of [...first.items, ...second.items]) expect(o.sellerId).toBe(sellerX.id);
  });

  it('filters by status', async () => {
    const shipped = await sellerPage(sellerY, 'status=shipped');
    expect(shipped.items.map((o) => o.id)).toEqual([aliceOrders[3]?.orderId]);
    const pending = await sellerPage(sellerY, 'status=pending_payment');
    expect(pending.items.map((o) => o.id)).toEqual([aliceOrders[1]?.orderId]);
    expect((await t.request('GET', '/v1/seller/orders?status=lost', { token: sellerY.token })).statusCode).toBe(400);
  });

  it('is for sellers only', async () => {
    expect((await t.request('GET', '/v1/seller/orders', { token: alice.token })).statusCode).toBe(403);
  });
});

describe('seller fulfilment', () => {
  it('moves a paid order of the seller to fulfilling, once, recording the seller; others get 404 and an unpaid order 409', async () => {
    const buyer = await user('buyer');
    const { session, orders } = await place(buyer, [sellerX]);
    const order = orders[0] as PlacedOrder;
    const start = (who: User) => t.request('POST', `/v1/seller/orders/${order.orderId}/fulfilment`, { token: who.token });
    const unpaid = await start(sellerX);
    expect([unpaid.statusCode, unpaid.json().code]).toEqual([409, 'INVALID_STATE_TRANSITION']);
    await payThroughPayments(buyer, session, orders);
    await eventually(async () => expect((await db.query('SELECT status FROM orders WHERE id = $1', [order.orderId])).rows[0].status).toBe('paid'));

    expect((await start(sellerY)).statusCode).toBe(404);
    expect((await start(buyer)).statusCode).toBe(403);
    const started = await start(sellerX);
    expect(started.statusCode, started.body).toBe(200);
    expect(started.json()).toMatchObject({ id: order.orderId, status: 'fulfilling', fulfilmentStatus: 'fulfilling' });
    const again = await start(sellerX);
    expect([again.statusCode, again.json().version]).toEqual([200, started.json().version]);
    const { rows } = await db.query("SELECT actor_type, changed_by, reason FROM order_status_history WHERE order_id = $1 AND to_status = 'fulfilling'", [order.orderId]);
    expect(rows).toEqual([{ actor_type: 'seller', changed_by: sellerX.id, reason: 'the seller started fulfilment' }]);
    // An unknown field is refused, as everywhere; a note becomes the history's reason.
    const unknown = await t.request('POST', `/v1/seller/orders/${order.orderId}/fulfilment`, { token: sellerX.token, body: { anything: 'goes' } });
    expect([unknown.statusCode, unknown.json().code]).toEqual([400, 'VALIDATION_FAILED']);
    const { session: s2, orders: o2 } = await place(buyer, [sellerX]);
    await payThroughPayments(buyer, s2, o2);
    const second = o2[0] as PlacedOrder;
    await eventually(async () => expect((await db.query('SELECT status FROM orders WHERE id = $1', [second.orderId])).rows[0].status).toBe('paid'));
    const noted = await t.request('POST', `/v1/seller/orders/${second.orderId}/fulfilment`, { token: sellerX.token, body: { note: 'packing today' } });
    expect(noted.statusCode, noted.body).toBe(200);
    const { rows: notedRows } = await db.query("SELECT reason FROM order_status_history WHERE order_id = $1 AND to_status = 'fulfilling'", [second.orderId]);
    expect(notedRows).toEqual([{ reason: 'packing today' }]);
  });
});

describe('completion after the return window', () => {
  const DAY = 86_400_000;
  async function delivered(refund = 0): Promise<string> {
    const buyer = await user('buyer');
    const order = (await place(buyer, [sellerY])).orders[0] as PlacedOrder;
    const context = () => ({ actor: SYSTEM, reason: 'test', now: clock.now(), trace: null });
    for (const command of [{ type: 'record_payment' }, { type: 'mark_shipped' }, { type: 'mark_delivered' }] as const) {
      await changeStatus(db, order.orderId, command, context());
    }
    if (refund > 0) await changeStatus(db, order.orderId, { type: 'record_refund', amount: refund === Number.POSITIVE_INFINITY ? order.totalAmount : refund }, context());
    return order.orderId;
  }
  const statusOf = async (id: string) => (await db.query('SELECT status, fulfilment_status FROM orders WHERE id = $1', [id])).rows[0];

  it('completes delivered orders (also partly refunded ones) once their window has passed, once each, and no fully refunded one', async () => {
    const plain = await delivered();
    const partly = await delivered(100);
    const refunded = await delivered(Number.POSITIVE_INFINITY);
    // The window is measured from delivery: a day short of it, nothing is completed.
    clock.advance(13 * DAY);
    expect(await completeDeliveredOrders(db, clock.now(), 14)).toBe(0);
    expect(await statusOf(plain)).toEqual({ status: 'delivered', fulfilment_status: 'delivered' });
    clock.advance(DAY);
    // Two sweepers at once (two processes; the app's own sweep may run too): each order is completed
    // by one of them, once (one history row each, below).
    const done = await Promise.all([completeDeliveredOrders(db, clock.now(), 14), completeDeliveredOrders(db, clock.now(), 14)]);
    expect(done[0] + done[1]).toBeLessThanOrEqual(2);
    expect(await statusOf(plain)).toEqual({ status: 'completed', fulfilment_status: 'completed' });
    expect(await statusOf(partly)).toEqual({ status: 'completed', fulfilment_status: 'completed' });
    expect(await statusOf(refunded)).toEqual({ status: 'refunded', fulfilment_status: 'delivered' });
    expect(await completeDeliveredOrders(db, clock.now(), 14)).toBe(0);
    const { rows } = await db.query(
      "SELECT order_id, actor_type, changed_by, reason FROM order_status_history WHERE order_id = ANY($1::uuid[]) AND to_status = 'completed' ORDER BY order_id",
      [[plain, partly, refunded]],
    );
    expect(rows).toEqual(
      [plain, partly].sort().map((id) => ({ order_id: id, actor_type: 'system', changed_by: null, reason: 'the return window closed (14 days after delivery)' })),
    );
    const { rows: events } = await db.query(
      "SELECT payload->>'fromStatus' AS from, payload->>'toStatus' AS to FROM orders_outbox_events WHERE event_type = 'orders.order_status_changed.v1' AND aggregate_id = $1 ORDER BY seq DESC LIMIT 1",
      [plain],
    );
    expect(events).toEqual([{ from: 'delivered', to: 'completed' }]);
  });
});
