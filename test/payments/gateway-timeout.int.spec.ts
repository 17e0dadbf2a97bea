import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { AuthorizeRequest, GatewayOutcome, RetrieveRequest, RetrievedOutcome } from '../../src/domains/payments/index.ts';
import { ManualClock } from '../../src/platform/clock.ts';
import { newId } from '../../src/platform/ids.ts';
import { expectLedgerBalanced } from '../support/ledger.ts';
import { NetworkToTestGateway, type PaymentsHarness, intentStatus, paymentFor, startPayments } from './harness.ts';

/**
 * A processor that takes a request and never answers (a connection left hanging): every gateway
 * call is bounded by PAYMENTS_GATEWAY_TIMEOUT_MS, after which its outcome is unknown, as after a
 * network error. The clock of the reconcile age is moved, never waited for.
 */

/** The test gateway behind a network whose answers to authorizations and retrieves, while `hanging`, never come back. */
class Hangs extends NetworkToTestGateway {
  hanging = false;
  calls = 0;
  override async authorize(request: AuthorizeRequest): Promise<GatewayOutcome> {
    const answer = await this.to.authorize(request);
    return this.hanging ? this.#never() : answer;
  }
  override async retrieve(request: RetrieveRequest): Promise<RetrievedOutcome> {
    return this.hanging ? this.#never() : this.to.retrieve(request);
  }
  #never(): Promise<never> {
    this.calls++;
    return new Promise<never>(() => undefined);
  }
}

// Long enough for an answered call on a loaded machine (a full test run beside other work took more than 300 ms).
const TIMEOUT_MS = 1000;
const RECONCILE_AFTER_MS = 600_000;
const clock = new ManualClock(new Date());
const network = new Hangs('hangs');
let h: PaymentsHarness;

beforeAll(async () => {
  h = await startPayments(
    { PAYMENTS_GATEWAY_TIMEOUT_MS: String(TIMEOUT_MS), PAYMENTS_RECONCILE_AFTER_MS: String(RECONCILE_AFTER_MS) },
    { clock, payments: { gateways: [network] } },
  );
  network.processor = h.module.testGateway;
});
beforeEach(() => {
  clock.set(new Date());
  network.hanging = false;
});
afterEach(async () => {
  await expectLedgerBalanced(h.pool);
});
afterAll(async () => {
  await h?.close();
});

const status = (intentId: string) => intentStatus(h, intentId);

describe('a gateway that takes a request and never answers', () => {
  it('leaves the authorization processing after the timeout instead of holding the caller, and its outcome is learnt later', async () => {
    network.hanging = true;
    const started = Date.now();
    const input = { ...paymentFor([{ sellerId: newId(), amount: 1200 }]), gateway: network.name };
    const { intentId, status: first } = await h.module.api.authorize(input);
    expect(first).toBe('processing');
    expect(network.calls).toBe(1);
    // It waited for the timeout, and then answered: a network that never answers did not hold it.
    expect(Date.now() - started).toBeGreaterThanOrEqual(TIMEOUT_MS - 20);
    // The processor did authorize it; asking again under the same key tells (never a second charge).
    network.hanging = false;
    expect((await h.module.api.authorize(input)).status).toBe('authorized');
    const { rows } = await h.pool.query('SELECT count(*)::int AS n FROM test_gateway_charges WHERE merchant_reference = $1', [intentId]);
    expect(rows[0].n).toBe(1);
  });

  it("does not stall the payments worker's pass: a hung question about one authorization leaves the void of another sent", async () => {
    const hung = { ...paymentFor([{ sellerId: newId(), amount: 700 }], 'tok_webhook_lost'), gateway: network.name };
    const { intentId: unknownId } = await h.module.api.authorize(hung);
    expect(await status(unknownId)).toBe('processing');
    const { intentId: otherId } = await h.module.api.authorize(paymentFor([{ sellerId: newId(), amount: 900 }], 'tok_delayed_webhook'));
    expect(await status(otherId)).toBe('processing');
    // The other's void waits for its authorization, whose webhook then arrives.
    expect((await h.module.api.voidPayment(otherId)).status).toBe('processing');
    const delivered = await h.module.testGateway.deliverWebhooks();
    expect(delivered.length).toBeGreaterThan(0);
    expect(delivered.every((s) => s === 200)).toBe(true);
    expect(await status(otherId)).toBe('authorized');

    network.hanging = true;
    clock.advance(RECONCILE_AFTER_MS + 60_000);
    const calls = network.calls;
    await h.module.runWorkerOnce();
    expect(network.calls).toBe(calls + 1);
    expect(await status(otherId)).toBe('voided');
    expect(await status(unknownId)).toBe('processing');

    // Once the processor answers again, the next question (after the retry delay) learns it.
    network.hanging = false;
    clock.advance(10 * 60_000);
    await h.module.runWorkerOnce();
    expect(await status(unknownId)).toBe('authorized');
  });
});
