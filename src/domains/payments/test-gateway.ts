import { randomBytes } from 'node:crypto';
import { type Static, Type } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import type { Clock } from '../../platform/clock.ts';
import { AppError } from '../../platform/http/errors.ts';
import type {
  AuthorizeRequest,
  CaptureRequest,
  GatewayOutcome,
  GatewayWebhook,
  IncomingWebhook,
  PaymentGateway,
  RefundRequest,
  VoidRequest,
} from './gateway.ts';
import { SIGNATURE_HEADER, signatureHeader, verifySignature } from './webhook-signature.ts';

/**
 * The built-in test gateway: an in-memory card processor that behaves like a real one. It keeps
 * charges, answers idempotently per key (a retry gets the original outcome, as with real
 * processors), and reports every change by a signed webhook, sent after a delay or when a test
 * says so. The token decides what happens.
 */
export const TEST_TOKENS = {
  /** Authorized at once. */
  success: 'tok_visa',
  /** Declined: card_declined. */
  declined: 'tok_decline',
  /** Declined: insufficient_funds. */
  insufficientFunds: 'tok_insufficient_funds',
  /** The authorize call times out (outcome unknown); the charge was in fact authorized, as a later webhook says. */
  timeout: 'tok_timeout',
  /** Accepted for processing (pending); authorized later by webhook. Its refunds are also settled by webhook. */
  delayedWebhook: 'tok_delayed_webhook',
  /** Authorized and captured normally, but every refund of it is declined (refund_declined). */
  refundFails: 'tok_refund_fails',
} as const;

export type TestGatewayEventType =
  | 'charge.authorized'
  | 'charge.failed'
  | 'charge.captured'
  | 'charge.voided'
  | 'refund.succeeded'
  | 'refund.failed';

const TestWebhookBody = Type.Object(
  {
    id: Type.String({ pattern: '^evt_[a-z0-9]{1,64}$' }),
    type: Type.String({ minLength: 1, maxLength: 100 }),
    created: Type.Integer({ minimum: 0 }),
    data: Type.Object(
      {
        charge: Type.String({ pattern: '^ch_[a-z0-9]{1,64}$' }),
        merchantReference: Type.String({ minLength: 1, maxLength: 255 }),
        amount: Type.Integer({ minimum: 0 }),
        currency: Type.String({ pattern: '^[A-Z]{3}$' }),
        transaction: Type.Optional(Type.String({ pattern: '^txn_[a-z0-9]{1,64}$' })),
        declineCode: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
        refund: Type.Optional(Type.String({ pattern: '^re_[a-z0-9]{1,64}$' })),
        refundReference: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
      },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
);
type TestWebhookBody = Static<typeof TestWebhookBody>;
const checkWebhookBody = TypeCompiler.Compile(TestWebhookBody);

/** A webhook request as the gateway sends it: headers and the exact bytes that were signed. */
export interface WebhookDelivery {
  eventId: string;
  type: TestGatewayEventType;
  headers: Record<string, string>;
  body: string;
}

/** Where webhooks go (the marketplace's webhook route); answers the HTTP status. */
export type WebhookSink = (delivery: WebhookDelivery) => Promise<number>;

export interface TestGatewayOptions {
  secret: string;
  clock: Clock;
  latencyMs?: number;
  webhookDelayMs?: number;
  /** 'auto' sends webhooks after webhookDelayMs; 'manual' keeps them until deliverWebhooks(). */
  webhookMode?: 'auto' | 'manual';
  onDeliveryError?: (error: unknown) => void;
}

interface Charge {
  id: string;
  merchantReference: string;
  amount: number;
  currency: string;
  status: 'authorized' | 'declined' | 'captured' | 'voided';
  refunded: number;
  /** Charges made with tok_delayed_webhook also settle their refunds by webhook. */
  delayed: boolean;
  refundsFail: boolean;
}

interface StoredEvent {
  id: string;
  type: TestGatewayEventType;
  body: string;
}

interface IdempotentEntry {
  fingerprint: string;
  outcome: Promise<GatewayOutcome>;
}

const DELIVERY_ATTEMPTS_MAX = 5;
const EVENTS_KEPT_MAX = 10_000;

function randomId(prefix: string): string {
  return `${prefix}_${randomBytes(10).toString('hex')}`;
}

export class TestGateway implements PaymentGateway {
  readonly name = 'test';
  latencyMs: number;
  webhookDelayMs: number;
  webhookMode: 'auto' | 'manual';
  readonly #secret: string;
  readonly #clock: Clock;
  readonly #onDeliveryError: (error: unknown) => void;
  readonly #charges = new Map<string, Charge>();
  readonly #byKey = new Map<string, IdempotentEntry>();
  readonly #events = new Map<string, StoredEvent>();
  readonly #queued: StoredEvent[] = [];
  readonly #timers = new Set<NodeJS.Timeout>();
  #sink: WebhookSink | undefined;
  #stopped = false;

  constructor(options: TestGatewayOptions) {
    this.#secret = options.secret;
    this.#clock = options.clock;
    this.latencyMs = options.latencyMs ?? 3;
    this.webhookDelayMs = options.webhookDelayMs ?? 100;
    this.webhookMode = options.webhookMode ?? 'auto';
    this.#onDeliveryError = options.onDeliveryError ?? (() => undefined);
  }

  /** Tells the gateway where to send webhooks. */
  connect(sink: WebhookSink): void {
    this.#sink = sink;
  }

  // ---- the processor's API --------------------------------------------------------------

  async authorize(request: AuthorizeRequest): Promise<GatewayOutcome> {
    const replay = this.#byKey.get(request.idempotencyKey);
    const fingerprint = `authorize:${request.merchantReference}:${request.amount}:${request.currency}:${request.token}`;
    if (replay) return this.#replay(replay, fingerprint);
    const outcome = this.#decideAuthorization(request);
    this.#byKey.set(request.idempotencyKey, { fingerprint, outcome: Promise.resolve(outcome) });
    await this.#latency();
    // The first caller of tok_timeout gets no answer; a retry with the same key gets the real one.
    if (request.token === TEST_TOKENS.timeout) return { status: 'pending' };
    if (request.token === TEST_TOKENS.delayedWebhook && outcome.status === 'succeeded') {
      return { status: 'pending', chargeReference: outcome.chargeReference as string };
    }
    return outcome;
  }

  async capture(request: CaptureRequest): Promise<GatewayOutcome> {
    return this.#once(request.idempotencyKey, `capture:${request.chargeReference}:${request.amount}`, () => {
      const charge = this.#charges.get(request.chargeReference);
      if (charge?.status !== 'authorized' || request.amount !== charge.amount) {
        return { status: 'declined', code: 'charge_not_capturable' };
      }
      charge.status = 'captured';
      const transactionId = randomId('txn');
      this.#emit('charge.captured', charge, { transaction: transactionId });
      return { status: 'succeeded', transactionId, chargeReference: charge.id };
    });
  }

  async void(request: VoidRequest): Promise<GatewayOutcome> {
    return this.#once(request.idempotencyKey, `void:${request.chargeReference}`, () => {
      const charge = this.#charges.get(request.chargeReference);
      if (charge?.status !== 'authorized') return { status: 'declined', code: 'charge_not_voidable' };
      charge.status = 'voided';
      const transactionId = randomId('txn');
      this.#emit('charge.voided', charge, { transaction: transactionId });
      return { status: 'succeeded', transactionId, chargeReference: charge.id };
    });
  }

  async refund(request: RefundRequest): Promise<GatewayOutcome> {
    const fingerprint = `refund:${request.chargeReference}:${request.amount}:${request.refundReference}`;
    return this.#once(request.idempotencyKey, fingerprint, () => {
      const charge = this.#charges.get(request.chargeReference);
      const refundId = randomId('re');
      const transactionId = randomId('txn');
      const declineCode =
        charge?.status !== 'captured' || charge.refunded + request.amount > charge.amount
          ? 'refund_exceeds_charge'
          : charge.refundsFail
            ? 'refund_declined'
            : undefined;
      if (declineCode || !charge) {
        if (charge) this.#emit('refund.failed', charge, { refund: refundId, refundReference: request.refundReference, declineCode, amount: request.amount });
        return { status: 'declined', code: declineCode ?? 'refund_exceeds_charge', transactionId };
      }
      charge.refunded += request.amount;
      this.#emit('refund.succeeded', charge, { refund: refundId, refundReference: request.refundReference, transaction: transactionId, amount: request.amount });
      return charge.delayed ? { status: 'pending', transactionId } : { status: 'succeeded', transactionId };
    });
  }

  parseWebhook(incoming: IncomingWebhook): GatewayWebhook {
    const header = incoming.headers[SIGNATURE_HEADER];
    const check = verifySignature(this.#secret, Array.isArray(header) ? header[0] : header, incoming.rawBody, incoming.now);
    if (!check.ok) throw new AppError('INVALID_SIGNATURE', check.reason);
    let body: unknown;
    try {
      body = JSON.parse(incoming.rawBody.toString('utf8'));
    } catch {
      throw new AppError('MALFORMED_JSON');
    }
    if (!checkWebhookBody.Check(body)) {
      const first = [...checkWebhookBody.Errors(body)][0];
      throw new AppError('VALIDATION_FAILED', `webhook body ${first?.path ?? '/'} ${first?.message ?? 'is not valid'}`);
    }
    return toGatewayWebhook(body);
  }

  // ---- what a test does with the gateway ------------------------------------------------

  /** Webhooks made and not sent yet (manual mode, or auto mode before the delay). */
  pendingWebhooks(): { eventId: string; type: TestGatewayEventType }[] {
    return this.#queued.map((e) => ({ eventId: e.id, type: e.type }));
  }

  /** Sends every waiting webhook, oldest first; answers the HTTP statuses. */
  async deliverWebhooks(): Promise<number[]> {
    const statuses: number[] = [];
    while (this.#queued.length > 0) {
      const event = this.#queued.shift() as StoredEvent;
      statuses.push(await this.#send(event));
    }
    return statuses;
  }

  /** Sends a webhook that was already sent, again (freshly signed, as processors do on retry). */
  async resendWebhook(eventId: string): Promise<number> {
    const event = this.#events.get(eventId);
    if (!event) throw new Error(`the test gateway made no event ${eventId}`);
    return this.#send(event);
  }

  /** The request the gateway would send for an event, signed now (tests tamper with it). */
  signedWebhook(eventId: string, signedAt: Date = this.#clock.now()): WebhookDelivery {
    const event = this.#events.get(eventId);
    if (!event) throw new Error(`the test gateway made no event ${eventId}`);
    return this.#delivery(event, signedAt);
  }

  /** Events made so far for a merchant reference (an intent id), oldest first. */
  eventsFor(merchantReference: string): { eventId: string; type: TestGatewayEventType }[] {
    return [...this.#events.values()]
      .filter((e) => (JSON.parse(e.body) as TestWebhookBody).data.merchantReference === merchantReference)
      .map((e) => ({ eventId: e.id, type: e.type }));
  }

  stop(): void {
    this.#stopped = true;
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
  }

  // ---- inside ---------------------------------------------------------------------------

  #decideAuthorization(request: AuthorizeRequest): GatewayOutcome {
    const declineCode =
      request.token === TEST_TOKENS.declined
        ? 'card_declined'
        : request.token === TEST_TOKENS.insufficientFunds
          ? 'insufficient_funds'
          : Object.values(TEST_TOKENS).includes(request.token as never)
            ? undefined
            : 'invalid_payment_method';
    const charge: Charge = {
      id: randomId('ch'),
      merchantReference: request.merchantReference,
      amount: request.amount,
      currency: request.currency,
      status: declineCode ? 'declined' : 'authorized',
      refunded: 0,
      delayed: request.token === TEST_TOKENS.delayedWebhook,
      refundsFail: request.token === TEST_TOKENS.refundFails,
    };
    this.#charges.set(charge.id, charge);
    const transactionId = randomId('txn');
    if (declineCode) {
      this.#emit('charge.failed', charge, { transaction: transactionId, declineCode });
      return { status: 'declined', code: declineCode, transactionId };
    }
    this.#emit('charge.authorized', charge, { transaction: transactionId });
    return { status: 'succeeded', transactionId, chargeReference: charge.id };
  }

  async #once(key: string, fingerprint: string, decide: () => GatewayOutcome): Promise<GatewayOutcome> {
    const replay = this.#byKey.get(key);
    if (replay) return this.#replay(replay, fingerprint);
    const outcome = decide();
    this.#byKey.set(key, { fingerprint, outcome: Promise.resolve(outcome) });
    await this.#latency();
    return outcome;
  }

  async #replay(entry: IdempotentEntry, fingerprint: string): Promise<GatewayOutcome> {
    await this.#latency();
    if (entry.fingerprint !== fingerprint) throw new Error('test gateway: idempotency key reused with another request');
    return entry.outcome;
  }

  async #latency(): Promise<void> {
    if (this.latencyMs > 0) await new Promise((resolve) => setTimeout(resolve, this.latencyMs));
  }

  #emit(type: TestGatewayEventType, charge: Charge, extra: Partial<TestWebhookBody['data']>): void {
    const id = randomId('evt');
    const body: TestWebhookBody = {
      id,
      type,
      created: Math.floor(this.#clock.now().getTime() / 1000),
      data: { charge: charge.id, merchantReference: charge.merchantReference, amount: charge.amount, currency: charge.currency, ...extra },
    };
    const event: StoredEvent = { id, type, body: JSON.stringify(body) };
    if (this.#events.size >= EVENTS_KEPT_MAX) {
      const oldest = this.#events.keys().next().value;
      if (oldest !== undefined) this.#events.delete(oldest);
    }
    this.#events.set(id, event);
    this.#queued.push(event);
    if (this.webhookMode === 'auto') this.#schedule(event, 1, this.webhookDelayMs);
  }

  #schedule(event: StoredEvent, attempt: number, delayMs: number): void {
    if (this.#stopped) return;
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      const index = this.#queued.indexOf(event);
      // Already sent by deliverWebhooks(), or the mode changed to manual meanwhile.
      if (attempt === 1 && (index < 0 || this.webhookMode !== 'auto')) return;
      if (index >= 0) this.#queued.splice(index, 1);
      this.#send(event)
        .then((status) => {
          if (status >= 200 && status < 300) return;
          throw new Error(`webhook ${event.id} answered ${status}`);
        })
        .catch((error: unknown) => {
          this.#onDeliveryError(error);
          if (attempt < DELIVERY_ATTEMPTS_MAX) this.#schedule(event, attempt + 1, Math.max(50, this.webhookDelayMs) * 2 ** attempt);
        });
    }, delayMs);
    timer.unref();
    this.#timers.add(timer);
  }

  async #send(event: StoredEvent): Promise<number> {
    if (!this.#sink) throw new Error('the test gateway has nowhere to send webhooks (connect a sink)');
    return this.#sink(this.#delivery(event, this.#clock.now()));
  }

  #delivery(event: StoredEvent, signedAt: Date): WebhookDelivery {
    const timestamp = Math.floor(signedAt.getTime() / 1000);
    return {
      eventId: event.id,
      type: event.type,
      headers: { 'content-type': 'application/json', [SIGNATURE_HEADER]: signatureHeader(this.#secret, timestamp, event.body) },
      body: event.body,
    };
  }
}

function toGatewayWebhook(body: TestWebhookBody): GatewayWebhook {
  const { data } = body;
  const base = { eventId: body.id, eventType: body.type, merchantReference: data.merchantReference, chargeReference: data.charge, payload: body };
  const transactionId = data.transaction ?? body.id;
  const succeeded: GatewayOutcome = { status: 'succeeded', transactionId, chargeReference: data.charge };
  const declined: GatewayOutcome = { status: 'declined', code: data.declineCode ?? 'declined', transactionId };
  switch (body.type) {
    case 'charge.authorized':
      return { ...base, effect: { kind: 'authorization', outcome: succeeded } };
    case 'charge.failed':
      return { ...base, effect: { kind: 'authorization', outcome: declined } };
    case 'charge.captured':
      return { ...base, effect: { kind: 'capture', outcome: succeeded } };
    case 'charge.voided':
      return { ...base, effect: { kind: 'void', outcome: succeeded } };
    case 'refund.succeeded':
    case 'refund.failed':
      if (!data.refundReference) return { ...base, effect: { kind: 'ignored' } };
      return {
        ...base,
        effect: { kind: 'refund', refundReference: data.refundReference, outcome: body.type === 'refund.succeeded' ? succeeded : declined },
      };
    default:
      return { ...base, effect: { kind: 'ignored' } };
  }
}
