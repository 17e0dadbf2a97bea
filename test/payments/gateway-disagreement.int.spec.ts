import { afterAll, beforeAll, expect, it } from 'vitest';
import type { AuthorizeRequest, CaptureRequest, GatewayOutcome, RefundRequest } from '../../src/domains/payments/index.ts';
import { ManualClock } from '../../src/platform/clock.ts';
import { newId } from '../../src/platform/ids.ts';
import { NetworkToTestGateway, type PaymentsHarness, intentStatus, paymentFor, startPayments } from './harness.ts';

/** A processor that captures and refunds a part only: it answers a success for one unit less, as a real one may. */
class PartialCapture extends NetworkToTestGateway {
  captures = 0;
  refunds = 0;
  partialCaptures = true;
  partialRefunds = false;
  partialAuthorizations = false;
  override async authorize(request: AuthorizeRequest): Promise<GatewayOutcome> {
    const real = await this.to.authorize(request);
    return real.status === 'succeeded' && this.partialAuthorizations ? { ...real, amount: request.amount - 1, currency: request.currency } : real;
  }
  override async capture(request: CaptureRequest): Promise<GatewayOutcome> {
    this.captures++;
    const real = await this.to.capture(request);
    return real.status === 'succeeded' && this.partialCaptures ? { ...real, amount: request.amount - 1, currency: request.currency } : real;
  }
  override async refund(request: RefundRequest): Promise<GatewayOutcome> {
    this.refunds++;
    const real = await this.to.refund(request);
    return real.status === 'succeeded' && this.partialRefunds ? { ...real, amount: request.amount - 1, currency: request.currency } : real;
  }
}

const network = new PartialCapture('partial_capture');
let h: PaymentsHarness;

beforeAll(async () => {
  // Time stands still: the worker's backoff does not run out between passes however slow they are.
  h = await startPayments({}, { clock: new ManualClock(new Date()), payments: { gateways: [network] } });
  network.processor = h.module.testGateway;
});

afterAll(async () => {
  await h?.close();
});

it('leaves a capture the gateway says it made for another amount outstanding, and the worker asks again backing off, not on every pass (found by a review)', async () => {
  const { intentId, status } = await h.module.api.authorize({ ...paymentFor([{ sellerId: newId(), amount: 1500 }]), gateway: network.name });
  expect(status).toBe('authorized');
  // Answered as a capture without an answer (documented: never an error), the intent still authorized.
  expect((await h.module.api.capture(intentId)).status).toBe('processing');
  expect(await intentStatus(h, intentId)).toBe('authorized');
  const { rows } = await h.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM payment_allocations WHERE payment_intent_id = $1 AND captured_amount > 0', [intentId]);
  expect(rows[0]?.n).toBe(0);
  const before = network.captures;
  for (let i = 0; i < 5; i++) await h.module.runWorkerOnce();
  // The first pass asks; the next ones wait for its backoff (a second and more).
  expect(network.captures - before).toBe(1);
  expect(await intentStatus(h, intentId)).toBe('authorized');
});

it('leaves a refund the gateway says it made for another amount pending, answered as such (202 over HTTP), and the worker asks again backing off (found by a review: it was a 500, and a checkout compensation retried for ever)', async () => {
  network.partialCaptures = false;
  const sellerId = newId();
  const input = { ...paymentFor([{ sellerId, amount: 1000 }]), gateway: network.name };
  const { intentId } = await h.module.api.authorize(input);
  expect((await h.module.api.capture(intentId)).status).toBe('captured');
  network.partialRefunds = true;
  const orderId = input.allocations[0]?.orderId as string;
  const refund = await h.module.api.refund({ idempotencyKey: newId(), orderId, sellerId, amount: 400, reason: 'damaged' });
  expect(refund.status).toBe('pending');
  const token = await h.token(sellerId, ['seller']);
  const overHttp = await h.request('POST', `/v1/seller/orders/${orderId}/refunds`, {
    token,
    headers: { 'idempotency-key': newId() },
    body: { amount: { amount: 100, currency: 'USD' }, reason: 'late' },
  });
  expect(overHttp.statusCode, overHttp.body).toBe(202);
  const before = network.refunds;
  for (let i = 0; i < 5; i++) await h.module.runWorkerOnce();
  // Each of the two refunds is asked again once; the next passes wait for their backoff.
  expect(network.refunds - before).toBe(2);
});

it('answers an authorization the gateway says it made for another amount as processing, not authorized and not an error', async () => {
  network.partialAuthorizations = true;
  try {
    const { intentId, status } = await h.module.api.authorize({ ...paymentFor([{ sellerId: newId(), amount: 800 }]), gateway: network.name });
    expect(status).toBe('processing');
    expect(await intentStatus(h, intentId)).toBe('processing');
  } finally {
    network.partialAuthorizations = false;
  }
});
