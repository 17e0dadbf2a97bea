import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { CaptureRequest, GatewayOutcome, PaymentsModule } from '../../src/domains/payments/index.ts';
import { releaseOrderPayment } from '../../src/domains/payments/handlers.ts';
import { withTransaction } from '../../src/platform/db/pool.ts';
import { newId } from '../../src/platform/ids.ts';
import { eventually } from '../support/eventually.ts';
import { expectLedgerBalanced } from '../support/ledger.ts';
import { NetworkToTestGateway, type PaymentsHarness, paymentFor, startPayments } from './harness.ts';

/**
 * The test gateway behind an unreliable network, for captures: the next captures lose their answer
 * after the processor captured ('lost'), never reach the processor ('dropped'), or are refused by
 * it for good ('declined').
 */
class FlakyNetwork extends NetworkToTestGateway {
  captures: ('lost' | 'dropped' | 'declined')[] = [];
  /** Awaited by each capture before it goes on, when set. */
  hold: (() => Promise<void>) | undefined;

  override async capture(request: CaptureRequest): Promise<GatewayOutcome> {
    await this.hold?.();
    const next = this.captures.shift();
    if (next === 'dropped') throw new Error('connect ECONNREFUSED');
    if (next === 'declined') return { status: 'declined', code: 'authorization_expired' };
    const outcome = await this.to.capture(request);
    if (next === 'lost') throw new Error('socket hang up');
    return outcome;
  }
}

let h: PaymentsHarness;
let payments: PaymentsModule;
const network = new FlakyNetwork('flaky');

beforeAll(async () => {
  h = await startPayments({}, { payments: { gateways: [network], defaultGateway: network.name } });
  payments = h.module;
  network.processor = payments.testGateway;
});
afterEach(async () => {
  network.captures = [];
  network.hold = undefined;
  await expectLedgerBalanced(h.pool);
});
afterAll(async () => {
  await h?.close();
});

async function authorized(amount: number) {
  const sellerId = newId();
  const input = paymentFor([{ sellerId, amount }]);
  const { intentId, status } = await payments.api.authorize(input);
  expect(status).toBe('authorized');
  return { intentId, sellerId, orderId: input.allocations[0]?.orderId as string };
}

async function transactions(intentId: string) {
  const { rows } = await h.pool.query<{ type: string; status: string }>(
    `SELECT type, status FROM payment_transactions WHERE payment_intent_id = $1 AND type = 'capture' ORDER BY created_at, id`,
    [intentId],
  );
  return rows.map((r) => `${r.type}:${r.status}`);
}

async function captureJournals(intentId: string) {
  const { rows } = await h.pool.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM ledger_journals WHERE kind = 'payment_captured' AND reference_id = $1`,
    [intentId],
  );
  return rows[0]?.n;
}

async function capturedAtProcessor(intentId: string) {
  return (await payments.testGateway.eventsFor(intentId)).filter((e) => e.type === 'charge.captured').length;
}

describe('a capture that meets a void', () => {
  it('refuses to capture once a void was recorded while it waited on the intent, and the void is sent', async () => {
    const { intentId, orderId } = await authorized(800);
    let capturing: Promise<unknown> | undefined;
    // The order is cancelled (a pending void recorded under the intent's lock) while a capture
    // starts and waits for that lock.
    await withTransaction(h.pool, async (tx) => {
      await releaseOrderPayment(tx, { orderId, reason: 'buyer cancelled', cancelledBy: null });
      capturing = payments.api.capture(intentId).catch((error: { code?: string }) => error.code);
      await new Promise((resolve) => setTimeout(resolve, 200));
    });
    expect(await capturing).toBe('INVALID_STATE_TRANSITION');
    expect(await transactions(intentId)).toEqual([]);
    await payments.runWorkerOnce();
    expect((await payments.api.getIntent(intentId))?.status).toBe('voided');
    expect(await capturedAtProcessor(intentId)).toBe(0);
  });
});

describe('what capture answers when the gateway does not capture', () => {
  it('answers processing, not an error, when the answer was lost, and captures once when asked again', async () => {
    const { intentId } = await authorized(1500);
    network.captures = ['lost'];
    expect(await payments.api.capture(intentId)).toEqual({ intentId, status: 'processing' });
    expect(await payments.api.getIntent(intentId)).toMatchObject({ status: 'authorized', capturedAmount: 0 });
    expect(await captureJournals(intentId)).toBe(0);

    expect(await payments.api.capture(intentId)).toEqual({ intentId, status: 'captured' });
    expect(await captureJournals(intentId)).toBe(1);
    expect(await capturedAtProcessor(intentId)).toBe(1);
    expect(await transactions(intentId)).toEqual(['capture:pending', 'capture:succeeded']);
  });

  it('answers processing when the capture never reached the gateway, and the payments worker settles it', async () => {
    const { intentId, sellerId, orderId } = await authorized(1200);
    network.captures = ['dropped'];
    expect(await payments.api.capture(intentId)).toEqual({ intentId, status: 'processing' });
    expect(await capturedAtProcessor(intentId)).toBe(0);
    // While the capture's outcome is unknown, the payment is neither voided nor refunded.
    await expect(payments.api.voidPayment(intentId)).rejects.toMatchObject({ code: 'CONFLICT' });

    await payments.runWorkerOnce();
    expect(await payments.api.getIntent(intentId)).toMatchObject({ status: 'captured', capturedAmount: 1200 });
    expect(await capturedAtProcessor(intentId)).toBe(1);
    const refund = await payments.api.refund({ idempotencyKey: newId(), orderId, sellerId, amount: 1200, reason: 'checkout failed' });
    expect(refund.status).toBe('succeeded');
  });

  it("answers the gateway's decline of a capture with the authorization still held, which a void then releases", async () => {
    const { intentId } = await authorized(800);
    network.captures = ['declined'];
    expect(await payments.api.capture(intentId)).toEqual({ intentId, status: 'authorized', declineCode: 'authorization_expired' });
    expect(await transactions(intentId)).toEqual(['capture:pending', 'capture:failed']);
    await payments.runWorkerOnce();
    expect((await payments.api.getIntent(intentId))?.status).toBe('authorized');
    expect(await payments.api.voidPayment(intentId)).toEqual({ intentId, status: 'voided' });
  });

  it('records a decline once however often it is answered (a resend beside the call): the next capture stays outstanding while at the gateway', async () => {
    const { intentId } = await authorized(700);
    network.captures = ['dropped'];
    expect(await payments.api.capture(intentId)).toEqual({ intentId, status: 'processing' });
    // The call asked again and the worker's resend are both at the gateway when it declines them.
    let open!: () => void;
    const gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    let atGateway = 0;
    network.hold = async () => {
      atGateway++;
      await gate;
    };
    network.captures = ['declined', 'declined'];
    const both = Promise.all([payments.api.capture(intentId), payments.runWorkerOnce()]);
    await eventually(() => expect(atGateway).toBe(2));
    open();
    await both;
    network.hold = undefined;
    expect(await transactions(intentId)).toEqual(['capture:pending', 'capture:failed']);
    // A new attempt is outstanding until it is answered: a void waits for it (it was answered as done before).
    network.captures = ['dropped'];
    expect(await payments.api.capture(intentId)).toEqual({ intentId, status: 'processing' });
    await expect(payments.api.voidPayment(intentId)).rejects.toMatchObject({ code: 'CONFLICT' });
  });

  it('refuses to void a captured payment: it is given back by refund', async () => {
    const { intentId } = await authorized(600);
    expect((await payments.api.capture(intentId)).status).toBe('captured');
    await expect(payments.api.voidPayment(intentId)).rejects.toMatchObject({ code: 'INVALID_STATE_TRANSITION', message: /refunded, not voided/ });
  });
});
