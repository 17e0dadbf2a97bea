import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type AuthorizeRequest, type GatewayOutcome, sellerPayable } from '../../src/domains/payments/index.ts';
import { ManualClock } from '../../src/platform/clock.ts';
import { newId } from '../../src/platform/ids.ts';
import { expectLedgerBalanced, ledgerBalance } from '../support/ledger.ts';
import { NetworkToTestGateway, type PaymentsHarness, intentStatus, paymentFor, startPayments } from './harness.ts';

/**
 * Reconciliation: an authorization or refund whose outcome the gateway tells only by webhook, when
 * that webhook is lost (tok_webhook_lost), is learned by the payments worker asking the gateway
 * once it is older than PAYMENTS_RECONCILE_AFTER_MS. The clock is moved, never waited for.
 */

/** The test gateway behind a network that loses every authorize request before it reaches the processor. */
class LosesAuthorizations extends NetworkToTestGateway {
  override async authorize(_request: AuthorizeRequest): Promise<GatewayOutcome> {
    throw new Error('connect ETIMEDOUT');
  }
}

const RECONCILE_AFTER_MS = 600_000;
/** Past the age, with room for the time a test takes (rows are stamped by the database's clock). */
const PAST_THE_AGE_MS = RECONCILE_AFTER_MS + 60_000;
const clock = new ManualClock(new Date());
const network = new LosesAuthorizations('loses_authorizations');
let h: PaymentsHarness;

beforeAll(async () => {
  h = await startPayments({ PAYMENTS_RECONCILE_AFTER_MS: String(RECONCILE_AFTER_MS) }, { clock, payments: { gateways: [network] } });
  network.processor = h.module.testGateway;
});
beforeEach(() => {
  clock.set(new Date());
});
afterEach(async () => {
  await expectLedgerBalanced(h.pool);
});
afterAll(async () => {
  await h?.close();
});

const status = (intentId: string) => intentStatus(h, intentId);

/** What happened to an intent, in order: its transactions and its events. */
async function history(intentId: string) {
  const transactions = await h.pool.query<{ t: string }>(
    `SELECT type || ':' || status AS t FROM payment_transactions WHERE payment_intent_id = $1 ORDER BY created_at, id`,
    [intentId],
  );
  const events = await h.pool.query<{ event_type: string }>('SELECT event_type FROM payments_outbox_events WHERE aggregate_id = $1 ORDER BY seq', [
    intentId,
  ]);
  return { transactions: transactions.rows.map((r) => r.t), events: events.rows.map((r) => r.event_type) };
}

async function lostWebhook(intentId: string, type: string) {
  const event = (await h.module.testGateway.eventsFor(intentId)).find((e) => e.type === type);
  if (!event) throw new Error(`the gateway made no ${type} webhook`);
  return event.eventId;
}

describe('an authorization whose webhook is lost', () => {
  it('is asked for once past the reconcile age, so the void asked for while it was processing is sent, and the late webhook changes nothing', async () => {
    const { intentId, status: first } = await h.module.api.authorize(paymentFor([{ sellerId: newId(), amount: 1400 }], 'tok_webhook_lost'));
    expect(first).toBe('processing');
    // The order was cancelled, or the checkout gave up: the void waits for the authorization's outcome.
    expect((await h.module.api.voidPayment(intentId)).status).toBe('processing');
    expect(await h.module.testGateway.deliverWebhooks()).toEqual([]);
    await h.module.runWorkerOnce();
    expect(await status(intentId)).toBe('processing');

    clock.advance(PAST_THE_AGE_MS);
    await h.module.runWorkerOnce();
    expect(await status(intentId)).toBe('voided');
    const { rows } = await h.pool.query('SELECT status FROM test_gateway_charges WHERE merchant_reference = $1', [intentId]);
    expect(rows).toEqual([{ status: 'voided' }]);
    const settled = await history(intentId);
    expect(settled).toEqual({
      transactions: ['authorize:pending', 'void:pending', 'authorize:succeeded', 'void:succeeded'],
      events: ['payments.payment_authorized.v1', 'payments.payment_voided.v1'],
    });

    expect(await h.module.testGateway.resendWebhook(await lostWebhook(intentId, 'charge.authorized'))).toBe(200);
    await h.module.runWorkerOnce();
    expect(await history(intentId)).toEqual(settled);
  });

  it('stays processing when the gateway never received it, and is asked for again an hour later', async () => {
    const input = { ...paymentFor([{ sellerId: newId(), amount: 800 }]), gateway: network.name };
    const { intentId, status: first } = await h.module.api.authorize(input);
    expect(first).toBe('processing');
    clock.advance(PAST_THE_AGE_MS);
    await h.module.runWorkerOnce();
    // Not failed: the request may still arrive, and a hold applied to a failed intent would never be voided.
    expect(await status(intentId)).toBe('processing');
    expect((await history(intentId)).transactions).toEqual(['authorize:pending']);

    // It arrives after all (a retry under the same key, straight to the processor): the next question finds it.
    await h.module.testGateway.authorize({ idempotencyKey: `authorize:${intentId}`, merchantReference: intentId, amount: 800, currency: 'USD', token: 'tok_visa' });
    // Not asked again within the hour (after a gateway outage there may be many such requests)…
    clock.advance(10 * 60_000);
    await h.module.runWorkerOnce();
    expect(await status(intentId)).toBe('processing');
    // …then asked, and found.
    clock.advance(60 * 60_000);
    await h.module.runWorkerOnce();
    expect(await status(intentId)).toBe('authorized');
  });
});

describe('a void waiting behind an authorization the gateway had not received', () => {
  it('is sent at the next pass once the authorization arrives after all, not an hour later', async () => {
    const { intentId } = await h.module.api.authorize({ ...paymentFor([{ sellerId: newId(), amount: 900 }]), gateway: network.name });
    expect((await h.module.api.voidPayment(intentId)).status).toBe('processing');
    clock.advance(PAST_THE_AGE_MS);
    await h.module.runWorkerOnce(); // the gateway never received it: asked again in an hour
    expect(await status(intentId)).toBe('processing');
    // It reaches the processor after all, and the processor's webhook reaches payments.
    await h.module.testGateway.authorize({ idempotencyKey: `authorize:${intentId}`, merchantReference: intentId, amount: 900, currency: 'USD', token: 'tok_visa' });
    const authorized = await lostWebhook(intentId, 'charge.authorized');
    const delivery = await h.module.testGateway.signedWebhook(authorized, clock.now());
    const answer = await h.request('POST', `/v1/payments/webhooks/${network.name}`, { headers: delivery.headers as Record<string, string>, body: delivery.body });
    expect(answer.statusCode).toBe(200);
    clock.advance(60_000);
    await h.module.runWorkerOnce();
    expect(await status(intentId)).toBe('voided');
  });
});

describe('a refund whose webhook is lost', () => {
  async function capturedOrder(amount: number) {
    const sellerId = newId();
    const input = paymentFor([{ sellerId, amount }], 'tok_webhook_lost');
    const { intentId } = await h.module.api.authorize(input);
    // Checkout asks again under the same key while it waits: that already tells an authorization.
    expect((await h.module.api.authorize(input)).status).toBe('authorized');
    expect((await h.module.api.capture(intentId)).status).toBe('captured');
    return { intentId, sellerId, orderId: input.allocations[0]?.orderId as string };
  }

  it('is asked for once past the reconcile age (a re-send only replays pending), and the late webhook changes nothing', async () => {
    const order = await capturedOrder(1000);
    const refund = await h.module.api.refund({ idempotencyKey: newId(), orderId: order.orderId, sellerId: order.sellerId, amount: 300, reason: 'damaged' });
    expect(refund.status).toBe('pending');
    await h.module.runWorkerOnce();
    clock.advance(60_000);
    await h.module.runWorkerOnce();
    expect((await h.module.api.refund({ idempotencyKey: newId(), orderId: order.orderId, sellerId: order.sellerId, amount: 701, reason: 'x' }).catch((e) => e)).code).toBe(
      'REFUND_EXCEEDS_CAPTURED',
    );
    // The API asks what its HTTP routes ask of a reason (found by a helper: blank text was kept for good).
    for (const reason of ['   ', '\u200b']) {
      const blank = await h.module.api.refund({ idempotencyKey: newId(), orderId: order.orderId, sellerId: order.sellerId, amount: 1, reason }).catch((e) => e);
      expect([blank.code, blank.detail], JSON.stringify(reason)).toEqual(['VALIDATION_FAILED', expect.stringContaining('/reason')]);
    }

    clock.advance(PAST_THE_AGE_MS);
    await h.module.runWorkerOnce();
    const { rows: outcome } = await h.pool.query("SELECT count(*)::int AS n FROM payment_transactions WHERE refund_id = $1 AND status = 'succeeded'", [refund.refundId]);
    expect(outcome[0].n).toBe(1);
    expect(await ledgerBalance(h.pool, sellerPayable(order.sellerId))).toEqual({ USD: 900 - 270 });
    const settled = await history(order.intentId);
    expect(settled.events).toContain('payments.refund_succeeded.v1');
    expect(await status(order.intentId)).toBe('partially_refunded');

    expect(await h.module.testGateway.resendWebhook(await lostWebhook(order.intentId, 'refund.succeeded'))).toBe(200);
    expect(await history(order.intentId)).toEqual(settled);
    const { rows: journals } = await h.pool.query("SELECT count(*)::int AS n FROM ledger_journals WHERE kind = 'refund_succeeded' AND reference_id = $1", [
      refund.refundId,
    ]);
    expect(journals[0].n).toBe(1);
  });

  it('is sent, under its key, when the gateway never received it', async () => {
    const order = await capturedOrder(600);
    // Recorded by a cancelled order, for the worker to send: it has not been sent yet.
    expect(await h.module.releaseOrderPayment({ orderId: order.orderId, reason: 'buyer cancelled', cancelledBy: null })).toMatchObject({ refunds: 1 });
    clock.advance(PAST_THE_AGE_MS);
    await h.module.runWorkerOnce();
    const { rows } = await h.pool.query<{ sent: number }>(
      `SELECT (SELECT count(*)::int FROM test_gateway_requests g WHERE g.idempotency_key = 'refund:' || r.id) AS sent
         FROM refunds r WHERE r.payment_intent_id = $1`,
      [order.intentId],
    );
    expect(rows).toEqual([{ sent: 1 }]);
  });
});
