import { afterAll, beforeAll, expect, it } from 'vitest';
import type { CaptureRequest, GatewayOutcome } from '../../src/domains/payments/index.ts';
import { newId } from '../../src/platform/ids.ts';
import { NetworkToTestGateway, type PaymentsHarness, intentStatus, paymentFor, startPayments } from './harness.ts';

/** A processor that captures a part only: it answers a success for one unit less, as a real one may. */
class PartialCapture extends NetworkToTestGateway {
  captures = 0;
  override async capture(request: CaptureRequest): Promise<GatewayOutcome> {
    this.captures++;
    const real = await this.to.capture(request);
    return real.status === 'succeeded' ? { ...real, amount: request.amount - 1, currency: request.currency } : real;
  }
}

const network = new PartialCapture('partial_capture');
let h: PaymentsHarness;

beforeAll(async () => {
  h = await startPayments({}, { payments: { gateways: [network] } });
  network.processor = h.module.testGateway;
});

afterAll(async () => {
  await h?.close();
});

it('leaves a capture the gateway says it made for another amount outstanding, and the worker asks again backing off, not on every pass (found by a review)', async () => {
  const { intentId, status } = await h.module.api.authorize({ ...paymentFor([{ sellerId: newId(), amount: 1500 }]), gateway: network.name });
  expect(status).toBe('authorized');
  await expect(h.module.api.capture(intentId)).rejects.toMatchObject({ name: 'GatewayDisagreement' });
  expect(await intentStatus(h, intentId)).toBe('authorized');
  const { rows } = await h.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM payment_allocations WHERE payment_intent_id = $1 AND captured_amount > 0', [intentId]);
  expect(rows[0]?.n).toBe(0);
  const before = network.captures;
  for (let i = 0; i < 5; i++) await h.module.runWorkerOnce();
  // The first pass asks; the next ones wait for its backoff (a second and more).
  expect(network.captures - before).toBe(1);
  expect(await intentStatus(h, intentId)).toBe('authorized');
});
