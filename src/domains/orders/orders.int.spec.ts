import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../../../test/support/app.ts';
import { eventually } from '../../../test/support/eventually.ts';
import { ManualClock } from '../../platform/clock.ts';
import type { Pool, Queryable } from '../../platform/db/pool.ts';
import { newId } from '../../platform/ids.ts';
import { insertIntoInbox } from '../../platform/messaging/inbox.ts';
import { Metrics } from '../../platform/metrics.ts';
import { type OrdersApi, createOrdersModule } from './index.ts';
import { ORDER_NUMBER_PATTERN, orderNumberGenerator } from './order-number.ts';
import { capturedEvent, checkoutInput, envelopeOf, refundEvent } from './spec-support.ts';
import { lockOrdersOfCheckout, ordersOfBuyer, ordersOfSeller } from './sql.ts';
import { SYSTEM } from './status-machine.ts';
import { changeStatus } from './transitions.ts';
import type { ShipmentStatusChangedV1 } from '../../contracts/shipping.ts';

let t: TestApp;
let db: Pool;
let api: OrdersApi;
const clock = new ManualClock('2026-11-24T10:00:00.000Z');

function ordersModule(orderNumbers?: (now: Date) => string) {
  return createOrdersModule(
    { domain: 'orders', pool: db, config: t.app.config, clock, log: t.app.log, tokens: t.app.tokens, metrics: new Metrics() },
    orderNumbers ? { orderNumbers } : {},
  );
}

async function count(sql: string, params: unknown[] = []): Promise<number> {
  const { rows } = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${sql}`, params);
  return rows[0]?.n ?? 0;
}

async function outbox(type: string, orderId: string) {
  const { rows } = await db.query<{ payload: Record<string, unknown> }>(
    'SELECT payload FROM orders_outbox_events WHERE event_type = $1 AND aggregate_id = $2 ORDER BY seq',
    [type, orderId],
  );
  return rows.map((r) => r.payload);
}

async function statusOf(orderId: string): Promise<string | undefined> {
  const { rows } = await db.query<{ status: string }>('SELECT status FROM orders WHERE id = $1', [orderId]);
  return rows[0]?.status;
}

async function deliver(type: string, subject: string, data: unknown, id?: string) {
  const event = envelopeOf(type, subject, data);
  if (id) event.id = id;
  await insertIntoInbox(db, 'orders', [{ consumer: 'orders.payments', event }]);
  return event;
}

beforeAll(async () => {
  t = await startTestApp({}, { clock });
  db = t.app.pools.get('orders') as Pool;
  api = ordersModule().api;
});

afterAll(async () => {
  await t?.close();
});

describe('createOrdersForCheckout', () => {
  it('makes one pending order per seller whose totals add up, with snapshot items, a history row and an order_placed event', async () => {
    const buyer = newId();
    const [sellerA, sellerB] = [newId(), newId()];
    const input = checkoutInput(buyer, [
      { sellerId: sellerA, lines: [{ unitPrice: 1999, quantity: 2, discountAmount: 400 }, { unitPrice: 500, quantity: 1 }], shippingAmount: 499 },
      { sellerId: sellerB, lines: [{ unitPrice: 12_000, quantity: 1 }], discountAmount: 1000 },
    ]);
    const placed = await api.createOrdersForCheckout(input);

    expect(placed.map((p) => [p.sellerId, p.totalAmount, p.currency, p.status])).toEqual([
      [sellerA, 3998 + 500 - 400 + 499, 'EUR', 'pending_payment'],
      [sellerB, 12_000 - 1000, 'EUR', 'pending_payment'],
    ]);
    for (const p of placed) expect(p.orderNumber).toMatch(ORDER_NUMBER_PATTERN);
    expect(placed[0]?.orderNumber.startsWith('BZ-20261124-')).toBe(true);

    const { rows: items } = await db.query(
      `SELECT o.id, o.subtotal_amount, o.discount_amount, o.total_amount, sum(i.line_total)::bigint + o.shipping_amount AS lines_plus_shipping
         FROM orders o JOIN order_items i ON i.order_id = o.id WHERE o.checkout_session_id = $1 GROUP BY o.id`,
      [input.checkoutSessionId],
    );
    for (const row of items) expect(row.lines_plus_shipping).toBe(row.total_amount);

    const orderB = placed[1]?.orderId as string;
    const { rows: itemB } = await db.query('SELECT price_snapshot, discount_amount, seller_id, currency, product_snapshot_json FROM order_items WHERE order_id = $1', [orderB]);
    // The order-level coupon discount was split onto the single line.
    expect(itemB).toEqual([
      {
        price_snapshot: 12_000,
        discount_amount: 1000,
        seller_id: sellerB,
        currency: 'EUR',
        product_snapshot_json: { title: 'Product 1', variantAttributes: { size: 'M', colour: 'blue' }, basePrice: 12_000, priceDiscount: 0 },
      },
    ]);

    const [event] = await outbox('orders.order_placed.v1', orderB);
    expect(event).toMatchObject({
      orderId: orderB,
      buyerId: buyer,
      sellerId: sellerB,
      status: 'pending_payment',
      currency: 'EUR',
      subtotalAmount: 12_000,
      discountAmount: 1000,
      totalAmount: 11_000,
      items: [{ title: 'Product 1', variantAttributes: { size: 'M', colour: 'blue' }, unitPrice: 12_000, quantity: 1, discountAmount: 1000, lineTotal: 11_000 }],
    });
    const { rows: history } = await db.query('SELECT from_status, to_status, actor_type, changed_by FROM order_status_history WHERE order_id = $1', [orderB]);
    expect(history).toEqual([{ from_status: null, to_status: 'pending_payment', actor_type: 'buyer', changed_by: buyer }]);
  });

  it('is idempotent: the same checkout twice, even at once, gives the same orders and writes them once', async () => {
    const buyer = newId();
    const input = checkoutInput(buyer, [
      { sellerId: newId(), lines: [{ unitPrice: 1000, quantity: 1 }] },
      { sellerId: newId(), lines: [{ unitPrice: 2000, quantity: 3 }] },
    ]);
    const [first, second] = await Promise.all([api.createOrdersForCheckout(input), api.createOrdersForCheckout(input)]);
    const third = await api.createOrdersForCheckout(input);
    expect(second).toEqual(first);
    expect(third).toEqual(first);
    const session = input.checkoutSessionId;
    expect(await count('orders WHERE checkout_session_id = $1', [session])).toBe(2);
    expect(await count('order_items i JOIN orders o ON o.id = i.order_id WHERE o.checkout_session_id = $1', [session])).toBe(2);
    expect(await count('order_status_history h JOIN orders o ON o.id = h.order_id WHERE o.checkout_session_id = $1', [session])).toBe(2);
    expect(await count(`orders_outbox_events e JOIN orders o ON o.id = e.aggregate_id WHERE o.checkout_session_id = $1`, [session])).toBe(2);
  });

  it('refuses a replay of the same checkout and seller with other terms, also other lines or another split of the same total (found by an audit)', async () => {
    const input = checkoutInput(newId(), [{ sellerId: newId(), lines: [{ unitPrice: 1000, quantity: 1 }], shippingAmount: 200 }]);
    await api.createOrdersForCheckout(input);
    expect(await api.createOrdersForCheckout(structuredClone(input))).toHaveLength(1);
    const changed = structuredClone(input);
    (changed.orders[0]?.items[0] as { quantity: number }).quantity = 2;
    await expect(api.createOrdersForCheckout(changed)).rejects.toMatchObject({ code: 'CONFLICT' });
    // Another variant, the money split otherwise (1100 + 100 shipping): the same total of 1200.
    const other = structuredClone(input);
    const order = other.orders[0] as (typeof other.orders)[number];
    order.items = [{ ...(order.items[0] as (typeof order.items)[number]), variantId: newId(), unitPrice: 1100 }];
    order.shippingAmount = 100;
    await expect(api.createOrdersForCheckout(other)).rejects.toMatchObject({ code: 'CONFLICT' });
  });

  it('retries with a fresh order number when the one drawn is taken', async () => {
    const taken = (await api.createOrdersForCheckout(checkoutInput(newId(), [{ sellerId: newId(), lines: [{ unitPrice: 100, quantity: 1 }] }])))[0]
      ?.orderNumber as string;
    const fresh = orderNumberGenerator();
    let draws = 0;
    const collideOnce = ordersModule((now) => (draws++ === 0 ? taken : fresh(now))).api;
    const [placed] = await collideOnce.createOrdersForCheckout(checkoutInput(newId(), [{ sellerId: newId(), lines: [{ unitPrice: 100, quantity: 1 }] }]));
    expect(draws).toBe(2);
    expect(placed?.orderNumber).not.toBe(taken);
    expect(await count('orders WHERE order_number = $1', [taken])).toBe(1);
  });

  it('keeps items, amounts and parties immutable and orders undeletable', async () => {
    const [placed] = await api.createOrdersForCheckout(checkoutInput(newId(), [{ sellerId: newId(), lines: [{ unitPrice: 100, quantity: 1 }] }]));
    const id = placed?.orderId;
    await expect(db.query('UPDATE order_items SET quantity = 2 WHERE order_id = $1', [id])).rejects.toThrow(/append-only/);
    await expect(db.query('DELETE FROM order_items WHERE order_id = $1', [id])).rejects.toThrow(/append-only/);
    await expect(db.query('UPDATE orders SET total_amount = 1 WHERE id = $1', [id])).rejects.toThrow(/only status/);
    await expect(db.query('UPDATE orders SET buyer_id = $2 WHERE id = $1', [id, newId()])).rejects.toThrow(/only status/);
    await expect(db.query('DELETE FROM orders WHERE id = $1', [id])).rejects.toThrow(/DELETE refused/);
    await expect(db.query('UPDATE order_status_history SET reason = $2 WHERE order_id = $1', [id, 'rewritten'])).rejects.toThrow(/append-only/);
  });

  it('refuses invalid input from its caller before touching the database', async () => {
    const empty = checkoutInput(newId(), [{ sellerId: newId(), lines: [] }]);
    await expect(api.createOrdersForCheckout(empty)).rejects.toThrow(TypeError);
    const seller = newId();
    const twice = checkoutInput(newId(), [
      { sellerId: seller, lines: [{ unitPrice: 1, quantity: 1 }] },
      { sellerId: seller, lines: [{ unitPrice: 1, quantity: 1 }] },
    ]);
    await expect(api.createOrdersForCheckout(twice)).rejects.toThrow(/one order per seller/);
    expect(await count('orders WHERE checkout_session_id = ANY($1::uuid[])', [[empty.checkoutSessionId, twice.checkoutSessionId]])).toBe(0);
  });
});

describe('status transitions', () => {
  it('writes one history row with reason and actor, and one status_changed event, per transition', async () => {
    const buyer = newId();
    const seller = newId();
    const [placed] = await api.createOrdersForCheckout(checkoutInput(buyer, [{ sellerId: seller, lines: [{ unitPrice: 2500, quantity: 2 }] }]));
    const id = placed?.orderId as string;
    const steps = [
      { command: { type: 'record_payment' } as const, actor: SYSTEM, reason: 'payment captured' },
      { command: { type: 'start_fulfilment' } as const, actor: { type: 'seller' as const, id: seller }, reason: 'packing' },
      { command: { type: 'mark_shipped' } as const, actor: SYSTEM, reason: 'shipment created' },
      { command: { type: 'mark_delivered' } as const, actor: SYSTEM, reason: 'carrier delivered' },
      { command: { type: 'complete' } as const, actor: { type: 'admin' as const, id: newId() }, reason: 'return window closed' },
    ];
    for (const s of steps) {
      clock.advance(1000);
      await changeStatus(db, id, s.command, { actor: s.actor, reason: s.reason, now: clock.now(), trace: null });
    }
    const { rows } = await db.query(
      'SELECT from_status, to_status, reason, actor_type, changed_by FROM order_status_history WHERE order_id = $1 ORDER BY changed_at, id',
      [id],
    );
    expect(rows).toEqual([
      { from_status: null, to_status: 'pending_payment', reason: 'placed at checkout', actor_type: 'buyer', changed_by: buyer },
      { from_status: 'pending_payment', to_status: 'paid', reason: 'payment captured', actor_type: 'system', changed_by: null },
      { from_status: 'paid', to_status: 'fulfilling', reason: 'packing', actor_type: 'seller', changed_by: seller },
      { from_status: 'fulfilling', to_status: 'shipped', reason: 'shipment created', actor_type: 'system', changed_by: null },
      { from_status: 'shipped', to_status: 'delivered', reason: 'carrier delivered', actor_type: 'system', changed_by: null },
      { from_status: 'delivered', to_status: 'completed', reason: 'return window closed', actor_type: 'admin', changed_by: steps[4]?.actor.id },
    ]);
    const changes = await outbox('orders.order_status_changed.v1', id);
    expect(changes.map((c) => [c.fromStatus, c.toStatus, c.actorType])).toEqual([
      ['pending_payment', 'paid', 'system'],
      ['paid', 'fulfilling', 'seller'],
      ['fulfilling', 'shipped', 'system'],
      ['shipped', 'delivered', 'system'],
      ['delivered', 'completed', 'admin'],
    ]);
    const { rows: order } = await db.query('SELECT status, version FROM orders WHERE id = $1', [id]);
    expect(order).toEqual([{ status: 'completed', version: 6 }]);
  });

  it('refuses a transition the machine forbids with a 409 error and writes nothing', async () => {
    const [placed] = await api.createOrdersForCheckout(checkoutInput(newId(), [{ sellerId: newId(), lines: [{ unitPrice: 100, quantity: 1 }] }]));
    const id = placed?.orderId as string;
    await expect(changeStatus(db, id, { type: 'mark_shipped' }, { actor: SYSTEM, reason: 'too early', now: clock.now(), trace: null })).rejects.toMatchObject({
      code: 'INVALID_STATE_TRANSITION',
      status: 409,
    });
    expect(await count('order_status_history WHERE order_id = $1', [id])).toBe(1);
    expect(await count(`orders_outbox_events WHERE aggregate_id = $1 AND event_type <> 'orders.order_placed.v1'`, [id])).toBe(0);
  });

  it('cancels all orders of a failed checkout by the system, once, each with an order_cancelled event', async () => {
    const buyer = newId();
    const input = checkoutInput(buyer, [
      { sellerId: newId(), lines: [{ unitPrice: 100, quantity: 1 }] },
      { sellerId: newId(), lines: [{ unitPrice: 200, quantity: 1 }] },
    ]);
    const placed = await api.createOrdersForCheckout(input);
    const first = await api.cancelOrdersForCheckout(input.checkoutSessionId, 'payment declined');
    const again = await api.cancelOrdersForCheckout(input.checkoutSessionId, 'payment declined');
    expect(first.every((c) => c.cancelled && c.status === 'cancelled')).toBe(true);
    expect(again).toEqual(first);
    for (const p of placed) {
      const events = await outbox('orders.order_cancelled.v1', p.orderId);
      expect(events).toHaveLength(1);
      expect(events[0]).toMatchObject({
        orderId: p.orderId,
        buyerId: buyer,
        sellerId: p.sellerId,
        checkoutSessionId: input.checkoutSessionId,
        reason: 'payment declined',
        wasPaid: false,
        actorType: 'system',
        cancelledBy: null,
        status: 'cancelled',
      });
      const { rows } = await db.query(`SELECT actor_type, changed_by FROM order_status_history WHERE order_id = $1 AND to_status = 'cancelled'`, [p.orderId]);
      expect(rows).toEqual([{ actor_type: 'system', changed_by: null }]);
    }
  });
});

describe('read paths', () => {
  /** Runs a query function of sql.ts under EXPLAIN, with sequential scans off, and returns the plan. */
  async function planOf(run: (db: Queryable) => Promise<unknown>): Promise<string> {
    const client = await db.connect();
    try {
      await client.query('BEGIN');
      await client.query('SET LOCAL enable_seqscan = off');
      let plan = '';
      await run({
        query: (async (text: string, values: unknown[]) => {
          const result = await client.query(`EXPLAIN ${text}`, values);
          plan += result.rows.map((r) => r['QUERY PLAN']).join('\n');
          return { rows: [] };
        }) as unknown as Queryable['query'],
      });
      return plan;
    } finally {
      await client.query('ROLLBACK');
      client.release();
    }
  }

  it('serves the buyer and seller lists and the checkout lookup from their indexes', async () => {
    const after = { createdAt: clock.now().toISOString(), id: newId() };
    expect(await planOf((q) => ordersOfBuyer(q, newId(), after, 21))).toMatch(/orders_buyer_idx/);
    expect(await planOf((q) => ordersOfSeller(q, newId(), undefined, after, 21))).toMatch(/orders_seller(_status)?_idx/);
    expect(await planOf((q) => ordersOfSeller(q, newId(), 'paid', undefined, 21))).toMatch(/orders_seller_status_idx/);
    expect(await planOf((q) => lockOrdersOfCheckout(q, newId()))).toMatch(/orders_checkout_seller_key/);
  });
});

describe('payments events', () => {
  async function placeOne() {
    const buyer = newId();
    const input = checkoutInput(buyer, [{ sellerId: newId(), lines: [{ unitPrice: 5000, quantity: 2 }] }]);
    const [placed] = await api.createOrdersForCheckout(input);
    if (!placed) throw new Error('no order');
    return { buyer, session: input.checkoutSessionId, order: placed };
  }

  it('a captured payment records the order payment and moves the order to paid; a duplicate changes nothing', async () => {
    const { buyer, session, order } = await placeOne();
    const intent = newId();
    const data = capturedEvent(intent, buyer, session, [{ orderId: order.orderId, sellerId: order.sellerId, amount: order.totalAmount }]);
    const event = await deliver('payments.payment_captured.v1', intent, data);
    await eventually(async () => expect(await statusOf(order.orderId)).toBe('paid'));
    // The same event again (a redelivery) and the same fact under a new event id (a re-publication).
    await deliver('payments.payment_captured.v1', intent, data, event.id);
    const republished = await deliver('payments.payment_captured.v1', intent, data);
    await eventually(async () =>
      expect(await count(`orders_inbox_events WHERE event_id = $1 AND status = 'processed'`, [republished.id])).toBe(1),
    );
    const { rows } = await db.query('SELECT payment_id, amount, currency, status FROM order_payments WHERE order_id = $1', [order.orderId]);
    expect(rows).toEqual([{ payment_id: intent, amount: order.totalAmount, currency: 'EUR', status: 'captured' }]);
    expect(await count(`order_status_history WHERE order_id = $1 AND to_status = 'paid'`, [order.orderId])).toBe(1);
    const paid = await outbox('orders.order_paid.v1', order.orderId);
    expect(paid).toHaveLength(1);
    expect(paid[0]).toMatchObject({ orderId: order.orderId, paymentId: intent, paidAmount: order.totalAmount, status: 'paid' });
  });

  it('an authorization then a capture leave one payment row that only moves forward', async () => {
    const { buyer, session, order } = await placeOne();
    const intent = newId();
    const allocations = [{ orderId: order.orderId, sellerId: order.sellerId, amount: order.totalAmount }];
    const captured = capturedEvent(intent, buyer, session, allocations);
    await deliver('payments.payment_captured.v1', intent, captured);
    const { capturedAt: _, ...facts } = captured;
    const late = await deliver('payments.payment_authorized.v1', intent, { ...facts, authorizedAt: new Date().toISOString() });
    // The late authorization was handled (not parked as a failure) and moved nothing back.
    await eventually(async () => expect(await count(`orders_inbox_events WHERE event_id = $1 AND status = 'processed'`, [late.id])).toBe(1));
    expect(await count('orders_dead_letters WHERE event_id = $1', [late.id])).toBe(0);
    const { rows } = await db.query('SELECT status FROM order_payments WHERE order_id = $1', [order.orderId]);
    expect(rows).toEqual([{ status: 'captured' }]);
  });

  it('refunds record order_refunds and move the order to partially_refunded, then refunded; a duplicate refund counts once', async () => {
    const { buyer, session, order } = await placeOne();
    const intent = newId();
    await deliver('payments.payment_captured.v1', intent, capturedEvent(intent, buyer, session, [{ orderId: order.orderId, sellerId: order.sellerId, amount: order.totalAmount }]));
    const part = refundEvent(intent, order, 3000, 3000);
    await deliver('payments.refund_succeeded.v1', intent, part);
    await deliver('payments.refund_succeeded.v1', intent, part);
    await eventually(async () => expect(await statusOf(order.orderId)).toBe('partially_refunded'));
    const rest = refundEvent(intent, order, order.totalAmount - 3000, order.totalAmount);
    await deliver('payments.refund_succeeded.v1', intent, rest);
    await eventually(async () => expect(await statusOf(order.orderId)).toBe('refunded'));
    const { rows } = await db.query('SELECT refund_id, amount FROM order_refunds WHERE order_id = $1 ORDER BY amount', [order.orderId]);
    expect(rows).toEqual([
      { refund_id: part.refundId, amount: 3000 },
      { refund_id: rest.refundId, amount: order.totalAmount - 3000 },
    ]);
    const { rows: totals } = await db.query('SELECT refunded_amount FROM orders WHERE id = $1', [order.orderId]);
    expect(totals).toEqual([{ refunded_amount: order.totalAmount }]);
    const { rows: payment } = await db.query('SELECT status FROM order_payments WHERE order_id = $1', [order.orderId]);
    expect(payment).toEqual([{ status: 'refunded' }]);
  });

  it('the refund of a cancelled paid order is recorded and the order stays cancelled', async () => {
    const { buyer, session, order } = await placeOne();
    const intent = newId();
    await deliver('payments.payment_captured.v1', intent, capturedEvent(intent, buyer, session, [{ orderId: order.orderId, sellerId: order.sellerId, amount: order.totalAmount }]));
    await eventually(async () => expect(await statusOf(order.orderId)).toBe('paid'));
    await changeStatus(db, order.orderId, { type: 'cancel' }, { actor: { type: 'buyer', id: buyer }, reason: 'changed my mind', now: clock.now(), trace: null });
    const [cancelled] = await outbox('orders.order_cancelled.v1', order.orderId);
    expect(cancelled).toMatchObject({ wasPaid: true, previousStatus: 'paid', cancelledBy: buyer });
    await deliver('payments.refund_succeeded.v1', intent, refundEvent(intent, order, order.totalAmount, order.totalAmount));
    await eventually(async () => {
      const { rows } = await db.query('SELECT status, refunded_amount FROM orders WHERE id = $1', [order.orderId]);
      expect(rows).toEqual([{ status: 'cancelled', refunded_amount: order.totalAmount }]);
    });
    expect(await count(`order_status_history WHERE order_id = $1 AND from_status = 'cancelled'`, [order.orderId])).toBe(0);
  });

  /** An order paid through a capture event, then partly refunded (3000 of its 10000) through a refund event. */
  async function paidThenPartlyRefunded() {
    const placed = await placeOne();
    const { buyer, session, order } = placed;
    const intent = newId();
    clock.advance(1000);
    await deliver('payments.payment_captured.v1', intent, capturedEvent(intent, buyer, session, [{ orderId: order.orderId, sellerId: order.sellerId, amount: order.totalAmount }]));
    await eventually(async () => expect(await statusOf(order.orderId)).toBe('paid'));
    clock.advance(1000);
    await deliver('payments.refund_succeeded.v1', intent, refundEvent(intent, order, 3000, 3000));
    await eventually(async () => expect(await statusOf(order.orderId)).toBe('partially_refunded'));
    clock.advance(1000);
    return { ...placed, intent };
  }

  it('a paid order partly refunded before shipment can still be cancelled by its buyer; the rest of the refund is recorded on the cancelled order', async () => {
    const { buyer, order, intent } = await paidThenPartlyRefunded();
    const buyerActor = { type: 'buyer' as const, id: buyer };
    const { order: after } = await changeStatus(db, order.orderId, { type: 'cancel' }, { actor: buyerActor, reason: 'changed my mind', now: clock.now(), trace: null }, { buyerId: buyer });
    expect(after).toMatchObject({ status: 'cancelled', fulfilment_status: 'paid', refunded_amount: 3000 });

    const { rows: history } = await db.query(
      'SELECT from_status, to_status, actor_type, changed_by FROM order_status_history WHERE order_id = $1 ORDER BY changed_at, id',
      [order.orderId],
    );
    expect(history).toEqual([
      { from_status: null, to_status: 'pending_payment', actor_type: 'buyer', changed_by: buyer },
      { from_status: 'pending_payment', to_status: 'paid', actor_type: 'system', changed_by: null },
      { from_status: 'paid', to_status: 'partially_refunded', actor_type: 'system', changed_by: null },
      { from_status: 'partially_refunded', to_status: 'cancelled', actor_type: 'buyer', changed_by: buyer },
    ]);
    // wasPaid tells the other domains money was taken: payments refunds what is left of it.
    expect(await outbox('orders.order_cancelled.v1', order.orderId)).toEqual([
      expect.objectContaining({ status: 'cancelled', previousStatus: 'partially_refunded', wasPaid: true, refundedAmount: 3000, actorType: 'buyer', cancelledBy: buyer }),
    ]);
    const changes = await outbox('orders.order_status_changed.v1', order.orderId);
    expect(changes.map((c) => [c.fromStatus, c.toStatus])).toEqual([
      ['pending_payment', 'paid'],
      ['paid', 'partially_refunded'],
      ['partially_refunded', 'cancelled'],
    ]);

    await deliver('payments.refund_succeeded.v1', intent, refundEvent(intent, order, order.totalAmount - 3000, order.totalAmount));
    await eventually(async () => {
      const { rows } = await db.query('SELECT status, fulfilment_status, refunded_amount FROM orders WHERE id = $1', [order.orderId]);
      expect(rows).toEqual([{ status: 'cancelled', fulfilment_status: 'paid', refunded_amount: order.totalAmount }]);
    });
  });

  it('a partly refunded order moves on only from the step it reached, keeping its refund', async () => {
    const { buyer, order } = await paidThenPartlyRefunded();
    const system = { actor: SYSTEM, reason: 'carrier', now: clock.now(), trace: null };
    for (const type of ['mark_delivered', 'complete'] as const) {
      await expect(changeStatus(db, order.orderId, { type }, system)).rejects.toMatchObject({ code: 'INVALID_STATE_TRANSITION', status: 409 });
    }
    await changeStatus(db, order.orderId, { type: 'mark_shipped' }, system);
    const { rows } = await db.query('SELECT status, fulfilment_status, refunded_amount FROM orders WHERE id = $1', [order.orderId]);
    expect(rows).toEqual([{ status: 'shipped', fulfilment_status: 'shipped', refunded_amount: 3000 }]);
    const cancel = changeStatus(db, order.orderId, { type: 'cancel' }, { actor: { type: 'buyer', id: buyer }, reason: 'too late', now: clock.now(), trace: null });
    await expect(cancel).rejects.toMatchObject({ code: 'INVALID_STATE_TRANSITION' });
    expect(await count(`order_status_history WHERE order_id = $1 AND to_status IN ('delivered', 'completed', 'cancelled')`, [order.orderId])).toBe(0);
  });

  it('a refund that arrives before its capture is retried until the capture is recorded', async () => {
    const { buyer, session, order } = await placeOne();
    const intent = newId();
    // Different subjects, so the inbox does not order them for us.
    await deliver('payments.refund_succeeded.v1', newId(), refundEvent(intent, order, 1000, 1000));
    await eventually(async () => expect(await count(`orders_inbox_events WHERE consumer = 'orders.payments' AND attempts > 0 AND status = 'pending' AND last_error LIKE '%refused%'`)).toBe(1));
    await deliver('payments.payment_captured.v1', intent, capturedEvent(intent, buyer, session, [{ orderId: order.orderId, sellerId: order.sellerId, amount: order.totalAmount }]));
    await eventually(async () => expect(await statusOf(order.orderId)).toBe('partially_refunded'));
  });

  it('the refund of an order cancelled while unpaid waits for its capture, and leaves the payment refunded whatever the order of the two (found by an audit)', async () => {
    const { buyer, session, order } = await placeOne();
    // Checkout fails and cancels the order while the capture is in flight; payments then refunds it.
    await api.cancelOrdersForCheckout(session, 'checkout failed');
    const intent = newId();
    await deliver('payments.refund_succeeded.v1', newId(), refundEvent(intent, order, order.totalAmount, order.totalAmount));
    await eventually(async () =>
      expect(await count(`orders_inbox_events WHERE consumer = 'orders.payments' AND attempts > 0 AND status = 'pending' AND last_error LIKE '%not recorded yet%'`)).toBe(1),
    );
    // Nothing counted against nothing paid.
    expect((await db.query('SELECT refunded_amount FROM orders WHERE id = $1', [order.orderId])).rows).toEqual([{ refunded_amount: 0 }]);
    await deliver('payments.payment_captured.v1', intent, capturedEvent(intent, buyer, session, [{ orderId: order.orderId, sellerId: order.sellerId, amount: order.totalAmount }]));
    await eventually(async () => {
      const { rows } = await db.query('SELECT o.status, o.refunded_amount, p.status AS payment FROM orders o JOIN order_payments p ON p.order_id = o.id WHERE o.id = $1', [order.orderId]);
      expect(rows).toEqual([{ status: 'cancelled', refunded_amount: order.totalAmount, payment: 'refunded' }]);
    });
  });

  it('an order read shows the newest 200 refunds, oldest first, never hiding the latest behind older ones', async () => {
    const { buyer, order } = await placeOne();
    // As many refund facts as 203 one-cent refunds leave (recorded straight, as payments' events would).
    const base = Date.parse('2026-11-24T10:00:00.000Z');
    const ids = Array.from({ length: 203 }, () => newId());
    await db.query(
      `INSERT INTO order_refunds (id, order_id, refund_id, amount, currency, reason, status, created_at, updated_at)
       SELECT x.id, $2, x.id, 1, 'USD', 'one cent', 'succeeded', x.t, x.t FROM unnest($1::uuid[], $3::timestamptz[]) AS x(id, t)`,
      [ids, order.orderId, ids.map((_, i) => new Date(base + i * 1000))],
    );
    const token = (await t.app.tokens.sign({ userId: buyer, roles: ['buyer'] }, clock.now())).token;
    const res = await t.request('GET', `/v1/orders/${order.orderId}`, { token });
    expect(res.statusCode, res.body).toBe(200);
    const refunds = res.json().refunds as { createdAt: string }[];
    expect(refunds).toHaveLength(200);
    expect(refunds[0]?.createdAt).toBe(new Date(base + 3000).toISOString());
    expect(refunds[199]?.createdAt).toBe(new Date(base + 202_000).toISOString());
  });
});

describe('shipping events', () => {
  it("keeps a parcel's newest status when an older change of it arrives late (it went back to in_transit)", async () => {
    const buyer = newId();
    const input = checkoutInput(buyer, [{ sellerId: newId(), lines: [{ unitPrice: 5000, quantity: 1 }] }]);
    const [order] = await api.createOrdersForCheckout(input);
    if (!order) throw new Error('no order');
    const intent = newId();
    await deliver('payments.payment_captured.v1', intent, capturedEvent(intent, buyer, input.checkoutSessionId, [{ orderId: order.orderId, sellerId: order.sellerId, amount: order.totalAmount }]));
    await eventually(async () => expect(await statusOf(order.orderId)).toBe('paid'));

    const shipmentId = newId();
    const change = (version: number, fromStatus: string, toStatus: string) => {
      const at = new Date(Date.parse('2026-11-24T12:00:00.000Z') + version * 60_000).toISOString();
      const data: ShipmentStatusChangedV1 = {
        shipmentId,
        orderId: order.orderId,
        sellerId: order.sellerId,
        buyerId: buyer,
        carrier: 'dhl',
        trackingNumber: `TRK-${shipmentId.slice(0, 8)}`,
        status: toStatus as ShipmentStatusChangedV1['status'],
        shippedAt: at,
        deliveredAt: null,
        version,
        fromStatus: fromStatus as ShipmentStatusChangedV1['fromStatus'],
        toStatus: toStatus as ShipmentStatusChangedV1['toStatus'],
        source: 'carrier',
        occurredAt: at,
        changedAt: at,
      };
      return envelopeOf('shipping.shipment_status_changed.v1', shipmentId, data, 'shipment');
    };
    const shipmentStatus = async () =>
      (await db.query<{ status: string }>('SELECT status FROM order_shipments WHERE shipment_id = $1', [shipmentId])).rows[0]?.status;
    const handled = async (eventId: string) =>
      eventually(async () => expect(await count(`orders_inbox_events WHERE event_id = $1 AND status = 'processed'`, [eventId])).toBe(1));

    // Out for delivery (version 3) is applied before the in-transit change that came first (version 2).
    const newer = change(3, 'in_transit', 'out_for_delivery');
    await insertIntoInbox(db, 'orders', [{ consumer: 'orders.shipping', event: newer }]);
    await handled(newer.id);
    expect(await shipmentStatus()).toBe('out_for_delivery');
    const older = change(2, 'label_created', 'in_transit');
    await insertIntoInbox(db, 'orders', [{ consumer: 'orders.shipping', event: older }]);
    await handled(older.id);
    expect(await shipmentStatus()).toBe('out_for_delivery');
    expect(await statusOf(order.orderId)).toBe('shipped');

    // A newer change applies, also one that goes back (a failed delivery, then in transit again).
    for (const [version, from, to] of [
      [4, 'out_for_delivery', 'delivery_failed'],
      [5, 'delivery_failed', 'in_transit'],
    ] as const) {
      const next = change(version, from, to);
      await insertIntoInbox(db, 'orders', [{ consumer: 'orders.shipping', event: next }]);
      await handled(next.id);
      expect(await shipmentStatus()).toBe(to);
    }
  });
});
