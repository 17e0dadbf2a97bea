import { TEST_WEBHOOK_SECRET } from '../../platform/config.ts';
import { withTransaction } from '../../platform/db/pool.ts';
import { WorkerLoop } from '../../platform/messaging/worker-loop.ts';
import type { DomainContext, DomainModule } from '../../platform/module.ts';
import type { Trace } from '../../platform/messaging/envelope.ts';
import { type AuthorizeInput, authorize } from './authorize.ts';
import { capture } from './capture.ts';
import type { PaymentsDeps } from './deps.ts';
import { type PaymentGateway, withCallTimeout } from './gateway.ts';
import type { OrderCancellation } from './cancelled-orders.ts';
import { paymentsSubscriptions, releaseOrderPayment } from './handlers.ts';
import { type RefundInput, type RefundView, refund } from './refund.ts';
import { registerPaymentRoutes } from './routes.ts';
import { TestGateway } from './test-gateway.ts';
import { type PaymentIntentView, type PaymentResult, readIntentView } from './view.ts';
import { voidPayment } from './void-payment.ts';
import { PaymentsWorker } from './worker.ts';

export { AuthorizeInputSchema, PaymentMethodSchema, type AuthorizeInput } from './authorize.ts';
export type {
  AuthorizeRequest,
  CaptureRequest,
  GatewayOutcome,
  GatewayWebhook,
  IncomingWebhook,
  PaymentGateway,
  RefundRequest,
  RetrieveRequest,
  RetrievedOutcome,
  VoidRequest,
} from './gateway.ts';
export { GATEWAY_CLEARING, PLATFORM_COMMISSION, sellerPayable } from './ledger.ts';
export type { RefundInput, RefundView } from './refund.ts';
export type { IntentStatus } from './sql.ts';
export { TEST_TOKENS, TestGateway, type TestGatewayEventType, type WebhookDelivery, type WebhookSink } from './test-gateway.ts';
export type { PaymentIntentView, PaymentResult } from './view.ts';
export { SIGNATURE_HEADER, signatureHeader } from '../../platform/http/webhook-signature.ts';

/** What other domains may ask payments (wired in src/domains.ts). Every call is idempotent. */
export interface PaymentsApi {
  /**
   * One intent per idempotency key; status authorized, failed (declineCode) or processing (outcome
   * unknown until a webhook). Each method that writes events takes the caller's trace (ADR 0013).
   */
  authorize(input: AuthorizeInput, trace?: Trace | null): Promise<PaymentResult>;
  /**
   * Captures the whole authorized amount; a captured intent answers its state. The answer, never an
   * error, says what the gateway did:
   * - `captured`: done (also for a capture made earlier);
   * - `processing`: the gateway did not answer (timeout, network error), so the capture's outcome is
   *   unknown. The intent stays authorized until it is known; call capture again (same gateway key:
   *   never a second capture), or let the gateway's webhook or the payments worker settle it;
   * - `authorized` with a `declineCode`: the gateway refused the capture for good (e.g.
   *   charge_not_capturable); the authorization is still held, release it with voidPayment.
   * Refused (INVALID_STATE_TRANSITION, 409) when there is nothing to capture: an authorization still
   * unknown (processing), failed, voided, or with a void asked for.
   */
  capture(intentId: string, trace?: Trace | null): Promise<PaymentResult>;
  /**
   * Releases an authorization (the hold, nothing was taken); while its outcome is unknown, the void
   * is recorded and sent as soon as it is known. A failed or voided payment answers its state.
   * A CAPTURED payment is not voided: its money was taken, and it is given back by refund() per order
   * (that is what checkout's compensation does). voidPayment on a captured, partially_refunded or
   * refunded intent throws INVALID_STATE_TRANSITION (409); while a capture's outcome is unknown it
   * throws CONFLICT (409: retry once the capture is settled, by the worker or a webhook).
   */
  voidPayment(intentId: string, trace?: Trace | null): Promise<PaymentResult>;
  getIntent(intentId: string): Promise<PaymentIntentView | undefined>;
  /** Refunds part or all of an order's captured payment, once per idempotency key. */
  refund(input: RefundInput, trace?: Trace | null): Promise<RefundView & { replayed: boolean }>;
}

export interface PaymentsOptions {
  /** Adapters besides the built-in test gateway (tests and real processors). */
  gateways?: PaymentGateway[];
  defaultGateway?: string;
  workerPollMs?: number;
}

export type PaymentsModule = DomainModule & {
  api: PaymentsApi;
  /** The built-in test gateway (tests set its latency, webhook mode, and send or repeat its webhooks). */
  testGateway: TestGateway;
  /**
   * One pass of the worker that sends recorded voids, captures and refunds and asks the gateway for
   * outcomes overdue by PAYMENTS_RECONCILE_AFTER_MS (tests call it instead of waiting).
   */
  runWorkerOnce(): Promise<void>;
  /**
   * What a cancelled order does to its payment, in the caller's payments transaction (the event
   * handler's work); an authorization whose capture is in flight waits for its outcome (awaitingCapture).
   */
  releaseOrderPayment(cancellation: OrderCancellation): Promise<{ voids: number; refunds: number; awaitingCapture: number }>;
};

const WORKER_POLL_MS = 500;

export function createPaymentsModule(ctx: DomainContext, options: PaymentsOptions = {}): PaymentsModule {
  const settings = ctx.config.payments;
  const testGateway = new TestGateway({
    pool: ctx.pool,
    secret: settings.webhookSecret,
    clock: ctx.clock,
    latencyMs: settings.testGatewayLatencyMs,
    webhookDelayMs: settings.testWebhookDelayMs,
    onDeliveryError: (error) => ctx.log.warn({ err: error }, 'test gateway: webhook delivery failed'),
  });
  const gateways = new Map<string, PaymentGateway>();
  for (const g of [testGateway, ...(options.gateways ?? [])]) gateways.set(g.name, withCallTimeout(g, settings.gatewayTimeoutMs));

  let loop: WorkerLoop | undefined;
  const deps: PaymentsDeps = {
    pool: ctx.pool,
    clock: ctx.clock,
    log: ctx.log,
    gateways,
    defaultGateway: options.defaultGateway ?? testGateway.name,
    commissionBps: settings.commissionBps,
    wakeWorker: () => loop?.wake(),
  };
  const worker = new PaymentsWorker(deps, { reconcileAfterMs: settings.reconcileAfterMs });

  return {
    name: 'payments',
    api: {
      authorize: (input, trace) => authorize(deps, input, trace ?? null),
      capture: (intentId, trace) => capture(deps, intentId, trace ?? null),
      voidPayment: (intentId, trace) => voidPayment(deps, intentId, trace ?? null),
      getIntent: (intentId) => readIntentView(deps.pool, intentId),
      refund: (input, trace) => refund(deps, input, trace ?? null),
    },
    subscriptions: paymentsSubscriptions(deps),
    testGateway,
    runWorkerOnce: async () => {
      await worker.runOnce(true);
    },
    releaseOrderPayment: (cancellation) => withTransaction(deps.pool, (tx) => releaseOrderPayment(tx, cancellation)),
    async routes(app) {
      await registerPaymentRoutes(app, deps);
      // The test gateway sends its webhooks through the real route, signature and all, and stops
      // before the app closes: a webhook due later stays in the processor's queue, not sent to a
      // closed app.
      testGateway.connect(async (delivery) => {
        const response = await app.inject({ method: 'POST', url: `/v1/payments/webhooks/${testGateway.name}`, headers: delivery.headers, payload: delivery.body });
        return response.statusCode;
      });
      app.addHook('preClose', async () => {
        await testGateway.stop();
      });
    },
    async start() {
      if (settings.webhookSecret === TEST_WEBHOOK_SECRET) {
        ctx.log.warn('PAYMENTS_WEBHOOK_SECRET is not set: webhooks are verified with the public test secret');
      }
      loop ??= new WorkerLoop('payments:worker', () => worker.runOnce(), options.workerPollMs ?? WORKER_POLL_MS, (error) =>
        ctx.log.error({ err: error }, 'payments worker iteration failed'),
      );
      loop.start();
      await testGateway.start();
    },
    async stop() {
      await testGateway.stop();
      await loop?.stop();
    },
  };
}
