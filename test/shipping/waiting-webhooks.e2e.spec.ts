import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OrdersApi } from '../../src/domains/orders/index.ts';
import { capturedEvent, checkoutInput } from '../../src/domains/orders/spec-support.ts';
import type { ShippingModule, TestCarrier } from '../../src/domains/shipping/index.ts';
import { deleteWaitingWebhooks, recordWebhook } from '../../src/domains/shipping/sql.ts';
import { dropStaleWaitingWebhooks } from '../../src/domains/shipping/waiting-webhooks.ts';
import { ManualClock } from '../../src/platform/clock.ts';
import { type Pool, type Queryable, withTransaction } from '../../src/platform/db/pool.ts';
import { appendEvents } from '../../src/platform/messaging/outbox.ts';
import { newId } from '../../src/platform/ids.ts';
import { createLogger } from '../../src/platform/logger.ts';
import { type TestApp, startTestApp } from '../support/app.ts';
import { eventually } from '../support/eventually.ts';

/**
 * Carrier updates about a tracking number no shipment has are kept for the seller to create it, and
 * dropped once they have waited SHIPPING_WAITING_WEBHOOK_DAYS (30 by default): time moves by an
 * injected clock, nothing sleeps.
 */
let t: TestApp;
let shipping: ShippingModule;
let carrier: TestCarrier;
let pool: Pool;
const clock = new ManualClock(new Date());
const CARRIER = 'slowpost';
const SECRET = 'whsec_slowpost_0123456789abcdef';
const DAY_MS = 86_400_000;
const log = createLogger('silent');

beforeAll(async () => {
  t = await startTestApp({}, { clock });
  shipping = t.app.modules.find((m) => m.name === 'shipping') as ShippingModule;
  pool = t.app.pools.get('shipping') as Pool;
  const { token } = await t.app.tokens.sign({ userId: newId(), roles: ['admin'] });
  const created = await t.request('POST', '/v1/admin/carriers', {
    token,
    body: { carrierName: CARRIER, apiEndpoint: 'https://api.slowpost.example', credentials: { webhookSecret: SECRET } },
  });
  expect(created.statusCode, created.body).toBe(201);
  carrier = shipping.testCarrier(CARRIER, SECRET);
});

afterAll(async () => {
  await t?.close();
});

/** A paid order of the seller's for the buyer (placed through the orders api, paid by a payments event). */
async function paidOrder(buyerId: string, sellerId: string): Promise<string> {
  const orders = (t.app.modules.find((m) => m.name === 'orders') as unknown as { api: OrdersApi }).api;
  const input = checkoutInput(buyerId, [{ sellerId, lines: [{ unitPrice: 2500, quantity: 1 }], shippingAmount: 300 }]);
  const [placed] = await orders.createOrdersForCheckout(input);
  if (!placed) throw new Error('no order placed');
  const intent = newId();
  const data = capturedEvent(intent, buyerId, input.checkoutSessionId, [{ orderId: placed.orderId, sellerId, amount: placed.totalAmount }]);
  await withTransaction(t.app.pools.get('payments') as Pool, (tx) =>
    appendEvents(tx, 'payments', [{ type: 'payments.payment_captured.v1', aggregateId: intent, aggregateType: 'payment_intent', data }], null),
  );
  await eventually(async () => expect((await orders.getOrderForSeller(placed.orderId, sellerId))?.status).toBe('paid'));
  return placed.orderId;
}

function post(request: { headers: Record<string, string>; body: string }) {
  return t.app.http.inject({ method: 'POST', url: `/v1/shipping/webhooks/${CARRIER}`, headers: request.headers, payload: request.body });
}

async function waiting(trackingNumber: string): Promise<string[]> {
  const { rows } = await pool.query<{ event_id: string }>(
    'SELECT event_id FROM shipping_webhook_events WHERE tracking_number = $1 AND processed_at IS NULL ORDER BY received_at',
    [trackingNumber],
  );
  return rows.map((r) => r.event_id);
}

describe('a carrier update with a far time offset', () => {
  it('is refused past ±15:59, which no zone has and PostgreSQL cannot read; one within waits, and the shipment is made (found by a helper: every shipment of that parcel was a 500)', async () => {
    const sellerId = newId();
    const orderId = await paidOrder(newId(), sellerId);
    const tracking = carrier.newTrackingNumber();
    const local = clock.now().toISOString().slice(0, 19);
    const withOffset = (offset: string): { eventId: string; body: string } => {
      const scan = carrier.scan(tracking, 'out_for_delivery');
      const body = JSON.parse(scan.body);
      body.data.occurredAt = `${local}${offset}`;
      return { eventId: scan.eventId, body: JSON.stringify(body) };
    };
    const far = await post(carrier.signed(withOffset('+20:00')));
    expect([far.statusCode, far.json().code]).toEqual([400, 'VALIDATION_FAILED']);
    // Fourteen hours ahead of UTC (Kiritimati): ten hours ago, waiting for its shipment.
    expect((await post(carrier.signed(withOffset('+14:00')))).json()).toMatchObject({ duplicate: false, applied: false });
    const seller = await t.app.tokens.sign({ userId: sellerId, roles: ['seller'] });
    const shipped = await t.request('POST', `/v1/seller/orders/${orderId}/shipments`, { token: seller.token, body: { carrier: CARRIER, trackingNumber: tracking } });
    expect(shipped.statusCode, shipped.body).toBe(201);
  });
});

describe('a carrier update sent with a byte order mark', () => {
  it('is read as the signature check read it, and kept (found by an audit: it was a 400 MALFORMED_JSON after passing the check)', async () => {
    const tracking = carrier.newTrackingNumber();
    const scan = carrier.scan(tracking, 'in_transit');
    const answer = await post(carrier.signed({ ...scan, body: `\uFEFF${scan.body}` }));
    expect(answer.statusCode, answer.body).toBe(200);
    expect(await waiting(tracking)).toEqual([scan.eventId]);
    // Not left waiting for the sweeps the tests below count.
    await pool.query('DELETE FROM shipping_webhook_events WHERE event_id = $1', [scan.eventId]);
  });
});

describe('a carrier update dated a little ahead of the clock', () => {
  it('is not judged again by a process whose clock is behind the one that received it: the shipment is made (found by a review)', async () => {
    const sellerId = newId();
    const orderId = await paidOrder(newId(), sellerId);
    const tracking = carrier.newTrackingNumber();
    const receivedAt = clock.now();
    // Four minutes ahead: within the five a scan may be, for the process that receives it.
    const scan = carrier.scan(tracking, 'in_transit', { occurredAt: new Date(receivedAt.getTime() + 4 * 60_000) });
    expect((await post(carrier.signed(scan))).json()).toMatchObject({ duplicate: false, applied: false });
    // The seller's request is served by a process whose clock is three minutes behind.
    clock.set(new Date(receivedAt.getTime() - 3 * 60_000));
    try {
      const seller = await t.app.tokens.sign({ userId: sellerId, roles: ['seller'] });
      const shipped = await t.request('POST', `/v1/seller/orders/${orderId}/shipments`, { token: seller.token, body: { carrier: CARRIER, trackingNumber: tracking } });
      expect(shipped.statusCode, shipped.body).toBe(201);
    } finally {
      clock.set(receivedAt);
    }
  });
});

describe('carrier updates waiting for a shipment that never comes', () => {
  it('are dropped once they have waited the days set, not a millisecond sooner; younger and applied ones stay; the repeat of a dropped one is new', async () => {
    const [old, young, applied] = [carrier.newTrackingNumber(), carrier.newTrackingNumber(), carrier.newTrackingNumber()];
    const first = carrier.scan(old, 'in_transit');
    expect((await post(carrier.signed(first))).json()).toMatchObject({ duplicate: false, applied: false });
    // An update applied to its shipment long ago is the carrier event's memory, not a waiting one.
    await pool.query(
      `INSERT INTO shipping_webhook_events (id, carrier_name, event_id, tracking_number, payload, received_at, processed_at)
       VALUES ($1, $2, $3, $4, '{}', $5, $5)`,
      [newId(), CARRIER, `evt_applied_${newId()}`, applied, clock.now()],
    );
    clock.advance(10 * DAY_MS);
    const second = carrier.scan(young, 'in_transit');
    expect((await post(carrier.signed(second))).json()).toMatchObject({ duplicate: false, applied: false });

    clock.advance(20 * DAY_MS - 1);
    expect(await dropStaleWaitingWebhooks(pool, log, clock.now(), 30)).toBe(0);
    expect(await waiting(old)).toEqual([first.eventId]);

    clock.advance(1);
    expect(await dropStaleWaitingWebhooks(pool, log, clock.now(), 30)).toBe(1);
    expect(await waiting(old)).toEqual([]);
    expect(await waiting(young)).toEqual([second.eventId]);
    const { rows } = await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM shipping_webhook_events WHERE tracking_number = $1', [applied]);
    expect(rows[0]?.n).toBe(1);

    // Forgotten with its row: the carrier sending it again is taken, and waits again.
    expect((await post(carrier.signed(first))).json()).toMatchObject({ duplicate: false, applied: false });
    expect(await waiting(old)).toEqual([first.eventId]);
  });

  it('resent at the moment the sweep drops them, are recorded again as new, not answered as duplicates and kept nowhere (found by an audit)', async () => {
    const tracking = carrier.newTrackingNumber();
    const eventId = `evt_${newId()}`;
    const update = { carrier: CARRIER, eventId, trackingNumber: tracking, payload: { status: 'delivered' } };
    await withTransaction(pool, (tx) => recordWebhook(tx, { ...update, id: newId(), now: new Date(clock.now().getTime() - 31 * DAY_MS) }));
    let dropped: string[] = [];
    const again = await withTransaction(pool, (tx) => {
      // The sweep drops the row, and commits, after the resend's insert found it and before its lock.
      const racing: Queryable = {
        query: (async (text: string, values?: unknown[]) => {
          if (dropped.length === 0 && text.includes('FOR UPDATE')) {
            dropped = (await deleteWaitingWebhooks(pool, new Date(clock.now().getTime() - 30 * DAY_MS), 100)).map((d) => d.event_id);
          }
          return tx.query(text, values);
        }) as Queryable['query'],
      };
      return recordWebhook(racing, { ...update, id: newId(), now: clock.now() });
    });
    expect(dropped).toContain(eventId);
    expect(again.fresh).toBe(true);
    expect(await waiting(tracking)).toEqual([eventId]);
  });

  it('are left to a shipment being created that holds them: applied or dropped, never both', async () => {
    const tracking = carrier.newTrackingNumber();
    const scan = carrier.scan(tracking, 'in_transit');
    expect((await post(carrier.signed(scan))).json()).toMatchObject({ duplicate: false, applied: false });
    clock.advance(31 * DAY_MS);
    const creation = await pool.connect();
    try {
      // As the shipment's creation reads them (ship.ts): locked until it commits them applied.
      await creation.query('BEGIN');
      await creation.query('SELECT id FROM shipping_webhook_events WHERE tracking_number = $1 AND processed_at IS NULL FOR UPDATE', [tracking]);
      // (Another test's update, older still, may go in this sweep: this one stays.)
      await dropStaleWaitingWebhooks(pool, log, clock.now(), 30);
      expect(await waiting(tracking)).toEqual([scan.eventId]);
      await creation.query('UPDATE shipping_webhook_events SET processed_at = $2 WHERE tracking_number = $1', [tracking, clock.now()]);
      await creation.query('COMMIT');
    } finally {
      creation.release();
    }
    expect(await dropStaleWaitingWebhooks(pool, log, clock.now(), 30)).toBe(0);
    const { rows } = await pool.query<{ processed: boolean }>('SELECT processed_at IS NOT NULL AS processed FROM shipping_webhook_events WHERE tracking_number = $1', [tracking]);
    expect(rows).toEqual([{ processed: true }]);
  });

  it('held by the sweep first, are not applied by a shipment created meanwhile: it waits for the sweep, then finds none', async () => {
    const sellerId = newId();
    const orderId = await paidOrder(newId(), sellerId);
    const tracking = carrier.newTrackingNumber();
    const scannedAt = clock.now();
    const scan = carrier.scan(tracking, 'out_for_delivery', { occurredAt: scannedAt });
    expect((await post(carrier.signed(scan))).json()).toMatchObject({ duplicate: false, applied: false });
    clock.advance(31 * DAY_MS);
    // Shipped before the scan, as the seller may say: applied, the scan would move the status.
    const shippedAt = new Date(scannedAt.getTime() - 60_000).toISOString();
    const seller = await t.app.tokens.sign({ userId: sellerId, roles: ['seller'] });
    const sweep = await pool.connect();
    let shipping: Promise<Awaited<ReturnType<typeof t.request>>> | undefined;
    try {
      await sweep.query('BEGIN');
      const dropped = await deleteWaitingWebhooks(sweep, new Date(clock.now().getTime() - 30 * DAY_MS), 500);
      expect(dropped.map((d) => d.event_id)).toContain(scan.eventId);
      // The seller ships with that tracking number while the sweep has not committed: the
      // creation's read of the waiting updates (ship.ts) waits on the rows the sweep holds.
      // (An injected request is sent when something waits for its answer: Promise.resolve does.)
      shipping = Promise.resolve(t.request('POST', `/v1/seller/orders/${orderId}/shipments`, { token: seller.token, body: { carrier: CARRIER, trackingNumber: tracking, shippedAt } }));
      await eventually(async () => {
        const { rows } = await pool.query<{ n: number }>("SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'");
        expect(rows[0]?.n).toBeGreaterThan(0);
      });
      await sweep.query('COMMIT');
    } finally {
      sweep.release();
    }
    const shipped = await shipping;
    expect(shipped?.statusCode, shipped?.body).toBe(201);
    // Dropped, so not applied: the shipment is as its seller made it (in transit), not out for delivery.
    expect(shipped?.json().status).toBe('in_transit');
    const { rows } = await pool.query('SELECT 1 FROM shipping_webhook_events WHERE event_id = $1', [scan.eventId]);
    expect(rows).toEqual([]);
    const history = await pool.query('SELECT 1 FROM shipment_events WHERE external_event_id = $1', [scan.eventId]);
    expect(history.rows).toEqual([]);
  });

  it('are dropped by the sweep every process runs: one started after their time is up drops them at once', async () => {
    const tracking = carrier.newTrackingNumber();
    expect((await post(carrier.signed(carrier.scan(tracking, 'in_transit')))).json()).toMatchObject({ duplicate: false, applied: false });
    clock.advance(31 * DAY_MS);
    // The module's sweep looks every 10 minutes, and at once when it starts.
    await shipping.stop?.();
    await shipping.start?.();
    await eventually(async () => expect(await waiting(tracking)).toEqual([]));
  });
});
