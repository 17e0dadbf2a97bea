import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SHIPMENT_STATUS_VALUES } from '../../src/contracts/shipping.ts';
import type { OrdersApi, PlacedOrder } from '../../src/domains/orders/index.ts';
import { capturedEvent, checkoutInput } from '../../src/domains/orders/spec-support.ts';
import type { ShippingModule, TestCarrier } from '../../src/domains/shipping/index.ts';
import { WAITING_WEBHOOKS_MAX } from '../../src/domains/shipping/sql.ts';
import { passesLuhn } from '../../src/platform/card-data.ts';
import { type Pool, withTransaction } from '../../src/platform/db/pool.ts';
import type { Role } from '../../src/platform/http/tokens.ts';
import { newId } from '../../src/platform/ids.ts';
import { appendEvents } from '../../src/platform/messaging/outbox.ts';
import { generateSealingKeys, parseSealingKeys, seal } from '../../src/platform/sealed-secrets.ts';
import { type TestApp, startTestApp } from '../support/app.ts';
import { eventually } from '../support/eventually.ts';

/**
 * Shipping through HTTP on a whole marketplace: a paid order (placed through the orders api and
 * paid by a payments event, as the orders tests do), shipped by its seller, tracked by a test
 * carrier's signed webhooks, followed by its buyer.
 */
let t: TestApp;
let orders: OrdersApi;
let shipping: ShippingModule;
let carrier: TestCarrier;
const CARRIER = 'testpost';
const WEBHOOK_SECRET = 'whsec_testpost_0123456789abcdef';

interface User {
  id: string;
  token: string;
}

async function user(...roles: Role[]): Promise<User> {
  const id = newId();
  const { token } = await t.app.tokens.sign({ userId: id, roles });
  return { id, token };
}

const db = (domain: 'orders' | 'shipping' | 'payments') => t.app.pools.get(domain) as Pool;

/** An order of the seller's for the buyer, paid when `paid` (the capture published as payments would). */
async function order(buyer: User, seller: User, paid = true): Promise<PlacedOrder> {
  const input = checkoutInput(buyer.id, [{ sellerId: seller.id, lines: [{ unitPrice: 2500, quantity: 1 }], shippingAmount: 300 }]);
  const [placed] = await orders.createOrdersForCheckout(input);
  if (!placed) throw new Error('no order placed');
  if (paid) {
    const intent = newId();
    const data = capturedEvent(intent, buyer.id, input.checkoutSessionId, [{ orderId: placed.orderId, sellerId: seller.id, amount: placed.totalAmount }]);
    await withTransaction(db('payments'), (tx) =>
      appendEvents(tx, 'payments', [{ type: 'payments.payment_captured.v1', aggregateId: intent, aggregateType: 'payment_intent', data }], null),
    );
    await eventually(async () => expect((await orderOf(buyer, placed.orderId)).status).toBe('paid'));
  }
  return placed;
}

async function orderOf(buyer: User, orderId: string) {
  const res = await t.request('GET', `/v1/orders/${orderId}`, { token: buyer.token });
  expect(res.statusCode, res.body).toBe(200);
  return res.json();
}

async function shipmentsOf(buyer: User, orderId: string) {
  const res = await t.request('GET', `/v1/orders/${orderId}/shipments`, { token: buyer.token });
  expect(res.statusCode, res.body).toBe(200);
  return res.json().items;
}

function shipRequest(seller: User, orderId: string, body: Record<string, unknown>, key?: string) {
  return t.request('POST', `/v1/seller/orders/${orderId}/shipments`, { token: seller.token, body, headers: key ? { 'idempotency-key': key } : {} });
}

async function count(domain: 'orders' | 'shipping', sql: string, values: unknown[] = []): Promise<number> {
  const { rows } = await db(domain).query<{ n: number }>(`SELECT count(*)::int AS n FROM ${sql}`, values);
  return rows[0]?.n ?? 0;
}

let admin: User;
let buyer: User;
let otherBuyer: User;
let seller: User;
let otherSeller: User;

beforeAll(async () => {
  t = await startTestApp();
  orders = (t.app.modules.find((m) => m.name === 'orders') as unknown as { api: OrdersApi }).api;
  shipping = t.app.modules.find((m) => m.name === 'shipping') as ShippingModule;
  [admin, buyer, otherBuyer, seller, otherSeller] = await Promise.all([user('admin'), user('buyer'), user('buyer'), user('seller'), user('seller')]);
  const created = await t.request('POST', '/v1/admin/carriers', {
    token: admin.token,
    body: { carrierName: CARRIER, displayName: 'Test Post', apiEndpoint: 'https://api.testpost.example', credentials: { webhookSecret: WEBHOOK_SECRET, apiKey: 'tp_live_secret_api_key' } },
  });
  expect(created.statusCode, created.body).toBe(201);
  carrier = shipping.testCarrier(CARRIER, WEBHOOK_SECRET);
});

afterAll(async () => {
  await t?.close();
});

describe('admin carrier integrations', () => {
  it('keep credentials write-only: never in an answer, encrypted in the database, only when they were set is shown', async () => {
    const res = await t.request('POST', '/v1/admin/carriers', {
      token: admin.token,
      body: { carrierName: 'quickship', apiEndpoint: 'https://quickship.example/api', credentials: { webhookSecret: 'whsec_quickship_0123456789', apiKey: 'qs_key_0123' } },
    });
    expect(res.statusCode, res.body).toBe(201);
    expect(res.json()).toMatchObject({ carrierName: 'quickship', enabled: true, displayName: null });
    expect(res.json().credentialsSetAt).toEqual(expect.any(String));
    const list = await t.request('GET', '/v1/admin/carriers?limit=100', { token: admin.token });
    expect(list.statusCode).toBe(200);
    expect(list.json().items.map((c: { carrierName: string }) => c.carrierName)).toEqual(expect.arrayContaining(['quickship', CARRIER]));
    for (const body of [res.body, list.body]) {
      expect(body).not.toContain('whsec_quickship');
      expect(body).not.toContain('qs_key');
      expect(body).not.toContain(WEBHOOK_SECRET);
      expect(body).not.toContain('tp_live_secret_api_key');
      expect(body).not.toMatch(/"credentials"|webhookSecret|apiKey/);
    }
    const { rows } = await db('shipping').query<{ credentials: Buffer }>("SELECT credentials FROM carrier_integrations WHERE carrier_name = 'quickship'");
    const stored = rows[0]?.credentials as Buffer;
    expect(stored.length).toBeGreaterThan(40);
    expect(stored.toString('latin1')).not.toContain('whsec_quickship');
    expect(stored.toString('latin1')).not.toContain('qs_key');
  });

  it('pages the list by name', async () => {
    const first = await t.request('GET', '/v1/admin/carriers?limit=1', { token: admin.token });
    expect(first.statusCode).toBe(200);
    expect(first.json().items).toHaveLength(1);
    const next = await t.request('GET', `/v1/admin/carriers?limit=1&cursor=${first.json().nextCursor}`, { token: admin.token });
    expect(next.json().items[0].carrierName > first.json().items[0].carrierName).toBe(true);
  });

  it('refuses a second carrier of the same name (409) and callers who are not admins (403)', async () => {
    const again = await t.request('POST', '/v1/admin/carriers', { token: admin.token, body: { carrierName: CARRIER, apiEndpoint: 'https://other.example' } });
    expect(again.statusCode).toBe(409);
    expect(again.json().code).toBe('CARRIER_NAME_TAKEN');
    for (const who of [seller, buyer]) {
      expect((await t.request('GET', '/v1/admin/carriers', { token: who.token })).statusCode).toBe(403);
      const post = await t.request('POST', '/v1/admin/carriers', { token: who.token, body: { carrierName: 'sneaky', apiEndpoint: 'https://x.example' } });
      expect(post.statusCode).toBe(403);
      expect((await t.request('PATCH', `/v1/admin/carriers/${CARRIER}`, { token: who.token, body: { enabled: false } })).statusCode).toBe(403);
    }
    expect(await count('shipping', "carrier_integrations WHERE carrier_name = 'sneaky'")).toBe(0);
  });

  it('refuses an endpoint holding a user name or password, on create and change: it would be stored and shown as it is', async () => {
    for (const apiEndpoint of ['https://user:pa55word@rot.example/api', 'https://token@rot.example/api']) {
      const created = await t.request('POST', '/v1/admin/carriers', { token: admin.token, body: { carrierName: 'rotpost', apiEndpoint } });
      expect([created.statusCode, created.json().code], apiEndpoint).toEqual([400, 'VALIDATION_FAILED']);
      const changed = await t.request('PATCH', `/v1/admin/carriers/${CARRIER}`, { token: admin.token, body: { apiEndpoint } });
      expect([changed.statusCode, changed.json().code], apiEndpoint).toEqual([400, 'VALIDATION_FAILED']);
    }
    expect(await count('shipping', "carrier_integrations WHERE carrier_name = 'rotpost' OR api_endpoint LIKE '%@%'")).toBe(0);
  });

  it('rotates credentials and disables a carrier by PATCH, still without showing them', async () => {
    const created = await t.request('POST', '/v1/admin/carriers', { token: admin.token, body: { carrierName: 'slowpost', apiEndpoint: 'https://slowpost.example' } });
    expect(created.json().credentialsSetAt).toBeNull();
    const patched = await t.request('PATCH', '/v1/admin/carriers/slowpost', {
      token: admin.token,
      body: { credentials: { webhookSecret: 'whsec_slowpost_rotated_0001' }, enabled: false },
    });
    expect(patched.statusCode, patched.body).toBe(200);
    expect(patched.json()).toMatchObject({ carrierName: 'slowpost', enabled: false });
    expect(patched.json().credentialsSetAt).toEqual(expect.any(String));
    expect(patched.body).not.toContain('whsec_slowpost');
    expect((await t.request('PATCH', '/v1/admin/carriers/nosuchcarrier', { token: admin.token, body: { enabled: true } })).statusCode).toBe(404);
  });

  it('refuses a display name that is blank or holds control characters, in a new carrier and in a change', async () => {
    for (const displayName of ['   ', 'evil\u001b[31mred', 'Line\r\nX-Injected: 1']) {
      const created = await t.request('POST', '/v1/admin/carriers', { token: admin.token, body: { carrierName: 'blankpost', apiEndpoint: 'https://b.example', displayName } });
      expect(created.json(), JSON.stringify(displayName)).toMatchObject({ status: 400, code: 'VALIDATION_FAILED' });
      const patched = await t.request('PATCH', `/v1/admin/carriers/${CARRIER}`, { token: admin.token, body: { displayName } });
      expect(patched.json(), JSON.stringify(displayName)).toMatchObject({ status: 400, code: 'VALIDATION_FAILED' });
    }
    expect(await count('shipping', "carrier_integrations WHERE carrier_name = 'blankpost'")).toBe(0);
    const listed = (await t.request('GET', '/v1/admin/carriers?limit=100', { token: admin.token })).json();
    expect(listed.items.find((c: { carrierName: string }) => c.carrierName === CARRIER).displayName).toBe('Test Post');
  });
});

describe('a seller ships a paid order and the carrier delivers it', () => {
  let placed: PlacedOrder;
  let shipmentId: string;
  let shipmentCreatedAt: string;
  const tracking = `1z${newId().slice(0, 8)}`;

  it('creates the shipment (201, in transit), once per Idempotency-Key', async () => {
    placed = await order(buyer, seller);
    const key = newId();
    const res = await shipRequest(seller, placed.orderId, { carrier: CARRIER, trackingNumber: tracking }, key);
    expect(res.statusCode, res.body).toBe(201);
    const shipment = res.json();
    shipmentId = shipment.id;
    shipmentCreatedAt = shipment.createdAt;
    expect(shipment).toMatchObject({ orderId: placed.orderId, carrier: CARRIER, trackingNumber: tracking.toUpperCase(), status: 'in_transit', deliveredAt: null });
    expect(shipment.events).toMatchObject([{ type: 'shipped', status: 'in_transit', source: 'seller' }]);

    const replay = await shipRequest(seller, placed.orderId, { carrier: CARRIER, trackingNumber: tracking }, key);
    expect(replay.statusCode).toBe(201);
    expect(replay.headers['idempotent-replayed']).toBe('true');
    expect(replay.json().id).toBe(shipmentId);
    const reused = await shipRequest(seller, placed.orderId, { carrier: CARRIER, trackingNumber: `${tracking}X` }, key);
    expect(reused.statusCode).toBe(422);
    expect(reused.json().code).toBe('IDEMPOTENCY_KEY_REUSED');
    const again = await shipRequest(seller, placed.orderId, { carrier: CARRIER, trackingNumber: tracking });
    expect(again.statusCode).toBe(409);
    expect(again.json().code).toBe('TRACKING_NUMBER_TAKEN');
    expect(await count('shipping', 'shipments WHERE order_id = $1', [placed.orderId])).toBe(1);
  });

  it('makes one shipment of two concurrent requests with the same Idempotency-Key', async () => {
    const other = await order(buyer, seller);
    const key = newId();
    const body = { carrier: CARRIER, trackingNumber: carrier.newTrackingNumber() };
    const answers = await Promise.all([shipRequest(seller, other.orderId, body, key), shipRequest(seller, other.orderId, body, key)]);
    expect(answers.map((a) => a.statusCode)).toEqual([201, 201]);
    expect(answers[0]!.json().id).toBe(answers[1]!.json().id);
    expect(answers.filter((a) => a.headers['idempotent-replayed'] === 'true')).toHaveLength(1);
    expect(await count('shipping', 'shipments WHERE order_id = $1', [other.orderId])).toBe(1);
  });

  it('makes the order shipped, with its order_shipments row and its history, and shows the shipment on the order', async () => {
    const detail = await eventually(async () => {
      const o = await orderOf(buyer, placed.orderId);
      expect(o.status).toBe('shipped');
      return o;
    });
    expect(detail.shipments).toMatchObject([{ shipmentId, carrier: CARRIER, trackingNumber: tracking.toUpperCase(), status: 'in_transit' }]);
    // The shipment's own time, as shipping shows it (found by a helper: the order showed when it heard of it).
    expect(detail.shipments[0].createdAt).toBe(shipmentCreatedAt);
    expect(detail.statusHistory.at(-1)).toMatchObject({ fromStatus: 'paid', toStatus: 'shipped', actorType: 'seller', changedBy: seller.id });
    expect(await count('orders', 'order_shipments WHERE order_id = $1 AND shipment_id = $2', [placed.orderId, shipmentId])).toBe(1);
  });

  it('shows the buyer the tracking with its events', async () => {
    const [shipment] = await shipmentsOf(buyer, placed.orderId);
    expect(shipment).toMatchObject({ id: shipmentId, status: 'in_transit', events: [{ type: 'shipped', source: 'seller' }] });
  });

  it('lists the seller their shipments, newest first, by order and by status, and no one else', async () => {
    const list = async (who: User, query = '') => {
      const res = await t.request('GET', `/v1/seller/shipments?${query || 'limit=100'}`, { token: who.token });
      expect(res.statusCode, res.body).toBe(200);
      return res.json();
    };
    const all = await list(seller);
    expect(all.items.length).toBeGreaterThanOrEqual(2);
    const createdAt = all.items.map((s: { createdAt: string }) => s.createdAt);
    expect(createdAt).toEqual([...createdAt].sort().reverse());
    const ofOrder = await list(seller, `orderId=${placed.orderId}`);
    expect(ofOrder.items).toMatchObject([{ id: shipmentId, orderId: placed.orderId, status: 'in_transit', events: [{ type: 'shipped' }] }]);
    expect((await list(seller, 'status=delivered')).items.map((s: { id: string }) => s.id)).not.toContain(shipmentId);
    expect((await list(seller, 'status=in_transit')).items.map((s: { id: string }) => s.id)).toContain(shipmentId);
    // Another seller sees nothing of it, even by its order id; a buyer may not list at all.
    const stranger = await user('seller');
    expect((await list(stranger, `orderId=${placed.orderId}`)).items).toEqual([]);
    expect((await t.request('GET', '/v1/seller/shipments', { token: buyer.token })).statusCode).toBe(403);
    // Paged one at a time, every shipment comes once.
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page = await list(seller, `limit=1${cursor ? `&cursor=${cursor}` : ''}`);
      seen.push(...page.items.map((s: { id: string }) => s.id));
      cursor = page.nextCursor;
    } while (cursor);
    expect(seen).toEqual(all.items.map((s: { id: string }) => s.id));
    const bad = await t.request('GET', '/v1/seller/shipments?cursor=bm9wZQ', { token: seller.token });
    expect([bad.statusCode, bad.json().code]).toEqual([400, 'INVALID_CURSOR']);
  });

  it('refuses the buyer cancelling a shipped order (409)', async () => {
    const res = await t.request('POST', `/v1/orders/${placed.orderId}/cancel`, { token: buyer.token, body: {} });
    expect(res.statusCode).toBe(409);
    expect(res.json().code).toBe('INVALID_STATE_TRANSITION');
    expect((await orderOf(buyer, placed.orderId)).status).toBe('shipped');
  });

  it('never lets a cancellation pass an accepted shipment: the order is shipped when the shipment is answered', async () => {
    // Right after the 201, without waiting for any event: the cancellation is refused.
    const first = await order(buyer, seller);
    expect((await shipRequest(seller, first.orderId, { carrier: CARRIER, trackingNumber: carrier.newTrackingNumber() })).statusCode).toBe(201);
    const late = await t.request('POST', `/v1/orders/${first.orderId}/cancel`, { token: buyer.token, body: {} });
    expect([late.statusCode, late.json().code]).toEqual([409, 'INVALID_STATE_TRANSITION']);
    // Sent together, exactly one of them wins: a shipment of a cancelled order is never made.
    for (let i = 0; i < 6; i++) {
      const raced = await order(buyer, seller);
      const [shipped, cancelled] = await Promise.all([
        shipRequest(seller, raced.orderId, { carrier: CARRIER, trackingNumber: carrier.newTrackingNumber() }),
        t.request('POST', `/v1/orders/${raced.orderId}/cancel`, { token: buyer.token, body: {} }),
      ]);
      // Either the shipment (201) and a refused cancellation (409), or the cancellation (200) and a refused shipment (409).
      const outcome = [shipped.statusCode, cancelled.statusCode];
      expect([[201, 409], [409, 200]], `${shipped.body} ${cancelled.body}`).toContainEqual(outcome);
      const status = (await orderOf(buyer, raced.orderId)).status;
      expect(status).toBe(shipped.statusCode === 201 ? 'shipped' : 'cancelled');
      expect(await count('shipping', 'shipments WHERE order_id = $1', [raced.orderId])).toBe(shipped.statusCode === 201 ? 1 : 0);
    }
  });

  it('delivers on the carrier signed "delivered" webhook: the shipment and then the order', async () => {
    const now = Date.now();
    const out = carrier.scan(tracking.toUpperCase(), 'out_for_delivery', { occurredAt: new Date(now + 1000), location: 'Lyon depot' });
    const delivered = carrier.scan(tracking.toUpperCase(), 'delivered', { occurredAt: new Date(now + 2000), message: 'Left with a neighbour' });
    expect(await carrier.send(out, delivered)).toEqual([200, 200]);
    const [shipment] = await shipmentsOf(buyer, placed.orderId);
    expect(shipment.status).toBe('delivered');
    expect(shipment.deliveredAt).toBe(new Date(now + 2000).toISOString());
    expect(shipment.events.map((e: { type: string }) => e.type)).toEqual(['shipped', 'out_for_delivery', 'delivered']);
    expect(shipment.events[2]).toMatchObject({ source: 'carrier', details: { message: 'Left with a neighbour' } });
    const detail = await eventually(async () => {
      const o = await orderOf(buyer, placed.orderId);
      expect(o.status).toBe('delivered');
      return o;
    });
    expect(detail.shipments[0].status).toBe('delivered');
  });

  it("shows a scan's texts without control characters or bidirectional overrides, and a blank one not at all (found by a helper: they reached buyers as sent)", async () => {
    const scan = carrier.scan(tracking.toUpperCase(), null, { location: 'Lyon\u202e  depot\u009b2J', message: '\u0085 \u2066 ' });
    expect(await carrier.send(scan)).toEqual([200]);
    const [shipment] = await shipmentsOf(buyer, placed.orderId);
    const shown = shipment.events.find((e: { details: { location?: string } }) => e.details.location?.startsWith('Lyon'));
    expect(shown.details).toEqual({ location: 'Lyon depot 2J' });
    // An event recorded as sent, before texts were cleaned on receipt, is shown cleaned too.
    await db('shipping').query(
      `INSERT INTO shipment_events (id, shipment_id, event_type, status, source, payload, occurred_at) VALUES (gen_random_uuid(), $1, 'scan', NULL, 'carrier', $2, now())`,
      [shipment.id, JSON.stringify({ location: 'Old\u202e depot', message: '\u009b ' })],
    );
    const [again] = await shipmentsOf(buyer, placed.orderId);
    expect(again.events.find((e: { details: { location?: string } }) => e.details.location?.startsWith('Old')).details).toEqual({ location: 'Old depot' });
  });

  it('changes nothing on a duplicate webhook, and keeps a late, older scan in the history without moving the status back', async () => {
    const before = { events: await count('shipping', 'shipment_events'), outbox: await count('shipping', 'shipping_outbox_events') };
    const late = carrier.scan(tracking.toUpperCase(), 'in_transit', { occurredAt: new Date(Date.now() - 60_000), location: 'Paris hub' });
    expect(await carrier.send(late)).toEqual([200]);
    const repeat = await carrier.send(late);
    expect(repeat).toEqual([200]);
    expect(await count('shipping', 'shipment_events')).toBe(before.events + 1);
    expect(await count('shipping', 'shipping_outbox_events')).toBe(before.outbox);
    const [shipment] = await shipmentsOf(buyer, placed.orderId);
    expect(shipment.status).toBe('delivered');
    expect(shipment.events.map((e: { type: string }) => e.type)).toContain('in_transit');
  });

  it('answers a duplicate with duplicate: true', async () => {
    const scan = carrier.scan(tracking.toUpperCase(), null, { location: 'Archive' });
    const first = await t.request('POST', `/v1/shipping/webhooks/${CARRIER}`, carrier.signed(scan) as never);
    expect(first.json()).toMatchObject({ received: true, duplicate: false, applied: true });
    const second = await t.request('POST', `/v1/shipping/webhooks/${CARRIER}`, carrier.signed(scan) as never);
    expect(second.json()).toMatchObject({ received: true, duplicate: true });
  });
});

describe('carrier webhooks', () => {
  function post(carrierName: string, request: { headers: Record<string, string>; body: string }) {
    return t.app.http.inject({ method: 'POST', url: `/v1/shipping/webhooks/${carrierName}`, headers: request.headers, payload: request.body });
  }

  it('answer a body over the webhook limit with 413 naming that limit, 16 KiB, not the server-wide one', async () => {
    const body = JSON.stringify({ padding: 'x'.repeat(20 * 1024) });
    const answer = await post(CARRIER, { headers: { 'content-type': 'application/json' }, body });
    expect([answer.statusCode, answer.json().code]).toEqual([413, 'PAYLOAD_TOO_LARGE']);
    expect(answer.json().detail).toBe('the body limit is 16384 bytes');
  });

  it('refuse a bad signature (401) and an unknown or disabled carrier (404), recording nothing', async () => {
    const scan = carrier.scan('TRACK-NOBODY', 'delivered');
    const before = await count('shipping', 'shipping_webhook_events');
    const wrong = await post(CARRIER, carrier.signed(scan, 'whsec_not_the_carriers_secret'));
    expect(wrong.statusCode).toBe(401);
    expect(wrong.json().code).toBe('INVALID_SIGNATURE');
    const tampered = carrier.signed(scan);
    const changed = await post(CARRIER, { headers: tampered.headers, body: tampered.body.replace('delivered', 'returned') });
    expect(changed.statusCode).toBe(401);
    const unsigned = await post(CARRIER, { headers: { 'content-type': 'application/json' }, body: scan.body });
    expect(unsigned.statusCode).toBe(401);
    expect((await post('nosuchcarrier', carrier.signed(scan))).statusCode).toBe(404);
    expect((await post('slowpost', carrier.signed(scan))).statusCode).toBe(404);
    expect(await count('shipping', 'shipping_webhook_events')).toBe(before);
  });

  it('answer 503 with Retry-After, recording nothing, when this server cannot open the carrier\'s credentials (sealed with a key it lacks)', async () => {
    const other = parseSealingKeys(generateSealingKeys(), 'OTHER_KEY');
    const { rows } = await db('shipping').query<{ credentials: Buffer }>('SELECT credentials FROM carrier_integrations WHERE carrier_name = $1', [CARRIER]);
    const kept = rows[0]!.credentials;
    await db('shipping').query('UPDATE carrier_integrations SET credentials = $2 WHERE carrier_name = $1', [
      CARRIER,
      seal(other, JSON.stringify({ webhookSecret: WEBHOOK_SECRET }), `carrier_integrations.credentials:${CARRIER}`),
    ]);
    try {
      const before = await count('shipping', 'shipping_webhook_events');
      const res = await post(CARRIER, carrier.signed(carrier.scan('TRACK-KEYLESS', 'in_transit')));
      expect([res.statusCode, res.json().code, res.headers['retry-after']], res.body).toEqual([503, 'SERVICE_UNAVAILABLE', '60']);
      expect(res.body).not.toMatch(/key ring|sealed/);
      expect(await count('shipping', 'shipping_webhook_events')).toBe(before);
    } finally {
      await db('shipping').query('UPDATE carrier_integrations SET credentials = $2 WHERE carrier_name = $1', [CARRIER, kept]);
    }
  });

  it('refuse a signed body that is not a tracking update (400), recording nothing', async () => {
    const before = await count('shipping', 'shipping_webhook_events');
    for (const body of ['{"id":"evt_1"}', '{"id":"evt_2","type":"tracking.updated","created":1,"data":{"trackingNumber":"X","occurredAt":"9999-99-99T00:00:00Z"}}']) {
      const res = await post(CARRIER, carrier.signed({ eventId: 'x', body }));
      expect(res.statusCode, body).toBe(400);
    }
    const future = carrier.scan('TRACK-FUTURE', 'delivered', { occurredAt: new Date(Date.now() + 3_600_000) });
    expect((await post(CARRIER, carrier.signed(future))).statusCode).toBe(400);
    const body = (data: Record<string, unknown>) =>
      JSON.stringify({ id: `evt_${Date.now()}_${Math.random().toString(36).slice(2)}`, type: 'tracking.updated', created: 1, data: { trackingNumber: 'TRACK-ODD', occurredAt: new Date().toISOString(), ...data } });
    // An unknown status names the statuses there are.
    const bogus = await post(CARRIER, carrier.signed({ eventId: 'x', body: body({ status: 'bogus' }) }));
    expect([bogus.statusCode, bogus.json().code]).toEqual([400, 'VALIDATION_FAILED']);
    expect(bogus.json().detail).toBe(`webhook body /data/status must be one of ${SHIPMENT_STATUS_VALUES.map((v) => JSON.stringify(v)).join(', ')}`);
    // Card data in a carrier's free text is refused, as in every webhook: it would be kept and shown to the buyer.
    const card = await post(CARRIER, carrier.signed({ eventId: 'x', body: body({ status: 'in_transit', message: 'paid with 4242 4242 4242 4242' }) }));
    expect([card.statusCode, card.json().code]).toEqual([400, 'VALIDATION_FAILED']);
    expect(card.body).not.toContain('4242 4242');
    // Dates that are not on the calendar (Date.parse would roll them over into the next day or month).
    for (const occurredAt of ['2026-02-30T00:00:00Z', '2026-04-31T10:00:00Z', '2025-02-29T10:00:00Z', '2026-01-01T24:00:00Z', '2026-01-01T23:59:60Z', '2026-01-01T10:00:00+24:00']) {
      const odd = await post(CARRIER, carrier.signed({ eventId: 'x', body: body({ occurredAt }) }));
      expect([odd.statusCode, odd.json().detail], occurredAt).toEqual([400, 'webhook body /data/occurredAt is not a valid instant']);
    }
    // Texts are measured in characters, and the answer names the limit in characters.
    const long = await post(CARRIER, carrier.signed({ eventId: 'x', body: body({ location: '📦'.repeat(201) }) }));
    expect([long.statusCode, long.json().detail]).toEqual([400, 'webhook body /data/location is longer than 200 characters']);
    expect(await count('shipping', 'shipping_webhook_events')).toBe(before);
    // A leap day is a day.
    const leap = await post(CARRIER, carrier.signed({ eventId: 'x', body: body({ occurredAt: '2024-02-29T10:00:00Z', location: '📦'.repeat(200) }) }));
    expect(leap.statusCode, leap.body).toBe(200);
  });

  it('settle on the same status whatever order the scans arrive in', async () => {
    const placed = await order(buyer, seller);
    const tracking = carrier.newTrackingNumber();
    expect((await shipRequest(seller, placed.orderId, { carrier: CARRIER, trackingNumber: tracking })).statusCode).toBe(201);
    const now = Date.now();
    const scans = [
      carrier.scan(tracking, 'out_for_delivery', { occurredAt: new Date(now + 1000) }),
      carrier.scan(tracking, 'delivery_failed', { occurredAt: new Date(now + 2000) }),
      carrier.scan(tracking, 'in_transit', { occurredAt: new Date(now + 3000) }),
      carrier.scan(tracking, 'out_for_delivery', { occurredAt: new Date(now + 4000) }),
    ];
    expect(await carrier.send(scans[3]!, scans[1]!, scans[0]!, scans[2]!, scans[3]!)).toEqual([200, 200, 200, 200, 200]);
    const [shipment] = await shipmentsOf(buyer, placed.orderId);
    expect(shipment.status).toBe('out_for_delivery');
    expect(shipment.events).toHaveLength(5);
    // Only the first webhook moved the status: one status change published after the creation.
    const { rows } = await db('shipping').query<{ event_type: string }>('SELECT event_type FROM shipping_outbox_events WHERE aggregate_id = $1 ORDER BY seq', [shipment.id]);
    expect(rows.map((r) => r.event_type)).toEqual(['shipping.shipment_created.v1', 'shipping.shipment_status_changed.v1']);
  });

  it('deliver an order of several parcels once all have ended and one was delivered, whichever ends last', async () => {
    // The delivered parcel ends first, then the other is returned or cancelled: the order is delivered.
    for (const last of ['returned', 'cancelled'] as const) {
      const placed = await order(buyer, seller);
      const [first, second] = [carrier.newTrackingNumber(), carrier.newTrackingNumber()];
      for (const tracking of [first, second]) expect((await shipRequest(seller, placed.orderId, { carrier: CARRIER, trackingNumber: tracking })).statusCode).toBe(201);
      const now = Date.now();
      expect(await carrier.send(carrier.scan(first, 'delivered', { occurredAt: new Date(now + 1000) }))).toEqual([200]);
      // One parcel delivered, one still on its way: the order is not delivered yet.
      await eventually(async () => expect((await orderOf(buyer, placed.orderId)).shipments.map((x: { status: string }) => x.status).sort()).toEqual(['delivered', 'in_transit']));
      expect((await orderOf(buyer, placed.orderId)).status).toBe('shipped');
      expect(await carrier.send(carrier.scan(second, last, { occurredAt: new Date(now + 2000) }))).toEqual([200]);
      await eventually(async () => expect((await orderOf(buyer, placed.orderId)).status, last).toBe('delivered'));
      // The history says which parcel ended it, without calling a returned or cancelled one delivered.
      const history = (await orderOf(buyer, placed.orderId)).statusHistory as { toStatus: string; reason: string }[];
      expect(history.find((h) => h.toStatus === 'delivered')?.reason).toBe(`every parcel has ended and one was delivered; the last, ${CARRIER} tracking ${second}, was ${last}`);
    }
    // Every parcel returned: nothing reached the buyer, the order stays shipped.
    const placed = await order(buyer, seller);
    const [first, second] = [carrier.newTrackingNumber(), carrier.newTrackingNumber()];
    for (const tracking of [first, second]) expect((await shipRequest(seller, placed.orderId, { carrier: CARRIER, trackingNumber: tracking })).statusCode).toBe(201);
    const now = Date.now();
    expect(await carrier.send(carrier.scan(first, 'returned', { occurredAt: new Date(now + 1000) }), carrier.scan(second, 'returned', { occurredAt: new Date(now + 2000) }))).toEqual([200, 200]);
    await eventually(async () => expect((await orderOf(buyer, placed.orderId)).shipments.map((x: { status: string }) => x.status)).toEqual(['returned', 'returned']));
    await eventually(async () =>
      expect(await count('orders', "orders_inbox_events WHERE consumer = 'orders.shipping' AND aggregate_id = ANY($1) AND status = 'processed'", [(await shipmentsOf(buyer, placed.orderId)).map((x: { id: string }) => x.id)])).toBe(4),
    );
    expect((await orderOf(buyer, placed.orderId)).status).toBe('shipped');
  });

  it('keep a scan that comes before its shipment, and apply it when the seller ships', async () => {
    const placed = await order(buyer, seller);
    const tracking = carrier.newTrackingNumber();
    const early = carrier.scan(tracking, 'out_for_delivery', { occurredAt: new Date(Date.now() + 1000) });
    const res = await post(CARRIER, carrier.signed(early));
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ duplicate: false, applied: false });
    const shipped = await shipRequest(seller, placed.orderId, { carrier: CARRIER, trackingNumber: tracking });
    expect(shipped.statusCode, shipped.body).toBe(201);
    expect(shipped.json().status).toBe('out_for_delivery');
    expect(await count('shipping', 'shipping_webhook_events WHERE event_id = $1 AND processed_at IS NOT NULL', [early.eventId])).toBe(1);
    await eventually(async () => {
      const o = await orderOf(buyer, placed.orderId);
      expect(o.status).toBe('shipped');
      expect(o.shipments[0].status).toBe('out_for_delivery');
    });
  });

  it('applies every scan that came before its shipment, not only the first hundred (found by a helper: the delivery after them was left waiting for good)', async () => {
    const placed = await order(buyer, seller);
    const tracking = carrier.newTrackingNumber();
    const start = Date.now();
    const scans = Array.from({ length: 120 }, (_, i) => carrier.scan(tracking, 'in_transit', { occurredAt: new Date(start + 1000 + i) }));
    scans.push(carrier.scan(tracking, 'delivered', { occurredAt: new Date(start + 2000) }));
    // Sent in reverse: the pages are read in the order the scans happened, not as they came.
    scans.reverse();
    for (const scan of scans) expect((await post(CARRIER, carrier.signed(scan))).statusCode).toBe(200);
    const shipped = await shipRequest(seller, placed.orderId, { carrier: CARRIER, trackingNumber: tracking });
    expect(shipped.statusCode, shipped.body).toBe(201);
    expect(shipped.json().status).toBe('delivered');
    expect(await count('shipping', 'shipping_webhook_events WHERE tracking_number = $1 AND processed_at IS NULL', [tracking])).toBe(0);
    await eventually(async () => expect((await orderOf(buyer, placed.orderId)).status).toBe('delivered'));
  });

  it(`keeps at most ${WAITING_WEBHOOKS_MAX} updates waiting for one tracking number's shipment: the next is 429 to be sent again, a repeat is still a duplicate`, async () => {
    const placed = await order(buyer, seller);
    const tracking = carrier.newTrackingNumber();
    const start = Date.now();
    // All but one already waiting (written as the webhook writes them, faster than 499 requests).
    const kept = Array.from({ length: WAITING_WEBHOOKS_MAX - 1 }, (_, i) => carrier.scan(tracking, 'in_transit', { occurredAt: new Date(start + 1000 + i) }));
    await db('shipping').query(
      `INSERT INTO shipping_webhook_events (id, carrier_name, event_id, tracking_number, payload, received_at)
       SELECT gen_random_uuid(), $1, e, $2, p, now() FROM unnest($3::text[], $4::jsonb[]) AS x(e, p)`,
      [CARRIER, tracking, kept.map((k) => k.eventId), kept.map((k) => k.body)],
    );
    const last = carrier.scan(tracking, 'out_for_delivery', { occurredAt: new Date(start + 2000) });
    expect((await post(CARRIER, carrier.signed(last))).json()).toMatchObject({ duplicate: false, applied: false });
    const over = carrier.scan(tracking, 'delivered', { occurredAt: new Date(start + 3000) });
    const refused = await post(CARRIER, carrier.signed(over));
    expect([refused.statusCode, refused.json().code, refused.headers['retry-after']]).toEqual([429, 'RATE_LIMITED', '300']);
    expect(refused.json().detail).toContain(tracking);
    expect(await count('shipping', 'shipping_webhook_events WHERE tracking_number = $1', [tracking])).toBe(WAITING_WEBHOOKS_MAX);
    expect((await post(CARRIER, carrier.signed(last))).json()).toMatchObject({ duplicate: true, applied: false });
    // The shipment takes them all; then the carrier's retry of the refused one applies.
    const shipped = await shipRequest(seller, placed.orderId, { carrier: CARRIER, trackingNumber: tracking, shippedAt: new Date(start).toISOString() });
    expect(shipped.statusCode, shipped.body).toBe(201);
    expect(shipped.json().status).toBe('out_for_delivery');
    expect((await post(CARRIER, carrier.signed(over))).json()).toMatchObject({ duplicate: false, applied: true });
  });

  it('applies the waiting scans in the order they happened across pages, not as they came: a failed delivery that came last still counts', async () => {
    const placed = await order(buyer, seller);
    const tracking = carrier.newTrackingNumber();
    const start = Date.now();
    // Out for delivery (the newest) came first, then 110 older in-transit scans, then the failed
    // delivery that happened between them, in the second page by arrival.
    const scans = [carrier.scan(tracking, 'out_for_delivery', { occurredAt: new Date(start + 3000) })];
    for (let i = 0; i < 110; i++) scans.push(carrier.scan(tracking, 'in_transit', { occurredAt: new Date(start + 1000 + i) }));
    scans.push(carrier.scan(tracking, 'delivery_failed', { occurredAt: new Date(start + 2000) }));
    for (const scan of scans) expect((await post(CARRIER, carrier.signed(scan))).statusCode).toBe(200);
    const shipped = await shipRequest(seller, placed.orderId, { carrier: CARRIER, trackingNumber: tracking, shippedAt: new Date(start).toISOString() });
    expect(shipped.statusCode, shipped.body).toBe(201);
    expect(shipped.json().status).toBe('out_for_delivery');
    // Taken in time order, the failed delivery moved the status, then the new attempt did: the
    // buyer hears of both. Taken as they came, the failure was older than the status and moved nothing.
    const { rows } = await db('shipping').query<{ to: string }>(
      `SELECT payload->>'toStatus' AS to FROM shipping_outbox_events WHERE aggregate_id = $1 AND event_type = 'shipping.shipment_status_changed.v1' ORDER BY seq`,
      [shipped.json().id],
    );
    expect(rows.map((r) => r.to)).toEqual(['delivery_failed', 'out_for_delivery']);
  });
});

describe('tracking numbers and card numbers', () => {
  function post(carrierName: string, request: { headers: Record<string, string>; body: string }) {
    return t.app.http.inject({ method: 'POST', url: `/v1/shipping/webhooks/${carrierName}`, headers: request.headers, payload: request.body });
  }

  it('takes a tracking number of digits only that passes the card checksum, and the carrier updates about it (found by a helper: every update was refused as card data, the parcel left in transit for good)', async () => {
    const placed = await order(buyer, seller);
    // 15 digits, as some carriers issue them; one such number in ten passes the card checksum.
    const tracking = `7946${String(Date.now()).slice(-10)}`;
    let digits = tracking;
    for (let d = 0; d <= 9; d++) {
      digits = `${tracking}${d}`;
      if (passesLuhn(digits)) break;
    }
    const res = await shipRequest(seller, placed.orderId, { carrier: CARRIER, trackingNumber: digits });
    expect(res.statusCode, res.body).toBe(201);
    // Its messages quote it, as carriers' do.
    const scans = [
      carrier.scan(digits, 'out_for_delivery', { occurredAt: new Date(Date.now() + 500), message: `Parcel ${digits} is out for delivery` }),
      carrier.scan(digits, 'delivered', { occurredAt: new Date(Date.now() + 1000), location: `Locker for ${digits}` }),
    ];
    expect(await carrier.send(...scans)).toEqual([200, 200]);
    const [shipment] = await shipmentsOf(buyer, placed.orderId);
    expect(shipment.status).toBe('delivered');
  });

  it('refuses a tracking number written as a card number (400), in a shipment and in a webhook, storing nothing', async () => {
    const placed = await order(buyer, seller);
    const before = await count('shipping', 'shipments');
    for (const trackingNumber of ['4242-4242-4242-4242', 'REF-4111-1111-1111-1111']) {
      const res = await shipRequest(seller, placed.orderId, { carrier: CARRIER, trackingNumber });
      expect([res.statusCode, res.json().code], trackingNumber).toEqual([400, 'VALIDATION_FAILED']);
      expect(res.body).not.toContain('4242-4242');
    }
    expect(await count('shipping', 'shipments')).toBe(before);
    const webhooks = await count('shipping', 'shipping_webhook_events');
    const res = await post(CARRIER, carrier.signed(carrier.scan('4242-4242-4242-4242', 'in_transit')));
    expect([res.statusCode, res.json().code]).toEqual([400, 'VALIDATION_FAILED']);
    // A tracking number of digits only is spared in the texts as itself, never as a part of a card
    // number there (found by a review: taking it out of the text left the rest looking like no card).
    for (const [trackingNumber, message] of [
      ['1111', 'card 4111 1111 1111 1111'],
      ['822463', 'card 3782 822463 10005'],
      ['41111111', 'card 41111111\u200b11111111'],
    ]) {
      const quoted = await post(CARRIER, carrier.signed(carrier.scan(trackingNumber as string, 'in_transit', { message })));
      expect([quoted.statusCode, quoted.json().code], message).toEqual([400, 'VALIDATION_FAILED']);
    }
    expect(await count('shipping', 'shipping_webhook_events')).toBe(webhooks);
  });
});

describe('shipping under races and repeats', () => {
  function post(request: { headers: Record<string, string>; body: string }) {
    return t.app.http.inject({ method: 'POST', url: `/v1/shipping/webhooks/${CARRIER}`, headers: request.headers, payload: request.body });
  }
  /** The same carrier event (same id) about another tracking number or status. */
  function sameEvent(first: { eventId: string; body: string }, trackingNumber: string, status: string): { eventId: string; body: string } {
    const body = JSON.parse(first.body);
    body.data = { ...body.data, trackingNumber, status };
    return { eventId: first.eventId, body: JSON.stringify(body) };
  }

  it('answers one Idempotency-Key sent for two orders at once with one shipment and a 422, leaving the other order as it was', async () => {
    for (let round = 0; round < 3; round++) {
      const [a, b] = [await order(buyer, seller), await order(buyer, seller)];
      const key = newId();
      const answers = await Promise.all([
        shipRequest(seller, a.orderId, { carrier: CARRIER, trackingNumber: carrier.newTrackingNumber() }, key),
        shipRequest(seller, b.orderId, { carrier: CARRIER, trackingNumber: carrier.newTrackingNumber() }, key),
      ]);
      expect(answers.map((x) => x.statusCode).sort(), answers.map((x) => x.body).join('\n')).toEqual([201, 422]);
      const refused = answers[0]!.statusCode === 422 ? a : b;
      expect(answers.find((x) => x.statusCode === 422)!.json().code).toBe('IDEMPOTENCY_KEY_REUSED');
      // Nothing shipped the refused order: it is still paid, without parcels, and its buyer may cancel it.
      expect(await count('shipping', 'shipments WHERE order_id = $1', [refused.orderId])).toBe(0);
      expect(await orderOf(buyer, refused.orderId)).toMatchObject({ status: 'paid', shipments: [] });
    }
  });

  it('refuses a parcel for an order whose parcels have all ended with one delivered, even before orders has heard of it', async () => {
    const placed = await order(buyer, seller);
    const first = carrier.newTrackingNumber();
    expect((await shipRequest(seller, placed.orderId, { carrier: CARRIER, trackingNumber: first })).statusCode).toBe(201);
    expect(await carrier.send(carrier.scan(first, 'delivered', { occurredAt: new Date(Date.now() + 1000) }))).toEqual([200]);
    // At once, before the orders domain has marked the order delivered.
    const second = await shipRequest(seller, placed.orderId, { carrier: CARRIER, trackingNumber: carrier.newTrackingNumber() });
    expect(second.statusCode, second.body).toBe(409);
    expect(second.json().code).toBe('INVALID_STATE_TRANSITION');
    await eventually(async () => expect(await orderOf(buyer, placed.orderId)).toMatchObject({ status: 'delivered', shipments: [{ status: 'delivered' }] }));

    // Every parcel returned: nothing reached the buyer, and the seller may send another.
    const again = await order(buyer, seller);
    const returned = carrier.newTrackingNumber();
    expect((await shipRequest(seller, again.orderId, { carrier: CARRIER, trackingNumber: returned })).statusCode).toBe(201);
    expect(await carrier.send(carrier.scan(returned, 'returned', { occurredAt: new Date(Date.now() + 1000) }))).toEqual([200]);
    expect((await shipRequest(seller, again.orderId, { carrier: CARRIER, trackingNumber: carrier.newTrackingNumber() })).statusCode).toBe(201);
  });

  it('never lets a delivery and a new parcel of the same order both through', async () => {
    for (let round = 0; round < 4; round++) {
      const placed = await order(buyer, seller);
      const first = carrier.newTrackingNumber();
      expect((await shipRequest(seller, placed.orderId, { carrier: CARRIER, trackingNumber: first })).statusCode).toBe(201);
      const [delivered, second] = await Promise.all([
        post(carrier.signed(carrier.scan(first, 'delivered', { occurredAt: new Date(Date.now() + 1000) }))),
        shipRequest(seller, placed.orderId, { carrier: CARRIER, trackingNumber: carrier.newTrackingNumber() }),
      ]);
      expect(delivered.statusCode).toBe(200);
      // Either the parcel came first (the order waits for it) or the delivery did (the parcel is refused).
      const statuses = (await shipmentsOf(buyer, placed.orderId)).map((x: { status: string }) => x.status).sort();
      expect(statuses).toEqual(second.statusCode === 201 ? ['delivered', 'in_transit'] : ['delivered']);
      await eventually(async () => {
        const o = await orderOf(buyer, placed.orderId);
        expect(o.shipments).toHaveLength(statuses.length);
        expect(o.status).toBe(second.statusCode === 201 ? 'shipped' : 'delivered');
      });
    }
  });

  it('treats a repeated carrier event id as a duplicate even when its first delivery is still waiting for its shipment, whatever the repeat says', async () => {
    const [waiting, other] = [carrier.newTrackingNumber(), carrier.newTrackingNumber()];
    const early = carrier.scan(waiting, 'out_for_delivery', { occurredAt: new Date(Date.now() + 1000) });
    expect((await post(carrier.signed(early))).json()).toMatchObject({ duplicate: false, applied: false });
    // Repeated unchanged: a duplicate.
    expect((await post(carrier.signed(early))).json()).toMatchObject({ duplicate: true, applied: false });
    // The same event id about another parcel: a duplicate too, and it moves nothing.
    const otherOrder = await order(buyer, seller);
    expect((await shipRequest(seller, otherOrder.orderId, { carrier: CARRIER, trackingNumber: other })).statusCode).toBe(201);
    expect((await post(carrier.signed(sameEvent(early, other, 'delivered')))).json()).toMatchObject({ duplicate: true, applied: false });
    expect((await shipmentsOf(buyer, otherOrder.orderId))[0].status).toBe('in_transit');
    // The first delivery is applied when its shipment is created.
    const placed = await order(buyer, seller);
    const shipped = await shipRequest(seller, placed.orderId, { carrier: CARRIER, trackingNumber: waiting });
    expect(shipped.json()).toMatchObject({ status: 'out_for_delivery' });
  });

  it('lists the newest 200 events of a long tracking history, the last status among them', async () => {
    const placed = await order(buyer, seller);
    const tracking = carrier.newTrackingNumber();
    expect((await shipRequest(seller, placed.orderId, { carrier: CARRIER, trackingNumber: tracking })).statusCode).toBe(201);
    const start = Date.now();
    const scans = Array.from({ length: 205 }, (_, i) => carrier.scan(tracking, null, { occurredAt: new Date(start + i), location: `hub ${i}` }));
    expect(new Set(await carrier.send(...scans))).toEqual(new Set([200]));
    expect(await carrier.send(carrier.scan(tracking, 'delivered', { occurredAt: new Date(start + 1000) }))).toEqual([200]);
    const [shipment] = await shipmentsOf(buyer, placed.orderId);
    expect(shipment.status).toBe('delivered');
    expect(shipment.events).toHaveLength(200);
    expect(shipment.events.at(-1)).toMatchObject({ type: 'delivered', status: 'delivered' });
    expect(shipment.events.map((e: { type: string }) => e.type)).not.toContain('shipped');
  });
});

describe('an order held while its parcel is recorded', () => {
  it('is never shipped without its parcel: when recording the parcel fails, the order stays as it was and its buyer may cancel it', async () => {
    const placed = await order(buyer, seller);
    const failing = carrier.newTrackingNumber();
    // shipping's own database refuses this one parcel (as a full disk or a lost connection would).
    await db('shipping').query(`CREATE FUNCTION fail_one_parcel() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN IF NEW.tracking_number = '${failing}' THEN RAISE EXCEPTION 'no space left on device'; END IF; RETURN NEW; END $$`);
    await db('shipping').query('CREATE TRIGGER fail_one_parcel BEFORE INSERT ON shipments FOR EACH ROW EXECUTE FUNCTION fail_one_parcel()');
    try {
      const res = await shipRequest(seller, placed.orderId, { carrier: CARRIER, trackingNumber: failing });
      expect(res.statusCode, res.body).toBe(500);
      expect(res.body).not.toContain('no space left');
    } finally {
      await db('shipping').query('DROP TRIGGER fail_one_parcel ON shipments');
      await db('shipping').query('DROP FUNCTION fail_one_parcel()');
    }
    expect(await count('shipping', 'shipments WHERE order_id = $1', [placed.orderId])).toBe(0);
    expect(await orderOf(buyer, placed.orderId)).toMatchObject({ status: 'paid', shipments: [] });
    const cancel = await t.request('POST', `/v1/orders/${placed.orderId}/cancel`, { token: buyer.token, body: {} });
    expect(cancel.statusCode, cancel.body).toBe(200);
  });

  it('refuses a cancellation while the hold lasts, and lets it pass once a hold whose parcel never came has ended', async () => {
    // A process that took the hold and died before recording the parcel leaves only the hold.
    const held = await order(buyer, seller);
    await orders.holdForShipment(held.orderId, seller.id, new Date(Date.now() + 60_000));
    const refused = await t.request('POST', `/v1/orders/${held.orderId}/cancel`, { token: buyer.token, body: {} });
    expect([refused.statusCode, refused.json().code], refused.body).toEqual([409, 'INVALID_STATE_TRANSITION']);
    expect(refused.json().detail).toContain('handing a parcel');
    expect((await orderOf(buyer, held.orderId)).status).toBe('paid');
    // The seller still ships it (the hold is for that), and then the order is shipped.
    expect((await shipRequest(seller, held.orderId, { carrier: CARRIER, trackingNumber: carrier.newTrackingNumber() })).statusCode).toBe(201);
    expect((await orderOf(buyer, held.orderId)).status).toBe('shipped');
    expect(await count('orders', 'order_shipment_holds WHERE order_id = $1', [held.orderId])).toBe(0);

    const ended = await order(buyer, seller);
    await orders.holdForShipment(ended.orderId, seller.id, new Date(Date.now() - 1));
    const cancel = await t.request('POST', `/v1/orders/${ended.orderId}/cancel`, { token: buyer.token, body: {} });
    expect(cancel.statusCode, cancel.body).toBe(200);
  });

  it('refuses a cancellation that was waiting for the order while the hold was being taken', async () => {
    const placed = await order(buyer, seller);
    // The hold's transaction has the order locked; the cancellation waits for it.
    const holder = await db('orders').connect();
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT 1 FROM orders WHERE id = $1 FOR UPDATE', [placed.orderId]);
      const cancel = t.request('POST', `/v1/orders/${placed.orderId}/cancel`, { token: buyer.token, body: {} });
      await eventually(async () => {
        const { rows } = await db('orders').query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'");
        expect(rows[0]?.n).toBeGreaterThan(0);
      });
      await holder.query('INSERT INTO order_shipment_holds (hold_id, order_id, held_until) VALUES ($1, $2, $3)', [newId(), placed.orderId, new Date(Date.now() + 60_000)]);
      await holder.query('COMMIT');
      const answer = await cancel;
      expect([answer.statusCode, answer.json().code], answer.body).toEqual([409, 'INVALID_STATE_TRANSITION']);
    } finally {
      holder.release();
    }
    expect((await orderOf(buyer, placed.orderId)).status).toBe('paid');
  });

  it("keeps the order held while another request's parcel is recorded, when one of two requests lets its hold go", async () => {
    const placed = await order(buyer, seller);
    const later = new Date(Date.now() + 60_000);
    const first = await orders.holdForShipment(placed.orderId, seller.id, later);
    const second = await orders.holdForShipment(placed.orderId, seller.id, later);
    await orders.releaseShipmentHold(placed.orderId, seller.id, second);
    const refused = await t.request('POST', `/v1/orders/${placed.orderId}/cancel`, { token: buyer.token, body: {} });
    expect(refused.statusCode, refused.body).toBe(409);
    await orders.releaseShipmentHold(placed.orderId, seller.id, first);
    const cancel = await t.request('POST', `/v1/orders/${placed.orderId}/cancel`, { token: buyer.token, body: {} });
    expect(cancel.statusCode, cancel.body).toBe(200);
  });

  it('is not taken for an order that may not ship, nor for another seller', async () => {
    const cancelled = await order(buyer, seller);
    expect((await t.request('POST', `/v1/orders/${cancelled.orderId}/cancel`, { token: buyer.token, body: {} })).statusCode).toBe(200);
    await expect(orders.holdForShipment(cancelled.orderId, seller.id, new Date(Date.now() + 60_000))).rejects.toMatchObject({ code: 'INVALID_STATE_TRANSITION' });
    const other = await order(buyer, seller);
    await expect(orders.holdForShipment(other.orderId, otherSeller.id, new Date(Date.now() + 60_000))).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect(await count('orders', 'order_shipment_holds WHERE order_id = ANY($1::uuid[])', [[cancelled.orderId, other.orderId]])).toBe(0);
  });
});

describe('who may ship and track what', () => {
  it("answers 404 to a seller shipping another seller's order and to another buyer's tracking, changing nothing", async () => {
    const placed = await order(buyer, seller);
    const res = await shipRequest(otherSeller, placed.orderId, { carrier: CARRIER, trackingNumber: carrier.newTrackingNumber() });
    expect(res.statusCode).toBe(404);
    expect(res.json().code).toBe('NOT_FOUND');
    expect((await shipRequest(seller, newId(), { carrier: CARRIER, trackingNumber: carrier.newTrackingNumber() })).statusCode).toBe(404);
    expect(await count('shipping', 'shipments WHERE order_id = $1', [placed.orderId])).toBe(0);
    const stranger = await t.request('GET', `/v1/orders/${placed.orderId}/shipments`, { token: otherBuyer.token });
    expect(stranger.statusCode).toBe(404);
    expect(await shipmentsOf(buyer, placed.orderId)).toEqual([]);
  });

  it('refuses an unknown or disabled carrier, or one without a webhook secret (422), a shippedAt before the order (400) and an order that is not paid (409)', async () => {
    const placed = await order(buyer, seller);
    for (const name of ['nosuchcarrier', 'slowpost']) {
      const res = await shipRequest(seller, placed.orderId, { carrier: name, trackingNumber: carrier.newTrackingNumber() });
      expect(res.statusCode, name).toBe(422);
      expect(res.json().code).toBe('CARRIER_NOT_AVAILABLE');
    }
    // Enabled but without a webhook secret: its scans could never be checked, the parcel would stay in transit.
    const created = await t.request('POST', '/v1/admin/carriers', { token: admin.token, body: { carrierName: 'nosecretpost', apiEndpoint: 'https://nosecret.example' } });
    expect(created.json()).toMatchObject({ enabled: true, credentialsSetAt: null });
    const unverifiable = await shipRequest(seller, placed.orderId, { carrier: 'nosecretpost', trackingNumber: carrier.newTrackingNumber() });
    expect([unverifiable.statusCode, unverifiable.json().code]).toEqual([422, 'CARRIER_NOT_AVAILABLE']);
    expect(unverifiable.json().detail).toContain('no webhook secret');
    expect(await count('shipping', 'shipments WHERE order_id = $1', [placed.orderId])).toBe(0);
    const secretSet = await t.request('PATCH', '/v1/admin/carriers/nosecretpost', { token: admin.token, body: { credentials: { webhookSecret: 'whsec_nosecret_now_set_01' } } });
    expect(secretSet.statusCode, secretSet.body).toBe(200);
    const shipped = await shipRequest(seller, placed.orderId, { carrier: 'nosecretpost', trackingNumber: carrier.newTrackingNumber() });
    expect(shipped.statusCode, shipped.body).toBe(201);
    const bad = await shipRequest(seller, placed.orderId, { carrier: CARRIER, trackingNumber: 'has space' });
    expect(bad.statusCode).toBe(400);
    // Nothing of an order ships before it was placed.
    const early = await shipRequest(seller, placed.orderId, { carrier: CARRIER, trackingNumber: carrier.newTrackingNumber(), shippedAt: '1970-01-01T00:00:00Z' });
    expect([early.statusCode, early.json().code]).toEqual([400, 'VALIDATION_FAILED']);
    expect(early.json().detail).toContain('before the order was placed');
    const unpaid = await order(buyer, seller, false);
    const res = await shipRequest(seller, unpaid.orderId, { carrier: CARRIER, trackingNumber: carrier.newTrackingNumber() });
    expect(res.statusCode).toBe(409);
    expect(res.json().code).toBe('INVALID_STATE_TRANSITION');
    expect(await count('shipping', 'shipments WHERE order_id = ANY($1::uuid[])', [[placed.orderId, unpaid.orderId]])).toBe(1);
  });
});

describe('the orders consumer', () => {
  it('records a shipment of an order cancelled in the meantime, keeps the order cancelled, and parks nothing', async () => {
    const placed = await order(buyer, seller);
    const cancel = await t.request('POST', `/v1/orders/${placed.orderId}/cancel`, { token: buyer.token, body: {} });
    expect(cancel.statusCode, cancel.body).toBe(200);
    // The seller's shipment raced the cancellation: shipping published it before it knew.
    const shipmentId = newId();
    const at = new Date().toISOString();
    const data = {
      shipmentId,
      orderId: placed.orderId,
      sellerId: seller.id,
      buyerId: buyer.id,
      carrier: CARRIER,
      trackingNumber: carrier.newTrackingNumber(),
      status: 'in_transit',
      shippedAt: at,
      deliveredAt: null,
      version: 1,
      createdAt: at,
    };
    await withTransaction(db('shipping'), (tx) =>
      appendEvents(tx, 'shipping', [{ type: 'shipping.shipment_created.v1', aggregateId: shipmentId, aggregateType: 'shipment', data }], null),
    );
    await eventually(async () => expect(await count('orders', 'order_shipments WHERE shipment_id = $1', [shipmentId])).toBe(1));
    await eventually(async () =>
      expect(await count('orders', "orders_inbox_events WHERE consumer = 'orders.shipping' AND aggregate_id = $1 AND status = 'processed'", [shipmentId])).toBe(1),
    );
    expect((await orderOf(buyer, placed.orderId)).status).toBe('cancelled');
    expect(await count('orders', 'orders_dead_letters')).toBe(0);
  });
});
