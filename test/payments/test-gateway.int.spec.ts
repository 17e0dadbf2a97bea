import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { WebhookDelivery } from '../../src/domains/payments/index.ts';
import { newId } from '../../src/platform/ids.ts';
import { deferred } from '../support/deferred.ts';
import { eventually } from '../support/eventually.ts';
import { expectLedgerBalanced } from '../support/ledger.ts';
import { type PaymentsHarness, type PaymentsProcess, paymentFor, startPayments } from './harness.ts';

/**
 * The built-in test gateway stands for a remote card processor: its state lives in its own tables
 * of payments_db, not in the memory of the process that called it, so another process (or the same
 * one after a restart) carries on with the charges, the idempotency keys and the webhooks.
 */
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

/** Runs `work` in a payments process that is then gone (closed: nothing of its memory is left). */
async function inAProcessThatIsGone<T>(work: (p: PaymentsProcess) => Promise<T>): Promise<T> {
  const gone = await h.anotherProcess();
  try {
    return await work(gone);
  } finally {
    await gone.close();
  }
}

async function charge(intentId: string) {
  const { rows } = await h.pool.query<{ status: string; refunded_amount: number }>(
    'SELECT status, refunded_amount FROM test_gateway_charges WHERE merchant_reference = $1',
    [intentId],
  );
  return rows;
}

/** The absence of a delivery can only be observed by waiting past the moment it was due. */
const waitPast = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('the test gateway after a restart', () => {
  it('captures and refunds, in a fresh process, a payment authorized by a process that is gone', async () => {
    const sellerId = newId();
    const input = paymentFor([{ sellerId, amount: 2000 }]);
    const { intentId, status } = await inAProcessThatIsGone((p) => p.module.api.authorize(input));
    expect(status).toBe('authorized');

    expect(await h.module.api.capture(intentId)).toEqual({ intentId, status: 'captured' });
    const refund = await h.module.api.refund({
      idempotencyKey: newId(),
      orderId: input.allocations[0]?.orderId as string,
      sellerId,
      amount: 500,
      reason: 'damaged',
    });
    expect(refund.status).toBe('succeeded');
    expect(await charge(intentId)).toEqual([{ status: 'captured', refunded_amount: 500 }]);
  });

  it('voids, in a fresh process, an authorization made by a process that is gone', async () => {
    const { intentId } = await inAProcessThatIsGone((p) => p.module.api.authorize(paymentFor([{ sellerId: newId(), amount: 700 }])));
    expect(await h.module.api.voidPayment(intentId)).toEqual({ intentId, status: 'voided' });
    expect(await charge(intentId)).toEqual([{ status: 'voided', refunded_amount: 0 }]);
  });

  it('learns, in a fresh process, the real outcome of an authorization that timed out in a process that is gone', async () => {
    const input = paymentFor([{ sellerId: newId(), amount: 1300 }], 'tok_timeout');
    const first = await inAProcessThatIsGone((p) => p.module.api.authorize(input));
    expect(first.status).toBe('processing');
    expect(await h.module.api.authorize(input)).toEqual({ intentId: first.intentId, status: 'authorized' });
    expect((await h.module.api.capture(first.intentId)).status).toBe('captured');
    // One charge at the processor, whoever asked.
    expect(await charge(first.intentId)).toHaveLength(1);
  });

  it('sends, from a fresh process, the webhooks that a process that is gone had not sent yet', async () => {
    const { intentId } = await inAProcessThatIsGone((p) =>
      p.module.api.authorize(paymentFor([{ sellerId: newId(), amount: 900 }], 'tok_delayed_webhook')),
    );
    expect(await h.module.testGateway.pendingWebhooks()).toContainEqual(expect.objectContaining({ type: 'charge.authorized' }));
    expect(await h.module.testGateway.deliverWebhooks()).toContain(200);
    expect((await h.module.api.getIntent(intentId))?.status).toBe('authorized');
    expect(await h.module.testGateway.pendingWebhooks()).toEqual([]);
  });

  it('takes up, when a process starts in auto mode, the webhooks left waiting by a process that is gone', async () => {
    const { intentId } = await inAProcessThatIsGone((p) =>
      p.module.api.authorize(paymentFor([{ sellerId: newId(), amount: 950 }], 'tok_delayed_webhook')),
    );
    const next = await h.anotherProcess();
    next.module.testGateway.webhookMode = 'auto';
    next.module.testGateway.webhookDelayMs = 0;
    await next.module.testGateway.start();
    await eventually(async () => expect((await h.module.api.getIntent(intentId))?.status).toBe('authorized'));
    await next.close();
  });

  it('makes one charge when two processes send the same authorization at the same time', async () => {
    const other = await h.anotherProcess();
    const request = { idempotencyKey: `authorize:${newId()}`, merchantReference: newId(), amount: 1100, currency: 'USD', token: 'tok_visa' };
    const answers = await Promise.all(
      Array.from({ length: 6 }, (_, i) => (i % 2 === 0 ? h.module.testGateway : other.module.testGateway).authorize(request)),
    );
    for (const answer of answers) expect(answer).toEqual(answers[0]);
    expect(answers[0]).toMatchObject({ status: 'succeeded', chargeReference: expect.stringMatching(/^ch_/) });
    expect(await charge(request.merchantReference)).toHaveLength(1);
    expect(await h.module.testGateway.eventsFor(request.merchantReference)).toEqual([expect.objectContaining({ type: 'charge.authorized' })]);
    await expect(other.module.testGateway.authorize({ ...request, amount: 1 })).rejects.toThrow(/idempotency key reused/);
  });
});

describe('the test gateway under concurrent requests with one key', () => {
  it('captures a charge once when two processes send the same capture at the same time', async () => {
    const other = await h.anotherProcess();
    const merchantReference = newId();
    const authorized = await h.module.testGateway.authorize({
      idempotencyKey: `authorize:${merchantReference}`,
      merchantReference,
      amount: 2500,
      currency: 'USD',
      token: 'tok_visa',
    });
    if (authorized.status !== 'succeeded') throw new Error(`the authorization was ${authorized.status}`);
    const request = { idempotencyKey: `capture:${merchantReference}`, chargeReference: String(authorized.chargeReference), amount: 2500, currency: 'USD' };
    const answers = await Promise.all(Array.from({ length: 6 }, (_, i) => (i % 2 === 0 ? h.module.testGateway : other.module.testGateway).capture(request)));
    for (const answer of answers) expect(answer).toEqual(answers[0]);
    expect(answers[0]).toMatchObject({ status: 'succeeded', transactionId: expect.stringMatching(/^txn_/) });
    expect(await charge(merchantReference)).toEqual([expect.objectContaining({ status: 'captured' })]);
    const events = await h.module.testGateway.eventsFor(merchantReference);
    expect(events.filter((e) => e.type === 'charge.captured')).toHaveLength(1);
    await expect(other.module.testGateway.capture({ ...request, amount: 1 })).rejects.toThrow(/idempotency key reused/);
  });
});

describe('stopping the test gateway', () => {
  /** The payment's authorization webhook waits in the queue, and a later delivery takes it out. */
  async function expectQueuedThenDelivered(intentId: string) {
    const [event] = await h.module.testGateway.eventsFor(intentId);
    const queued = { eventId: event?.eventId, type: 'charge.authorized' };
    expect(await h.module.testGateway.pendingWebhooks()).toContainEqual(queued);
    expect(await h.module.testGateway.deliverWebhooks()).toContain(200);
    expect(await h.module.testGateway.pendingWebhooks()).not.toContainEqual(queued);
  }

  /** Stops `p`, checks that the stop waits while a delivery is held, then lets it go and waits for the stop. */
  async function expectStopToWaitFor(p: PaymentsProcess, held: { resolve: () => void }) {
    let stopped = false;
    const stopping = p.module.stop?.().then(() => {
      stopped = true;
    });
    await waitPast(50);
    expect(stopped).toBe(false);
    held.resolve();
    await stopping;
  }

  /** A process sending its webhooks by itself (auto mode) after delayMs, to a sink that counts them. */
  async function autoProcess(delayMs: number, answer: (delivery: WebhookDelivery) => Promise<number> = async () => 200) {
    const p = await h.anotherProcess();
    const sent: string[] = [];
    p.module.testGateway.webhookMode = 'auto';
    p.module.testGateway.webhookDelayMs = delayMs;
    p.module.testGateway.connect(async (delivery) => {
      sent.push(delivery.eventId);
      return answer(delivery);
    });
    return { p, sent };
  }

  it('sends no webhook after the module stopped, and leaves it queued for another process', async () => {
    // The webhook's timer is armed when the gateway commits, inside authorize; its delay must outlast
    // the rest of authorize even on a loaded machine (50 ms did not, in a full CI run), and the wait
    // after stop must outlast the delay.
    const { p, sent } = await autoProcess(1500);
    const { intentId } = await p.module.api.authorize(paymentFor([{ sellerId: newId(), amount: 400 }]));
    expect(sent, 'the webhook went before the module was stopped: the premise of this test').toEqual([]);
    await p.module.stop?.();
    await waitPast(1700);
    expect(sent).toEqual([]);
    const [event] = await h.module.testGateway.eventsFor(intentId);
    expect(await h.module.testGateway.pendingWebhooks()).toContainEqual({ eventId: event?.eventId, type: 'charge.authorized' });
    await p.close();
    expect(await h.module.testGateway.deliverWebhooks()).toContain(200);
  });

  it('stops sending webhooks when the HTTP app closes, before the module is stopped', async () => {
    // The module's own sink (its app), as in the running marketplace, which closes the app first.
    const p = await h.anotherProcess();
    p.module.testGateway.webhookMode = 'auto';
    // As above: the delay outlasts the rest of authorize, the wait outlasts the delay.
    p.module.testGateway.webhookDelayMs = 1500;
    const { intentId } = await p.module.api.authorize(paymentFor([{ sellerId: newId(), amount: 410 }]));
    await p.http.close();
    await waitPast(1700);
    // Not taken from the queue and sent into a closed app ("Fastify has already been closed").
    const [event] = await h.module.testGateway.eventsFor(intentId);
    expect(await h.module.testGateway.pendingWebhooks()).toContainEqual({ eventId: event?.eventId, type: 'charge.authorized' });
    await p.close();
    expect(await h.module.testGateway.deliverWebhooks()).toContain(200);
  });

  it('arms no retry of a failed webhook after the module stopped, and puts it back in the queue for the next start', async () => {
    const { p, sent } = await autoProcess(0, async () => 503);
    const { intentId } = await p.module.api.authorize(paymentFor([{ sellerId: newId(), amount: 420 }]));
    await eventually(() => expect(sent).toHaveLength(1));
    await p.module.stop?.();
    // The first retry was due 100 ms after the failure.
    await waitPast(300);
    expect(sent).toHaveLength(1);
    await expectQueuedThenDelivered(intentId);
    await p.close();
  });

  it('puts a webhook whose delivery fails while stopping back in the queue (the closing app refused it), not taken and sent by no one', async () => {
    const released = deferred();
    // As the module's own sink answers once its app has begun to close: "Fastify has already been closed".
    const { p, sent } = await autoProcess(0, async () => {
      await released.promise;
      throw new Error('Fastify has already been closed');
    });
    const { intentId } = await p.module.api.authorize(paymentFor([{ sellerId: newId(), amount: 425 }]));
    await eventually(() => expect(sent).toHaveLength(1));
    const stopping = p.module.stop?.();
    released.resolve();
    await stopping;
    await expectQueuedThenDelivered(intentId);
    await p.close();
  });

  it('waits, when stopping, for a webhook delivery under way to finish', async () => {
    const released = deferred();
    let finished = false;
    const { p, sent } = await autoProcess(0, async () => {
      await released.promise;
      finished = true;
      return 200;
    });
    await p.module.api.authorize(paymentFor([{ sellerId: newId(), amount: 430 }]));
    await eventually(() => expect(sent).toHaveLength(1));
    await expectStopToWaitFor(p, released);
    expect(finished).toBe(true);
    await p.close();
  });

  it('waits, when stopping, for both copies of a duplicated webhook, also when one fails at once (found by a review: the other was still being sent)', async () => {
    const released = deferred();
    let copies = 0;
    let finished = false;
    const { p, sent } = await autoProcess(0, async () => {
      copies++;
      if (copies === 1) throw new Error('Fastify has already been closed');
      await released.promise;
      finished = true;
      return 200;
    });
    const { intentId } = await p.module.api.authorize(paymentFor([{ sellerId: newId(), amount: 435 }], 'tok_duplicate_webhook'));
    await eventually(() => expect(sent).toHaveLength(2));
    await expectStopToWaitFor(p, released);
    expect(finished).toBe(true);
    // The failed copy's event went back in the queue, as any delivery failing while stopping.
    await expectQueuedThenDelivered(intentId);
    await p.close();
  });
});

describe('asking the test gateway for an outcome (retrieve)', () => {
  /** A captured payment of one order, made with `token` (a tok_webhook_lost one learns its authorization by a retry). */
  async function captured(token: string, amount = 1000) {
    const sellerId = newId();
    const input = paymentFor([{ sellerId, amount }], token);
    const { intentId } = await h.module.api.authorize(input);
    expect((await h.module.api.authorize(input)).status).toBe('authorized');
    expect((await h.module.api.capture(intentId)).status).toBe('captured');
    await h.module.testGateway.deliverWebhooks();
    const { rows } = await h.pool.query<{ gateway_reference: string }>('SELECT gateway_reference FROM payment_intents WHERE id = $1', [intentId]);
    return { intentId, sellerId, orderId: input.allocations[0]?.orderId as string, chargeReference: rows[0]?.gateway_reference as string };
  }

  it('tells the outcome of an authorization whose call timed out and whose webhook is lost, and not_found for a key it never got', async () => {
    const { intentId, status } = await h.module.api.authorize(paymentFor([{ sellerId: newId(), amount: 1200 }], 'tok_webhook_lost'));
    expect(status).toBe('processing');
    // The webhook was made and lost: nothing waits to be sent, nothing is delivered.
    expect(await h.module.testGateway.eventsFor(intentId)).toEqual([expect.objectContaining({ type: 'charge.authorized' })]);
    expect(await h.module.testGateway.pendingWebhooks()).toEqual([]);
    expect(await h.module.testGateway.deliverWebhooks()).toEqual([]);
    expect((await h.module.api.getIntent(intentId))?.status).toBe('processing');

    const [processorCharge] = await h.pool.query<{ id: string }>('SELECT id FROM test_gateway_charges WHERE merchant_reference = $1', [intentId]).then((r) => r.rows);
    expect(
      await h.module.testGateway.retrieve({ operation: 'authorization', idempotencyKey: `authorize:${intentId}`, merchantReference: intentId }),
    ).toEqual({ status: 'succeeded', transactionId: expect.stringMatching(/^txn_/), chargeReference: processorCharge?.id, amount: 1200, currency: 'USD' });
    const never = newId();
    expect(await h.module.testGateway.retrieve({ operation: 'authorization', idempotencyKey: `authorize:${never}`, merchantReference: never })).toEqual({
      status: 'not_found',
    });
    await expect(
      h.module.testGateway.retrieve({ operation: 'authorization', idempotencyKey: `authorize:${intentId}`, merchantReference: never }),
    ).rejects.toThrow(/another operation/);
  });

  it('tells the outcome of a pending refund whose webhook is lost', async () => {
    const order = await captured('tok_webhook_lost');
    const refund = await h.module.api.refund({ idempotencyKey: newId(), orderId: order.orderId, sellerId: order.sellerId, amount: 300, reason: 'damaged' });
    expect(refund.status).toBe('pending');
    expect(await h.module.testGateway.deliverWebhooks()).toEqual([]);
    const asked = { operation: 'refund', idempotencyKey: `refund:${refund.refundId}`, chargeReference: order.chargeReference, refundReference: refund.reference } as const;
    // Like a processor's refund object, the answer names what was refunded: reconciliation checks it.
    expect(await h.module.testGateway.retrieve(asked)).toEqual({ status: 'succeeded', transactionId: expect.stringMatching(/^txn_/), amount: 300, currency: 'USD' });
    // Asking is reading: the refund is still pending on the marketplace's side.
    expect((await h.module.api.refund({ idempotencyKey: newId(), orderId: order.orderId, sellerId: order.sellerId, amount: 701, reason: 'x' }).catch((e) => e)).code).toBe(
      'REFUND_EXCEEDS_CAPTURED',
    );
  });

  it('delivers every webhook of a tok_duplicate_webhook charge twice at once, and each takes effect once', async () => {
    const order = await captured('tok_duplicate_webhook');
    const refund = await h.module.api.refund({ idempotencyKey: newId(), orderId: order.orderId, sellerId: order.sellerId, amount: 400, reason: 'damaged' });
    expect(refund.status).toBe('succeeded');
    const events = await h.module.testGateway.eventsFor(order.intentId);
    expect(events.map((e) => e.type)).toEqual(['charge.authorized', 'charge.captured', 'refund.succeeded']);
    // The first two were delivered by captured(); the refund's now, both copies, each acknowledged.
    expect(await h.module.testGateway.deliverWebhooks()).toEqual([200, 200]);
    const { rows: recorded } = await h.pool.query<{ event_id: string; processed: boolean }>(
      'SELECT event_id, processed_at IS NOT NULL AS processed FROM gateway_webhook_events WHERE event_id = ANY($1) ORDER BY event_id',
      [events.map((e) => e.eventId)],
    );
    expect(recorded).toEqual(events.map((e) => ({ event_id: e.eventId, processed: true })).sort((a, b) => (a.event_id < b.event_id ? -1 : 1)));
    const { rows: moves } = await h.pool.query<{ type: string; status: string; n: number }>(
      'SELECT type, status, count(*)::int AS n FROM payment_transactions WHERE payment_intent_id = $1 GROUP BY type, status ORDER BY type, status',
      [order.intentId],
    );
    // Each move once: its pending row (written before the call) and its outcome.
    expect(moves).toEqual(
      ['authorize', 'capture', 'refund'].flatMap((type) => [
        { type, status: 'pending', n: 1 },
        { type, status: 'succeeded', n: 1 },
      ]),
    );
    expect(await h.module.api.getIntent(order.intentId)).toMatchObject({ status: 'partially_refunded', refundedAmount: 400 });
  });

  it('answers a refund of tok_refund_fails_later pending, then declines it by webhook, and tells the decline when asked', async () => {
    const order = await captured('tok_refund_fails_later');
    const refund = await h.module.api.refund({ idempotencyKey: newId(), orderId: order.orderId, sellerId: order.sellerId, amount: 400, reason: 'damaged' });
    expect(refund.status).toBe('pending');
    const asked = { operation: 'refund', idempotencyKey: `refund:${refund.refundId}`, chargeReference: order.chargeReference, refundReference: refund.reference } as const;
    expect(await h.module.testGateway.retrieve(asked)).toEqual({ status: 'declined', code: 'refund_declined', transactionId: expect.stringMatching(/^txn_/) });
    expect(await h.module.testGateway.pendingWebhooks()).toEqual([expect.objectContaining({ type: 'refund.failed' })]);
    expect(await h.module.testGateway.deliverWebhooks()).toEqual([200]);
    const intent = await h.module.api.getIntent(order.intentId);
    expect(intent).toMatchObject({ status: 'captured', refundedAmount: 0 });
    const { rows } = await h.pool.query('SELECT status, failure_code FROM payment_transactions WHERE refund_id = $1 ORDER BY created_at, id', [refund.refundId]);
    expect(rows).toEqual([
      { status: 'pending', failure_code: null },
      { status: 'failed', failure_code: 'refund_declined' },
    ]);
  });
});
