import type { LightMyRequestResponse } from 'fastify';
import type { Logger } from 'pino';
import { type Clock, systemClock } from '../../src/platform/clock.ts';
import { type Pool, createPool } from '../../src/platform/db/pool.ts';
import { type HttpApp, createHttpApp } from '../../src/platform/http/server.ts';
import { type Role, TokenService, parseKeyring } from '../../src/platform/http/tokens.ts';
import { newId } from '../../src/platform/ids.ts';
import { createLogger } from '../../src/platform/logger.ts';
import { Metrics } from '../../src/platform/metrics.ts';
import {
  type AuthorizeRequest,
  type CaptureRequest,
  type GatewayOutcome,
  type GatewayWebhook,
  type IncomingWebhook,
  type PaymentGateway,
  type PaymentsModule,
  type PaymentsOptions,
  type RefundRequest,
  type RetrieveRequest,
  type RetrievedOutcome,
  type TestGateway,
  type VoidRequest,
  createPaymentsModule,
} from '../../src/domains/payments/index.ts';
import { TEST_JWT_KEYS, freshDatabases } from '../support/databases.ts';

/**
 * The payments domain alone on fresh databases: its module, its routes on an HTTP app (inject, no
 * port), and the test gateway with latency 0 and webhooks sent only when a test says so. Event
 * delivery does not run: events stay in payments_outbox_events for the tests to read.
 */
export interface PaymentsProcess {
  module: PaymentsModule;
  pool: Pool;
  http: HttpApp;
  request(method: string, url: string, options?: { token?: string; body?: unknown; headers?: Record<string, string> }): Promise<LightMyRequestResponse>;
  /** Closes the HTTP app, stops the module and ends its pool (the databases stay). */
  close(): Promise<void>;
}

export interface PaymentsHarness extends PaymentsProcess {
  token(userId: string, roles: Role[]): Promise<string>;
  /**
   * Another payments process on the same databases, as after a restart or beside this one: its own
   * pool, module (with its own test gateway object) and HTTP app; nothing shared in memory.
   */
  anotherProcess(payments?: PaymentsOptions): Promise<PaymentsProcess>;
  /** Closes this process and every other one opened, then drops the databases. */
  close(): Promise<void>;
}

export async function startPayments(env: Record<string, string> = {}, options: { clock?: Clock; payments?: PaymentsOptions; log?: Logger } = {}): Promise<PaymentsHarness> {
  const dbs = await freshDatabases({ PAYMENTS_TEST_GATEWAY_LATENCY_MS: '0', PAYMENTS_COMMISSION_BPS: '1000', ...env });
  const target = dbs.targets.find((t) => t.domain === 'payments');
  if (!target) throw new Error('no payments database');
  const tokens = new TokenService(parseKeyring(TEST_JWT_KEYS), dbs.config.jwtIssuer, dbs.config.jwtAudience, 900);
  const clock = options.clock ?? systemClock;
  const open = async (payments?: PaymentsOptions): Promise<PaymentsProcess> => {
    const pool = createPool(target.url, 12, 'bazaar-test-payments');
    const log = options.log ?? createLogger('silent');
    const metrics = new Metrics();
    const module = createPaymentsModule({ domain: 'payments', pool, config: dbs.config, clock, log, tokens, metrics }, payments);
    module.testGateway.webhookMode = 'manual';
    const http = await createHttpApp({ bodyLimitBytes: dbs.config.bodyLimitBytes, logger: log, metrics, tokens, version: 'test' });
    await module.routes?.(http);
    await http.ready();
    let closed = false;
    return {
      module,
      pool,
      http,
      request(method, url, opts = {}) {
        const headers: Record<string, string> = { ...opts.headers };
        if (opts.token) headers.authorization = `Bearer ${opts.token}`;
        return http.inject({ method: method as 'GET', url, headers, ...(opts.body !== undefined ? { payload: opts.body as object } : {}) });
      },
      async close() {
        if (closed) return;
        closed = true;
        await http.close();
        await module.stop?.();
        await pool.end();
      },
    };
  };
  const main = await open(options.payments);
  const others: PaymentsProcess[] = [];
  return {
    ...main,
    async token(userId, roles) {
      return (await tokens.sign({ userId, roles })).token;
    },
    async anotherProcess(payments) {
      const other = await open(payments);
      others.push(other);
      return other;
    },
    async close() {
      for (const other of others) await other.close();
      await main.close();
      await dbs.drop();
    },
  };
}

/** An intent's status as payments tell it (undefined when there is no such intent). */
export async function intentStatus(h: PaymentsHarness, intentId: string): Promise<string | undefined> {
  return (await h.module.api.getIntent(intentId))?.status;
}

/** An authorize input for one buyer paying orders of the given sellers (amounts in minor units). */
export function paymentFor(parts: { sellerId: string; amount: number }[], token = 'tok_visa', currency = 'USD') {
  const allocations = parts.map((p) => ({ orderId: newId(), sellerId: p.sellerId, amount: p.amount }));
  return {
    idempotencyKey: `pay-${newId()}`,
    checkoutSessionId: newId(),
    buyerId: newId(),
    amount: allocations.reduce((s, a) => s + a.amount, 0),
    currency,
    paymentMethod: { token },
    allocations,
  };
}

/**
 * The test gateway reached through a network, as an adapter of its own name (pass it in
 * PaymentsOptions.gateways, then set `processor` to the module's test gateway): every call goes
 * through; a subclass makes the network lose some.
 */
export class NetworkToTestGateway implements PaymentGateway {
  processor: TestGateway | undefined;

  constructor(readonly name: string) {}

  protected get to(): TestGateway {
    if (!this.processor) throw new Error('no processor behind the network');
    return this.processor;
  }
  authorize(request: AuthorizeRequest): Promise<GatewayOutcome> {
    return this.to.authorize(request);
  }
  capture(request: CaptureRequest): Promise<GatewayOutcome> {
    return this.to.capture(request);
  }
  void(request: VoidRequest): Promise<GatewayOutcome> {
    return this.to.void(request);
  }
  refund(request: RefundRequest): Promise<GatewayOutcome> {
    return this.to.refund(request);
  }
  retrieve(request: RetrieveRequest): Promise<RetrievedOutcome> {
    return this.to.retrieve(request);
  }
  parseWebhook(incoming: IncomingWebhook): GatewayWebhook {
    return this.to.parseWebhook(incoming);
  }
}
