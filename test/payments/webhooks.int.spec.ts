import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { SIGNATURE_HEADER, signatureHeader } from '../../src/domains/payments/index.ts';
import type { PaymentsDeps } from '../../src/domains/payments/deps.ts';
import type { GatewayOutcome } from '../../src/domains/payments/gateway.ts';
import { GatewayDisagreement, type OutcomeTarget, applyOutcome } from '../../src/domains/payments/outcomes.ts';
import { refundStatus as readRefundStatus } from '../../src/domains/payments/sql.ts';
import { systemClock } from '../../src/platform/clock.ts';
import { withTransaction } from '../../src/platform/db/pool.ts';
import { createLogger } from '../../src/platform/logger.ts';
import { TEST_WEBHOOK_SECRET } from '../../src/platform/config.ts';
import { newId } from '../../src/platform/ids.ts';
import { expectLedgerBalanced } from '../support/ledger.ts';
import { type PaymentsHarness, intentStatus, paymentFor, startPayments } from './harness.ts';

let h: PaymentsHarness;

beforeAll(async () => {
  h = await startPayments();
});
afterEach(async () => {
  await expectLedgerBalanced(h.pool);
});
afterAll(async () => {
  await h?.close();
});

/** A payment waiting for its webhook, and that webhook as the gateway would send it. */
async function pendingAuthorization() {
  const { intentId } = await h.module.api.authorize(paymentFor([{ sellerId: newId(), amount: 1500 }], 'tok_delayed_webhook'));
  const [event] = await h.module.testGateway.eventsFor(intentId);
  if (!event) throw new Error('no webhook made');
  return { intentId, delivery: await h.module.testGateway.signedWebhook(event.eventId) };
}

function post(headers: Record<string, string>, body: string, gateway = 'test') {
  return h.http.inject({ method: 'POST', url: `/v1/payments/webhooks/${gateway}`, headers, payload: body });
}

const status = (intentId: string) => intentStatus(h, intentId);

describe('webhook payloads', () => {
  it('records a payload holding U+0000 or half an emoji (text PostgreSQL json cannot hold) with U+FFFD instead, and applies it', async () => {
    const { intentId, delivery } = await pendingAuthorization();
    // Our reference, echoed with text no json column takes: the payment is found by its charge.
    const body = delivery.body.replace(`"merchantReference":"${intentId}"`, String.raw`"merchantReference":"${intentId} \u0000 \ud83d"`);
    expect(body).not.toBe(delivery.body);
    const headers = { ...delivery.headers, [SIGNATURE_HEADER]: signatureHeader(TEST_WEBHOOK_SECRET, Math.floor(Date.now() / 1000), body) };
    const response = await post(headers, body);
    expect(response.statusCode).toBe(200);
    expect(await status(intentId)).toBe('authorized');
    const { rows } = await h.pool.query("SELECT payload #>> '{data,merchantReference}' AS reference FROM gateway_webhook_events WHERE event_id = $1", [
      delivery.eventId,
    ]);
    expect(rows[0].reference).toBe(`${intentId} \ufffd \ufffd`);
  });
});

describe('webhook size', () => {
  it('answers a body over the webhook limit with 413 naming that limit, 64 KiB, not the server-wide one', async () => {
    const answer = await post({ 'content-type': 'application/json' }, JSON.stringify({ padding: 'x'.repeat(70 * 1024) }));
    expect([answer.statusCode, answer.json().code]).toEqual([413, 'PAYLOAD_TOO_LARGE']);
    expect(answer.json().detail).toBe('the body limit is 65536 bytes');
  });
});

describe('webhook fields that go into columns of their own', () => {
  it('refuses a NUL or a space in the event type, a decline code or a refund reference, or a number past 2^53, with 400, storing nothing: it was a 500, which a gateway retries for ever', async () => {
    const { intentId, delivery } = await pendingAuthorization();
    const parsed = JSON.parse(delivery.body);
    const variants = [
      { ...parsed, type: `${parsed.type}\u0000` },
      { ...parsed, type: 'charge authorized' },
      { ...parsed, data: { ...parsed.data, declineCode: 'do_not\u0000honor' } },
      { ...parsed, data: { ...parsed.data, refundReference: 'RF\u0000x' } },
      // Numbers past what JavaScript holds exactly (they passed as integers).
      { ...parsed, data: { ...parsed.data, amount: 1e308 } },
      { ...parsed, created: 2 ** 63 },
    ];
    for (const variant of variants) {
      const body = JSON.stringify(variant);
      const headers = { ...delivery.headers, [SIGNATURE_HEADER]: signatureHeader(TEST_WEBHOOK_SECRET, Math.floor(Date.now() / 1000), body) };
      const response = await post(headers, body);
      expect([response.statusCode, response.json().code], body).toEqual([400, 'VALIDATION_FAILED']);
    }
    expect(await status(intentId)).toBe('processing');
    const { rows } = await h.pool.query('SELECT count(*)::int AS n FROM gateway_webhook_events WHERE event_id = $1', [delivery.eventId]);
    expect(rows[0].n).toBe(0);
  });
});

describe('webhook signatures', () => {
  it('accepts a correctly signed webhook and applies it', async () => {
    const { intentId, delivery } = await pendingAuthorization();
    const response = await post(delivery.headers, delivery.body);
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ received: true, eventId: delivery.eventId, duplicate: false });
    expect(await status(intentId)).toBe('authorized');
  });

  it('refuses a body changed after signing with 401 and changes nothing', async () => {
    const { intentId, delivery } = await pendingAuthorization();
    const tampered = delivery.body.replace('"amount":1500', '"amount":1');
    expect(tampered).not.toBe(delivery.body);
    const response = await post(delivery.headers, tampered);
    expect(response.statusCode).toBe(401);
    expect(response.json()).toMatchObject({ code: 'INVALID_SIGNATURE' });
    expect(await status(intentId)).toBe('processing');
    const { rows } = await h.pool.query('SELECT count(*)::int AS n FROM gateway_webhook_events WHERE event_id = $1', [delivery.eventId]);
    expect(rows[0].n).toBe(0);
  });

  it('refuses a signature made with another secret with 401', async () => {
    const { intentId, delivery } = await pendingAuthorization();
    const now = Math.floor(Date.now() / 1000);
    const forged = { ...delivery.headers, [SIGNATURE_HEADER]: signatureHeader('whsec_an_attacker_guess_0000', now, delivery.body) };
    expect((await post(forged, delivery.body)).statusCode).toBe(401);
    expect(await status(intentId)).toBe('processing');
  });

  it('refuses a correctly signed webhook whose timestamp is older than the tolerance with 401', async () => {
    const { intentId, delivery } = await pendingAuthorization();
    const stale = await h.module.testGateway.signedWebhook(delivery.eventId, new Date(Date.now() - 6 * 60 * 1000));
    const response = await post(stale.headers, stale.body);
    expect(response.statusCode).toBe(401);
    expect(response.json().detail).toMatch(/tolerance/);
    expect(await status(intentId)).toBe('processing');
    // The same event freshly signed is fine: the tolerance is about the signature, not the event.
    expect((await post(delivery.headers, delivery.body)).statusCode).toBe(200);
  });

  it('refuses a webhook without a signature with 401', async () => {
    const { delivery } = await pendingAuthorization();
    expect((await post({ 'content-type': 'application/json' }, delivery.body)).statusCode).toBe(401);
  });

  it('answers 404 for a gateway it does not know', async () => {
    const { delivery } = await pendingAuthorization();
    expect((await post(delivery.headers, delivery.body, 'nosuchgateway')).statusCode).toBe(404);
  });

  it('acknowledges a duplicate with 200 and changes nothing', async () => {
    const { intentId, delivery } = await pendingAuthorization();
    expect((await post(delivery.headers, delivery.body)).json().duplicate).toBe(false);
    const again = await post(delivery.headers, delivery.body);
    expect(again.statusCode).toBe(200);
    expect(again.json().duplicate).toBe(true);
    const { rows } = await h.pool.query(
      "SELECT count(*)::int AS n FROM payment_transactions WHERE payment_intent_id = $1 AND status = 'succeeded'",
      [intentId],
    );
    expect(rows[0].n).toBe(1);
  });

  it('records a webhook that tells what the call already told in one statement, changing nothing else', async () => {
    const { intentId } = await h.module.api.authorize(paymentFor([{ sellerId: newId(), amount: 1200 }]));
    const [event] = await h.module.testGateway.eventsFor(intentId);
    if (!event) throw new Error('no webhook made');
    const delivery = await h.module.testGateway.signedWebhook(event.eventId);
    const before = await h.module.api.getIntent(intentId);
    const query = vi.spyOn(h.pool, 'query');
    const connect = vi.spyOn(h.pool, 'connect');
    try {
      const response = await post(delivery.headers, delivery.body);
      expect(response.statusCode).toBe(200);
      expect(response.json()).toMatchObject({ received: true, duplicate: false });
      expect(query).toHaveBeenCalledTimes(1);
      expect(connect).toHaveBeenCalledTimes(1);
    } finally {
      query.mockRestore();
      connect.mockRestore();
    }
    expect(await h.module.api.getIntent(intentId)).toEqual(before);
    const { rows } = await h.pool.query('SELECT processed_at FROM gateway_webhook_events WHERE event_id = $1', [event.eventId]);
    expect(rows).toEqual([{ processed_at: expect.any(Date) }]);
    expect((await post(delivery.headers, delivery.body)).json().duplicate).toBe(true);
  });

  it('keeps a webhook for a payment it does not know unprocessed, so that a redelivery is tried again', async () => {
    const { intentId, delivery } = await pendingAuthorization();
    // An event as it would arrive for a payment this side has no record of.
    const unknownIntent = newId();
    const body = delivery.body.replaceAll(intentId, unknownIntent).replace(/"charge":"[^"]+"/, '"charge":"ch_0notknownhere"');
    expect(body).not.toBe(delivery.body);
    const headers = { ...delivery.headers, [SIGNATURE_HEADER]: signatureHeader(TEST_WEBHOOK_SECRET, Math.floor(Date.now() / 1000), body) };
    const recorded = async () =>
      (await h.pool.query('SELECT processed_at, payload FROM gateway_webhook_events WHERE event_id = $1', [delivery.eventId])).rows.map((r) => [
        r.processed_at,
        r.payload.data.merchantReference,
      ]);

    expect((await post(headers, body)).json()).toMatchObject({ duplicate: false });
    expect(await recorded()).toEqual([[null, unknownIntent]]);
    // Delivered again as it was: tried again (not a duplicate), still not found.
    expect((await post(headers, body)).json()).toMatchObject({ duplicate: false });
    expect(await recorded()).toEqual([[null, unknownIntent]]);

    // The same event id with another body (here, naming a payment we know) is not applied: the record
    // would no longer say what was applied (found by a helper: it was, and the first body stayed).
    expect((await post(delivery.headers, delivery.body)).json()).toMatchObject({ duplicate: true });
    expect(await status(intentId)).toBe('processing');
    expect(await recorded()).toEqual([[null, unknownIntent]]);
  });

  it('applies no other body sent under the id of an event already applied, and keeps the first', async () => {
    const { intentId, delivery } = await pendingAuthorization();
    expect((await post(delivery.headers, delivery.body)).json()).toMatchObject({ duplicate: false });
    expect(await status(intentId)).toBe('authorized');
    const other = delivery.body.replace('"type":"charge.authorized"', '"type":"charge.failed"');
    expect(other).not.toBe(delivery.body);
    const headers = { ...delivery.headers, [SIGNATURE_HEADER]: signatureHeader(TEST_WEBHOOK_SECRET, Math.floor(Date.now() / 1000), other) };
    expect((await post(headers, other)).json()).toMatchObject({ duplicate: true });
    expect(await status(intentId)).toBe('authorized');
    const { rows } = await h.pool.query("SELECT payload->>'type' AS type FROM gateway_webhook_events WHERE event_id = $1", [delivery.eventId]);
    expect(rows).toEqual([{ type: 'charge.authorized' }]);
  });

  it('refuses a signed webhook that carries card data, and stores none of it', async () => {
    const body = JSON.stringify({
      id: `evt_${newId().replaceAll('-', '').slice(0, 20)}`,
      type: 'charge.authorized',
      created: Math.floor(Date.now() / 1000),
      data: { charge: 'ch_abc', merchantReference: newId(), amount: 1, currency: 'USD', card: { number: '4242424242424242' } },
    });
    const headers = { 'content-type': 'application/json', [SIGNATURE_HEADER]: signatureHeader(TEST_WEBHOOK_SECRET, Math.floor(Date.now() / 1000), body) };
    const response = await post(headers, body);
    expect(response.statusCode).toBe(400);
    const { rows } = await h.pool.query("SELECT count(*)::int AS n FROM gateway_webhook_events WHERE payload::text LIKE '%4242424242424242%'");
    expect(rows[0].n).toBe(0);
  });
});

describe('webhooks that disagree with what they name', () => {
  /** The event re-signed with `data` changed (and a new event id): what a processor saying something else sends. */
  async function saying(eventId: string, data: Record<string, unknown>) {
    const delivery = await h.module.testGateway.signedWebhook(eventId);
    const parsed = JSON.parse(delivery.body);
    const body = JSON.stringify({ ...parsed, id: `evt_${newId().replaceAll('-', '').slice(0, 24)}`, data: { ...parsed.data, ...data } });
    return { body, headers: { ...delivery.headers, [SIGNATURE_HEADER]: signatureHeader(TEST_WEBHOOK_SECRET, Math.floor(Date.now() / 1000), body) }, eventId: JSON.parse(body).id };
  }
  const refundStatus = async (id: string) => (await readRefundStatus(h.pool, id)).status;
  const processed = async (eventId: string) =>
    (await h.pool.query<{ processed: boolean }>('SELECT processed_at IS NOT NULL AS processed FROM gateway_webhook_events WHERE event_id = $1', [eventId])).rows[0]?.processed;

  it('are kept unprocessed and change nothing: another amount, currency or charge is never taken as the payment (found by a helper: a capture of 1 EUR marked 1500 USD captured)', async () => {
    const { intentId, delivery } = await pendingAuthorization();
    const authorized = JSON.parse(delivery.body).data;
    // A partial authorisation is not the payment authorized.
    const partial = await saying(delivery.eventId, { amount: 1 });
    expect((await post(partial.headers, partial.body)).statusCode).toBe(200);
    expect([await status(intentId), await processed(partial.eventId)]).toEqual(['processing', false]);
    // The processor's own webhook applies.
    expect((await post(delivery.headers, delivery.body)).statusCode).toBe(200);
    expect(await status(intentId)).toBe('authorized');
    // One about a state the payment is past (recorded by one statement when it changes nothing) is
    // not taken as agreeing either: it is kept unprocessed, for a person to see.
    const late = await saying(delivery.eventId, { amount: 7 });
    expect((await post(late.headers, late.body)).statusCode).toBe(200);
    expect([await status(intentId), await processed(late.eventId)]).toEqual(['authorized', false]);
    // A capture in another currency, for another amount, or of another charge captures nothing.
    for (const data of [{ amount: 1, currency: 'EUR' }, { currency: 'EUR' }, { amount: 1499 }, { charge: 'ch_someoneelse0' }]) {
      const captured = await saying(delivery.eventId, data);
      const body = captured.body.replace('"type":"charge.authorized"', '"type":"charge.captured"');
      const headers = { ...captured.headers, [SIGNATURE_HEADER]: signatureHeader(TEST_WEBHOOK_SECRET, Math.floor(Date.now() / 1000), body) };
      expect((await post(headers, body)).statusCode, JSON.stringify(data)).toBe(200);
      expect([await status(intentId), await processed(captured.eventId)], JSON.stringify(data)).toEqual(['authorized', false]);
    }
    expect(authorized.amount).toBe(1500);
  });

  it('about a refund, leave the refund pending when the amount differs, and apply the processor\'s own', async () => {
    const { intentId, delivery } = await pendingAuthorization();
    expect((await post(delivery.headers, delivery.body)).statusCode).toBe(200);
    const orderId = (await h.module.api.getIntent(intentId))?.allocations[0]?.orderId as string;
    const sellerId = (await h.module.api.getIntent(intentId))?.allocations[0]?.sellerId as string;
    await h.module.api.capture(intentId);
    await h.module.testGateway.deliverWebhooks();
    expect(await status(intentId)).toBe('captured');
    const refund = await h.module.api.refund({ idempotencyKey: newId(), orderId, sellerId, amount: 400, reason: 'damaged' });
    expect(refund.status).toBe('pending');
    const event = (await h.module.testGateway.eventsFor(intentId)).find((e) => e.type === 'refund.succeeded');
    const more = await saying(event?.eventId as string, { amount: 1500 });
    expect((await post(more.headers, more.body)).statusCode).toBe(200);
    expect([await refundStatus(refund.refundId), await processed(more.eventId)]).toEqual(['pending', false]);
    expect(await h.module.testGateway.resendWebhook(event?.eventId as string)).toBe(200);
    expect(await refundStatus(refund.refundId)).toBe('succeeded');
  });
});

describe('any success the gateway tells for another amount or currency', () => {
  /** Just what the appliers use: the same path reconciliation (retrieve) and a call's answer take. */
  const deps = (): PaymentsDeps => ({
    pool: h.pool,
    clock: systemClock,
    log: createLogger('silent'),
    gateways: new Map(),
    defaultGateway: 'test',
    commissionBps: 1000,
    wakeWorker: () => undefined,
  });
  const apply = (target: OutcomeTarget, outcome: GatewayOutcome) => withTransaction(h.pool, (tx) => applyOutcome(tx, deps(), target, outcome, null));

  it('is not applied whichever way it came, a retrieve by reconciliation too (found by a review: only webhooks were checked)', async () => {
    const { intentId, delivery } = await pendingAuthorization();
    await expect(apply({ kind: 'authorization', intentId }, { status: 'succeeded', transactionId: 'txn_partial', amount: 700, currency: 'USD' })).rejects.toBeInstanceOf(GatewayDisagreement);
    expect(await status(intentId)).toBe('processing');
    await apply({ kind: 'authorization', intentId }, { status: 'succeeded', transactionId: 'txn_whole', amount: 1500, currency: 'USD' });
    expect(await status(intentId)).toBe('authorized');
    // A capture for another currency marks neither the payment nor its allocations captured.
    await expect(apply({ kind: 'capture', intentId }, { status: 'succeeded', transactionId: 'txn_eur', currency: 'EUR' })).rejects.toBeInstanceOf(GatewayDisagreement);
    expect(await status(intentId)).toBe('authorized');
    const captured = await h.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM payment_allocations WHERE payment_intent_id = $1 AND captured_amount > 0', [intentId]);
    expect(captured.rows[0]?.n).toBe(0);
    expect(JSON.parse(delivery.body).data.amount).toBe(1500);
  });
});
