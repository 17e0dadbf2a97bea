import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { GATEWAY_CLEARING, PLATFORM_COMMISSION, sellerPayable } from '../../src/domains/payments/index.ts';
import { newId } from '../../src/platform/ids.ts';
import { expectLedgerBalanced, ledgerBalance } from '../support/ledger.ts';
import { type PaymentsHarness, paymentFor, startPayments } from './harness.ts';

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

async function transactions(intentId: string) {
  const { rows } = await h.pool.query<{ type: string; status: string; failure_code: string | null }>(
    'SELECT type, status, failure_code FROM payment_transactions WHERE payment_intent_id = $1 ORDER BY created_at, id',
    [intentId],
  );
  return rows.map((r) => `${r.type}:${r.status}${r.failure_code ? `:${r.failure_code}` : ''}`);
}

async function events(intentId: string) {
  const { rows } = await h.pool.query<{ event_type: string }>(
    'SELECT event_type FROM payments_outbox_events WHERE aggregate_id = $1 ORDER BY seq',
    [intentId],
  );
  return rows.map((r) => r.event_type);
}

describe('the test gateway', () => {
  it('authorizes a tok_visa payment at once and says so by event, with every allocation', async () => {
    const input = paymentFor([
      { sellerId: newId(), amount: 2500 },
      { sellerId: newId(), amount: 700 },
    ]);
    const result = await h.module.api.authorize(input);
    expect(result.status).toBe('authorized');
    expect(await transactions(result.intentId)).toEqual(['authorize:pending', 'authorize:succeeded']);
    expect(await events(result.intentId)).toEqual(['payments.payment_authorized.v1']);
    const { rows } = await h.pool.query<{ payload: { amount: number; allocations: unknown[] } }>(
      'SELECT payload FROM payments_outbox_events WHERE aggregate_id = $1',
      [result.intentId],
    );
    expect(rows[0]?.payload).toMatchObject({ amount: 3200, allocations: input.allocations });
    const intent = await h.module.api.getIntent(result.intentId);
    expect(intent).toMatchObject({ status: 'authorized', amount: 3200, capturedAmount: 0, refundedAmount: 0 });
  });

  it('fails a tok_decline payment with card_declined', async () => {
    const result = await h.module.api.authorize(paymentFor([{ sellerId: newId(), amount: 900 }], 'tok_decline'));
    expect(result).toMatchObject({ status: 'failed', declineCode: 'card_declined' });
    expect(await transactions(result.intentId)).toEqual(['authorize:pending', 'authorize:failed:card_declined']);
    expect(await events(result.intentId)).toEqual(['payments.payment_failed.v1']);
  });

  it('fails a tok_insufficient_funds payment with insufficient_funds', async () => {
    const result = await h.module.api.authorize(paymentFor([{ sellerId: newId(), amount: 900 }], 'tok_insufficient_funds'));
    expect(result).toMatchObject({ status: 'failed', declineCode: 'insufficient_funds' });
    await expect(h.module.api.capture(result.intentId)).rejects.toMatchObject({ code: 'INVALID_STATE_TRANSITION' });
  });

  it('leaves a timed-out authorization processing until the webhook tells the real outcome', async () => {
    h.module.testGateway.webhookMode = 'manual';
    const result = await h.module.api.authorize(paymentFor([{ sellerId: newId(), amount: 1200 }], 'tok_timeout'));
    expect(result.status).toBe('processing');
    expect(await transactions(result.intentId)).toEqual(['authorize:pending']);
    await expect(h.module.api.capture(result.intentId)).rejects.toMatchObject({ code: 'INVALID_STATE_TRANSITION' });

    const statuses = await h.module.testGateway.deliverWebhooks();
    expect(statuses.every((s) => s === 200)).toBe(true);
    expect((await h.module.api.getIntent(result.intentId))?.status).toBe('authorized');
    expect(await events(result.intentId)).toEqual(['payments.payment_authorized.v1']);
    expect((await h.module.api.capture(result.intentId)).status).toBe('captured');
  });

  it('learns a timed-out outcome when the caller retries with the same key', async () => {
    const input = paymentFor([{ sellerId: newId(), amount: 1300 }], 'tok_timeout');
    const first = await h.module.api.authorize(input);
    expect(first.status).toBe('processing');
    const retry = await h.module.api.authorize(input);
    expect(retry).toEqual({ intentId: first.intentId, status: 'authorized' });
    await h.module.testGateway.deliverWebhooks();
    expect(await transactions(first.intentId)).toEqual(['authorize:pending', 'authorize:succeeded']);
  });

  it('keeps a tok_delayed_webhook payment processing until its delayed webhook arrives', async () => {
    const result = await h.module.api.authorize(paymentFor([{ sellerId: newId(), amount: 700 }], 'tok_delayed_webhook'));
    expect(result.status).toBe('processing');
    const { rows } = await h.pool.query('SELECT gateway_reference FROM payment_intents WHERE id = $1', [result.intentId]);
    expect(rows[0].gateway_reference).toMatch(/^ch_/);
    await h.module.testGateway.deliverWebhooks();
    expect((await h.module.api.getIntent(result.intentId))?.status).toBe('authorized');
  });

  it('applies a duplicated webhook once', async () => {
    const result = await h.module.api.authorize(paymentFor([{ sellerId: newId(), amount: 800 }], 'tok_delayed_webhook'));
    const [authorized] = await h.module.testGateway.eventsFor(result.intentId);
    await h.module.testGateway.deliverWebhooks();
    expect(await h.module.testGateway.resendWebhook(authorized?.eventId as string)).toBe(200);
    expect(await h.module.testGateway.resendWebhook(authorized?.eventId as string)).toBe(200);
    expect(await transactions(result.intentId)).toEqual(['authorize:pending', 'authorize:succeeded']);
    expect(await events(result.intentId)).toEqual(['payments.payment_authorized.v1']);

    await h.module.api.capture(result.intentId);
    await h.module.testGateway.deliverWebhooks();
    const captured = (await h.module.testGateway.eventsFor(result.intentId)).find((e) => e.type === 'charge.captured');
    await h.module.testGateway.resendWebhook(captured?.eventId as string);
    const journals = await h.pool.query('SELECT kind FROM ledger_journals WHERE reference_id = $1', [result.intentId]);
    expect(journals.rows).toEqual([{ kind: 'payment_captured' }]);
  });

  it('refuses an unknown token as a decline, not as an error', async () => {
    const result = await h.module.api.authorize(paymentFor([{ sellerId: newId(), amount: 100 }], 'tok_unknown_thing'));
    expect(result).toMatchObject({ status: 'failed', declineCode: 'invalid_payment_method' });
  });
});

describe('idempotent authorization', () => {
  it('returns the same intent for the same key and body', async () => {
    const input = paymentFor([{ sellerId: newId(), amount: 1000 }]);
    const first = await h.module.api.authorize(input);
    const again = await h.module.api.authorize(input);
    expect(again).toEqual(first);
    const { rows } = await h.pool.query('SELECT count(*)::int AS n FROM payment_intents WHERE idempotency_key = $1', [input.idempotencyKey]);
    expect(rows[0].n).toBe(1);
  });

  it('refuses the same key with another body', async () => {
    const input = paymentFor([{ sellerId: newId(), amount: 1000 }]);
    await h.module.api.authorize(input);
    const other = { ...input, amount: 1001, allocations: [{ ...input.allocations[0], amount: 1001 }] } as typeof input;
    await expect(h.module.api.authorize(other)).rejects.toMatchObject({ code: 'IDEMPOTENCY_KEY_REUSED' });
  });

  it('makes one intent and one charge out of ten concurrent duplicates', async () => {
    const input = paymentFor([{ sellerId: newId(), amount: 4200 }]);
    const results = await Promise.all(Array.from({ length: 10 }, () => h.module.api.authorize(input)));
    expect(new Set(results.map((r) => r.intentId)).size).toBe(1);
    const intentId = results[0]?.intentId as string;
    expect(await transactions(intentId)).toEqual(['authorize:pending', 'authorize:succeeded']);
    expect((await h.module.testGateway.eventsFor(intentId)).filter((e) => e.type === 'charge.authorized')).toHaveLength(1);
  });

  it('never accepts card numbers or security codes, and stores nothing when it refuses', async () => {
    const input = paymentFor([{ sellerId: newId(), amount: 500 }]);
    const withCard = { ...input, paymentMethod: { token: 'tok_visa', number: '4242424242424242', cvc: '123' } };
    await expect(h.module.api.authorize(withCard as typeof input)).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
    const panAsToken = { ...input, paymentMethod: { token: '4242 4242 4242 4242' } };
    await expect(h.module.api.authorize(panAsToken)).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
    const { rows } = await h.pool.query('SELECT count(*)::int AS n FROM payment_intents WHERE idempotency_key = $1', [input.idempotencyKey]);
    expect(rows[0].n).toBe(0);
  });

  it('takes an all-digit idempotency key for a key, not for a card number', async () => {
    const input = { ...paymentFor([{ sellerId: newId(), amount: 500 }]), idempotencyKey: String(Date.now()).padEnd(16, '7') };
    expect((await h.module.api.authorize(input)).status).toBe('authorized');
  });

  it('refuses allocations that do not add up to the amount', async () => {
    const input = paymentFor([{ sellerId: newId(), amount: 500 }]);
    await expect(h.module.api.authorize({ ...input, amount: 600 })).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
  });
});

describe('capture and void', () => {
  it('captures once, posting the seller payable and the commission', async () => {
    const [sellerA, sellerB] = [newId(), newId()];
    const { intentId } = await h.module.api.authorize(paymentFor([{ sellerId: sellerA, amount: 1999 }, { sellerId: sellerB, amount: 1001 }]));
    const before = await ledgerBalance(h.pool, PLATFORM_COMMISSION);
    const captured = await Promise.all([h.module.api.capture(intentId), h.module.api.capture(intentId)]);
    expect(captured.map((c) => c.status)).toEqual(['captured', 'captured']);
    expect(await ledgerBalance(h.pool, sellerPayable(sellerA))).toEqual({ USD: 1999 - 199 });
    expect(await ledgerBalance(h.pool, sellerPayable(sellerB))).toEqual({ USD: 1001 - 100 });
    expect((await ledgerBalance(h.pool, PLATFORM_COMMISSION)).USD).toBe((before.USD ?? 0) + 299);
    expect(await events(intentId)).toEqual(['payments.payment_authorized.v1', 'payments.payment_captured.v1']);
    const intent = await h.module.api.getIntent(intentId);
    expect(intent?.allocations.map((a) => a.capturedAmount)).toEqual([1999, 1001]);
    await expect(h.module.api.voidPayment(intentId)).rejects.toMatchObject({ code: 'INVALID_STATE_TRANSITION' });
  });

  it('voids an authorization once, and moves no money', async () => {
    const { intentId } = await h.module.api.authorize(paymentFor([{ sellerId: newId(), amount: 650 }]));
    const clearing = await ledgerBalance(h.pool, GATEWAY_CLEARING);
    expect((await h.module.api.voidPayment(intentId)).status).toBe('voided');
    expect((await h.module.api.voidPayment(intentId)).status).toBe('voided');
    expect(await transactions(intentId)).toEqual(['authorize:pending', 'authorize:succeeded', 'void:pending', 'void:succeeded']);
    expect(await ledgerBalance(h.pool, GATEWAY_CLEARING)).toEqual(clearing);
    await expect(h.module.api.capture(intentId)).rejects.toMatchObject({ code: 'INVALID_STATE_TRANSITION' });
  });

  it('voids a payment whose outcome was unknown as soon as it turns out authorized', async () => {
    const { intentId } = await h.module.api.authorize(paymentFor([{ sellerId: newId(), amount: 640 }], 'tok_timeout'));
    expect((await h.module.api.voidPayment(intentId)).status).toBe('processing');
    await h.module.runWorkerOnce();
    expect((await h.module.api.getIntent(intentId))?.status).toBe('processing');
    await h.module.testGateway.deliverWebhooks();
    await expect(h.module.api.capture(intentId)).rejects.toMatchObject({ code: 'INVALID_STATE_TRANSITION' });
    await h.module.runWorkerOnce();
    expect((await h.module.api.getIntent(intentId))?.status).toBe('voided');
  });
});
