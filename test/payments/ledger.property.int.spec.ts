import fc from 'fast-check';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TEST_TOKENS } from '../../src/domains/payments/index.ts';
import { AppError } from '../../src/platform/http/errors.ts';
import { newId } from '../../src/platform/ids.ts';
import { expectLedgerBalanced } from '../support/ledger.ts';
import { type PaymentsHarness, paymentFor, startPayments } from './harness.ts';

let h: PaymentsHarness;

beforeAll(async () => {
  h = await startPayments({ PAYMENTS_COMMISSION_BPS: '1250' });
});
afterEach(async () => {
  await expectLedgerBalanced(h.pool);
});
afterAll(async () => {
  await h?.close();
});

/** Refusals a sequence of operations may meet; anything else is a bug. */
const EXPECTED = new Set(['INVALID_STATE_TRANSITION', 'REFUND_EXCEEDS_CAPTURED', 'UNPROCESSABLE', 'CONFLICT']);

async function tolerate(work: Promise<unknown>): Promise<void> {
  try {
    await work;
  } catch (error) {
    if (error instanceof AppError && EXPECTED.has(error.code)) return;
    throw error;
  }
}

const pick = fc.nat({ max: 1000 });
const operation = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('authorize' as const),
      token: fc.constantFrom(TEST_TOKENS.success, TEST_TOKENS.success, TEST_TOKENS.timeout, TEST_TOKENS.delayedWebhook, TEST_TOKENS.declined, TEST_TOKENS.insufficientFunds),
      currency: fc.constantFrom('USD', 'EUR', 'JPY'),
      parts: fc.array(fc.record({ seller: fc.nat({ max: 2 }), amount: fc.integer({ min: 1, max: 5000 }) }), { minLength: 1, maxLength: 3 }),
      /** Capture at once, as checkout does. */
      capture: fc.boolean(),
    }),
  },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('capture' as const), intent: pick }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('void' as const), intent: pick }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('retry_authorize' as const), intent: pick }) },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('refund' as const),
      order: pick,
      amounts: fc.array(fc.integer({ min: 1, max: 4000 }), { minLength: 1, maxLength: 4 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('cancel_order' as const), order: pick }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('deliver_webhooks' as const) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('duplicate_webhook' as const), event: pick }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('worker' as const) }) },
);

describe('the ledger under random sequences of payment operations', () => {
  it('keeps every journal balanced per currency, refunds within captures, and no seller payable below zero', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(operation, { minLength: 5, maxLength: 30 }), async (operations) => {
        const sellers = [newId(), newId(), newId()];
        const inputs: ReturnType<typeof paymentFor>[] = [];
        const intents: string[] = [];
        const orders: { orderId: string; sellerId: string }[] = [];
        const capturedOrders: { orderId: string; sellerId: string }[] = [];
        const captureNow = async (intentId: string) => {
          const result = await h.module.api.capture(intentId).catch((error: unknown) => {
            if (error instanceof AppError && EXPECTED.has(error.code)) return undefined;
            throw error;
          });
          const input = inputs[intents.indexOf(intentId)];
          if (result?.status === 'captured' && input) capturedOrders.push(...input.allocations);
        };
        const eventIds: string[] = [];
        const at = <T>(list: T[], n: number): T | undefined => (list.length === 0 ? undefined : list[n % list.length]);

        for (const op of operations) {
          switch (op.kind) {
            case 'authorize': {
              const input = paymentFor(op.parts.map((p) => ({ sellerId: sellers[p.seller] as string, amount: p.amount })), op.token, op.currency);
              const result = await h.module.api.authorize(input);
              inputs.push(input);
              intents.push(result.intentId);
              orders.push(...input.allocations);
              eventIds.push(...(await h.module.testGateway.eventsFor(result.intentId)).map((e) => e.eventId));
              if (op.capture) await captureNow(result.intentId);
              break;
            }
            case 'retry_authorize': {
              const input = at(inputs, op.intent);
              if (input) await h.module.api.authorize(input);
              break;
            }
            case 'capture': {
              const intentId = at(intents, op.intent);
              if (intentId) await captureNow(intentId);
              break;
            }
            case 'void': {
              const intentId = at(intents, op.intent);
              if (intentId) await tolerate(h.module.api.voidPayment(intentId));
              break;
            }
            case 'refund': {
              // Mostly orders that were paid, sometimes any order.
              const order = op.order % 5 === 0 ? at(orders, op.order) : (at(capturedOrders, op.order) ?? at(orders, op.order));
              if (!order) break;
              // Several refunds of one order at the same time.
              await Promise.all(
                op.amounts.map((amount) =>
                  tolerate(
                    h.module.api.refund({ idempotencyKey: newId(), orderId: order.orderId, sellerId: order.sellerId, amount, reason: 'property test' }),
                  ),
                ),
              );
              break;
            }
            case 'cancel_order': {
              const order = at(orders, op.order);
              if (order) await tolerate(h.module.releaseOrderPayment({ orderId: order.orderId, reason: 'property test', cancelledBy: null }));
              break;
            }
            case 'deliver_webhooks': {
              const statuses = await h.module.testGateway.deliverWebhooks();
              expect(statuses.every((s) => s === 200)).toBe(true);
              break;
            }
            case 'duplicate_webhook': {
              for (const id of intents) eventIds.push(...(await h.module.testGateway.eventsFor(id)).map((e) => e.eventId));
              const eventId = at(eventIds, op.event);
              if (eventId) expect(await h.module.testGateway.resendWebhook(eventId)).toBe(200);
              break;
            }
            case 'worker':
              await h.module.runWorkerOnce();
              break;
          }
        }
        await h.module.testGateway.deliverWebhooks();
        await h.module.runWorkerOnce();
        await expectLedgerBalanced(h.pool);
      }),
      { numRuns: 20 },
    );
  });
});
