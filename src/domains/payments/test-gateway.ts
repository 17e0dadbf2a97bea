import { randomBytes } from 'node:crypto';
import { type Static, Type } from '@sinclair/typebox';
import { compileInCharacters } from '../../contracts/define.ts';
import type { Clock } from '../../platform/clock.ts';
import { type Pool, type Tx, isUniqueViolation, withTransaction } from '../../platform/db/pool.ts';
import { type Statement, commitTogether, runTogether } from '../../platform/db/statements.ts';
import { AppError } from '../../platform/http/errors.ts';
import type {
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
import {
  type ChargeRow,
  type EventRow,
  type TestGatewayEventType,
  chargeInsert,
  chargeStatusUpdate,
  claimEvent,
  returnEvent,
  claimKey,
  claimOldestEvent,
  eventInsert,
  eventsAbout,
  lockCharge,
  REQUEST_KEY_CONSTRAINT,
  readEvent,
  refundInsert,
  refundDecision,
  refundedAdd,
  requestByKey,
  requestDecided,
  requestInsert,
  waitingEvents,
} from './test-gateway-sql.ts';
import { SIGNATURE_HEADER, signatureHeader, verifySignature } from '../../platform/http/webhook-signature.ts';

export type { TestGatewayEventType } from './test-gateway-sql.ts';

/**
 * The built-in test gateway: a simulated card processor that behaves like a real one. Its state
 * (charges, refunds, the answer given per idempotency key, the webhooks it owes) lives in its own
 * tables of payments_db (migration 0003), written with its own statements and transactions, never
 * inside one of bazaar's: like a remote processor's, it outlives the process that made a charge and
 * is shared by every process of the marketplace. It answers idempotently per key (a retry gets the
 * original outcome) and reports every change by a signed webhook, sent after a delay or when a test
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
  /** Authorized and captured normally; every refund of it is answered pending, then declined (refund_declined) by a later webhook. */
  refundFailsLater: 'tok_refund_fails_later',
  /**
   * The authorize call times out (outcome unknown; the charge was in fact authorized), and every
   * webhook about the charge is lost: made, never delivered. Its refunds are answered pending and
   * settled by a webhook that is lost too. Only a retry with the same key, or asking the processor
   * (retrieve), tells an outcome.
   */
  webhookLost: 'tok_webhook_lost',
  /**
   * Authorized at once, and every webhook about the charge is delivered twice, both copies at once,
   * as a processor that retries before it hears the first answer does.
   */
  duplicateWebhook: 'tok_duplicate_webhook',
} as const;

export const TestWebhookBody = Type.Object(
  {
    id: Type.String({ pattern: '^evt_[a-z0-9]{1,64}$' }),
    // Printable ASCII, as gateways write them: a NUL (PostgreSQL text cannot hold one) was a 500,
    // which a gateway answers by sending the webhook again, for ever.
    type: Type.String({ pattern: '^[\\x21-\\x7e]{1,100}$' }),
    // Whole numbers JavaScript holds exactly: 1e308 passes as an integer otherwise (a fuzzing pass).
    created: Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER }),
    data: Type.Object(
      {
        charge: Type.String({ pattern: '^ch_[a-z0-9]{1,64}$' }),
        // Our own reference, echoed: kept whatever it holds (the payload is stored made well formed), the charge finds the payment.
        merchantReference: Type.String({ minLength: 1, maxLength: 255 }),
        amount: Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER }),
        currency: Type.String({ pattern: '^[A-Z]{3}$' }),
        transaction: Type.Optional(Type.String({ pattern: '^txn_[a-z0-9]{1,64}$' })),
        declineCode: Type.Optional(Type.String({ pattern: '^[\\x21-\\x7e]{1,100}$' })),
        refund: Type.Optional(Type.String({ pattern: '^re_[a-z0-9]{1,64}$' })),
        refundReference: Type.Optional(Type.String({ pattern: '^[\\x21-\\x7e]{1,100}$' })),
      },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
);
type TestWebhookBody = Static<typeof TestWebhookBody>;
const checkWebhookBody = compileInCharacters(TestWebhookBody);

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
  /** payments_db, where the simulated processor keeps its own tables. */
  pool: Pool;
  secret: string;
  clock: Clock;
  latencyMs?: number;
  webhookDelayMs?: number;
  /** 'auto' sends webhooks after webhookDelayMs; 'manual' keeps them until deliverWebhooks(). */
  webhookMode?: 'auto' | 'manual';
  onDeliveryError?: (error: unknown) => void;
}

/**
 * What one decision made, inside the processor's transaction: its writes, run together as one
 * statement once it is made (a decision reads first, then writes), and the events to send once
 * that commits.
 */
interface Decision {
  tx: Tx;
  writes: Statement[];
  events: string[];
}

const DELIVERY_ATTEMPTS_MAX = 5;
/** Bounds of the lists a test reads and of the queue taken up again at start. */
const EVENTS_LISTED_MAX = 1000;
const DELIVERIES_PER_CALL_MAX = 10_000;
const RESUMED_AT_START_MAX = 100;

function randomId(prefix: string): string {
  return `${prefix}_${randomBytes(10).toString('hex')}`;
}

export class TestGateway implements PaymentGateway {
  readonly name = 'test';
  latencyMs: number;
  webhookDelayMs: number;
  webhookMode: 'auto' | 'manual';
  readonly #pool: Pool;
  readonly #secret: string;
  readonly #clock: Clock;
  readonly #onDeliveryError: (error: unknown) => void;
  /** Armed webhook timers, each with its event and attempt (after the first, the event is taken from the queue). */
  readonly #timers = new Map<NodeJS.Timeout, { eventId: string; attempt: number }>();
  readonly #inFlight = new Set<Promise<void>>();
  #sink: WebhookSink | undefined;
  /** Set by stop(): no webhook timer is armed or fires any more (the events stay queued in the table). */
  #stopped = false;

  constructor(options: TestGatewayOptions) {
    this.#pool = options.pool;
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
    const fingerprint = `authorize:${request.merchantReference}:${request.amount}:${request.currency}:${request.token}`;
    const { outcome, first } = await this.#onceAtOnce(request.idempotencyKey, fingerprint, (d) => this.#decideAuthorization(d, request));
    if (!first) return outcome;
    // The first caller of tok_timeout gets no answer; a retry with the same key gets the real one.
    if (request.token === TEST_TOKENS.timeout || request.token === TEST_TOKENS.webhookLost) return { status: 'pending' };
    if (request.token === TEST_TOKENS.delayedWebhook && outcome.status === 'succeeded') {
      return { status: 'pending', chargeReference: outcome.chargeReference as string };
    }
    return outcome;
  }

  async capture(request: CaptureRequest): Promise<GatewayOutcome> {
    const fingerprint = `capture:${request.chargeReference}:${request.amount}`;
    const { outcome } = await this.#once(request.idempotencyKey, fingerprint, async (d) => {
      const charge = await lockCharge(d.tx, request.chargeReference);
      if (charge?.status !== 'authorized' || request.amount !== charge.amount) {
        return { status: 'declined', code: 'charge_not_capturable' };
      }
      d.writes.push(chargeStatusUpdate(charge.id, 'captured'));
      const transactionId = randomId('txn');
      this.#emit(d, 'charge.captured', charge, { transaction: transactionId });
      return { status: 'succeeded', transactionId, chargeReference: charge.id, amount: charge.amount, currency: charge.currency };
    });
    return outcome;
  }

  async void(request: VoidRequest): Promise<GatewayOutcome> {
    const { outcome } = await this.#once(request.idempotencyKey, `void:${request.chargeReference}`, async (d) => {
      const charge = await lockCharge(d.tx, request.chargeReference);
      if (charge?.status !== 'authorized') return { status: 'declined', code: 'charge_not_voidable' };
      d.writes.push(chargeStatusUpdate(charge.id, 'voided'));
      const transactionId = randomId('txn');
      this.#emit(d, 'charge.voided', charge, { transaction: transactionId });
      return { status: 'succeeded', transactionId, chargeReference: charge.id };
    });
    return outcome;
  }

  async refund(request: RefundRequest): Promise<GatewayOutcome> {
    const fingerprint = `refund:${request.chargeReference}:${request.amount}:${request.refundReference}`;
    const { outcome } = await this.#once(request.idempotencyKey, fingerprint, async (d): Promise<GatewayOutcome> => {
      const charge = await lockCharge(d.tx, request.chargeReference);
      const transactionId = randomId('txn');
      if (!charge) return { status: 'declined', code: 'refund_exceeds_charge', transactionId };
      const declineCode =
        charge.status !== 'captured' || charge.refunded_amount + request.amount > charge.amount
          ? 'refund_exceeds_charge'
          : charge.refunds_fail
            ? 'refund_declined'
            : null;
      const refundId = randomId('re');
      d.writes.push(
        refundInsert({
          id: refundId,
          chargeId: charge.id,
          refundReference: request.refundReference,
          amount: request.amount,
          currency: request.currency,
          declineCode,
        }),
      );
      const about = { refund: refundId, refundReference: request.refundReference, amount: request.amount };
      if (declineCode) {
        this.#emit(d, 'refund.failed', charge, { ...about, declineCode, transaction: transactionId });
        // A processor that settles refunds later says so later also when the bank refuses one; a
        // request it can check at once (more than is left of the charge) is refused at once.
        if (charge.settles_by_webhook && declineCode === 'refund_declined') return { status: 'pending', transactionId };
        return { status: 'declined', code: declineCode, transactionId };
      }
      d.writes.push(refundedAdd(charge.id, request.amount));
      this.#emit(d, 'refund.succeeded', charge, { ...about, transaction: transactionId });
      return charge.settles_by_webhook ? { status: 'pending', transactionId } : { status: 'succeeded', transactionId, amount: request.amount, currency: request.currency };
    });
    return outcome;
  }

  /**
   * The processor's current outcome of an operation, from its durable decisions: the answer stored
   * under the key, or not_found when the key never reached it. A refund answered pending was
   * decided at once all the same (only its webhook tells it later): its decision is read. A success
   * names its amount and currency, as a processor's charge or refund object does (and as the
   * answers to the calls do), so reconciliation checks them like any other success.
   */
  async retrieve(request: RetrieveRequest): Promise<RetrievedOutcome> {
    const seen = await requestByKey(this.#pool, request.idempotencyKey);
    await this.#latency();
    if (!seen) return { status: 'not_found' };
    const about =
      request.operation === 'authorization'
        ? seen.fingerprint.startsWith(`authorize:${request.merchantReference}:`)
        : seen.fingerprint.startsWith(`refund:${request.chargeReference}:`) && seen.fingerprint.endsWith(`:${request.refundReference}`);
    if (!about) throw new Error('test gateway: the idempotency key was used for another operation');
    const { outcome } = seen;
    if (request.operation !== 'refund' || outcome.status !== 'pending' || !outcome.transactionId) return outcome;
    const decided = await refundDecision(this.#pool, request.chargeReference, request.refundReference);
    if (!decided) return outcome;
    return decided.status === 'succeeded'
      ? { status: 'succeeded', transactionId: outcome.transactionId, amount: decided.amount, currency: decided.currency }
      : { status: 'declined', code: decided.decline_code ?? 'refund_declined', transactionId: outcome.transactionId };
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

  /** Webhooks made and not sent yet, by any process (manual mode, or auto mode before the delay), oldest first. */
  async pendingWebhooks(): Promise<{ eventId: string; type: TestGatewayEventType }[]> {
    return (await waitingEvents(this.#pool, EVENTS_LISTED_MAX)).map((e) => ({ eventId: e.id, type: e.type }));
  }

  /** Sends every waiting webhook, oldest first (whichever process made it); answers the HTTP statuses. */
  async deliverWebhooks(): Promise<number[]> {
    const statuses: number[] = [];
    for (let n = 0; n < DELIVERIES_PER_CALL_MAX; n++) {
      const event = await claimOldestEvent(this.#pool);
      if (!event) break;
      statuses.push(...(await this.#sendAsMade(event)));
    }
    return statuses;
  }

  /** Sends a webhook that was already sent, again (freshly signed, as processors do on retry). */
  async resendWebhook(eventId: string): Promise<number> {
    return this.#send(await this.#event(eventId));
  }

  /** The request the gateway would send for an event, signed now (tests tamper with it). */
  async signedWebhook(eventId: string, signedAt: Date = this.#clock.now()): Promise<WebhookDelivery> {
    return this.#delivery(await this.#event(eventId), signedAt);
  }

  /** Events made so far for a merchant reference (an intent id), oldest first. */
  async eventsFor(merchantReference: string): Promise<{ eventId: string; type: TestGatewayEventType }[]> {
    return (await eventsAbout(this.#pool, merchantReference, EVENTS_LISTED_MAX)).map((e) => ({ eventId: e.id, type: e.type }));
  }

  /**
   * Takes up, in auto mode, the webhooks still waiting in the processor's queue (made by a process
   * that stopped or was killed before it sent them), as a processor retries what was not received.
   */
  async start(): Promise<void> {
    this.#stopped = false;
    if (this.webhookMode !== 'auto') return;
    for (const e of await waitingEvents(this.#pool, RESUMED_AT_START_MAX)) this.#schedule(e.id, 1, this.webhookDelayMs);
  }

  /**
   * Stops sending webhooks from this process: timers are cancelled, no retry is armed, and a
   * delivery already under way is awaited. Events not sent stay queued in the processor's table,
   * for the next start of any process: one whose retry is cancelled, or whose delivery under way
   * fails (the app, closing, may refuse it), goes back in the queue. Idempotent.
   */
  async stop(): Promise<void> {
    this.#stopped = true;
    // A retry not made now goes back in the queue, as a delivery that fails while stopping does.
    const retries = [...this.#timers.values()].filter((t) => t.attempt > 1).map((t) => t.eventId);
    for (const t of this.#timers.keys()) clearTimeout(t);
    this.#timers.clear();
    await Promise.allSettled([...this.#inFlight]);
    for (const eventId of retries) await this.#putBack(eventId);
  }

  // ---- inside ---------------------------------------------------------------------------

  #decideAuthorization(d: Omit<Decision, 'tx'>, request: AuthorizeRequest): GatewayOutcome {
    const declineCode =
      request.token === TEST_TOKENS.declined
        ? 'card_declined'
        : request.token === TEST_TOKENS.insufficientFunds
          ? 'insufficient_funds'
          : Object.values(TEST_TOKENS).includes(request.token as never)
            ? null
            : 'invalid_payment_method';
    const charge: ChargeRow = {
      id: randomId('ch'),
      merchant_reference: request.merchantReference,
      amount: request.amount,
      currency: request.currency,
      status: declineCode ? 'declined' : 'authorized',
      decline_code: declineCode,
      refunded_amount: 0,
      settles_by_webhook: [TEST_TOKENS.delayedWebhook, TEST_TOKENS.webhookLost, TEST_TOKENS.refundFailsLater].includes(request.token as never),
      refunds_fail: request.token === TEST_TOKENS.refundFails || request.token === TEST_TOKENS.refundFailsLater,
      webhooks_lost: request.token === TEST_TOKENS.webhookLost,
      webhooks_twice: request.token === TEST_TOKENS.duplicateWebhook,
    };
    d.writes.push(chargeInsert(charge));
    const transactionId = randomId('txn');
    if (declineCode) {
      this.#emit(d, 'charge.failed', charge, { transaction: transactionId, declineCode });
      return { status: 'declined', code: declineCode, transactionId };
    }
    this.#emit(d, 'charge.authorized', charge, { transaction: transactionId });
    return { status: 'succeeded', transactionId, chargeReference: charge.id, amount: charge.amount, currency: charge.currency };
  }

  /**
   * Decides a request once per idempotency key, in the processor's own transaction: the key is
   * claimed (its row serialises the key across processes), a known key answers what was decided
   * then, a new one is decided and its answer stored with what it changed. Webhooks are scheduled
   * once that is committed.
   */
  async #once(key: string, fingerprint: string, decide: (d: Decision) => Promise<GatewayOutcome>): Promise<{ outcome: GatewayOutcome; first: boolean }> {
    const events: string[] = [];
    const answer = await withTransaction(this.#pool, async (tx) => {
      const claim = await claimKey(tx, key, fingerprint);
      if (!claim.first) return claim;
      const writes: Statement[] = [];
      const outcome = await decide({ tx, writes, events });
      // The decision's writes and the key's answer, sent with the COMMIT: the charge's row is let go at once.
      await commitTogether(tx, [...writes, requestDecided(key, outcome)]);
      return { fingerprint, outcome, first: true };
    });
    return this.#answered(answer, events, fingerprint);
  }

  /**
   * As #once, for a decision that reads nothing (an authorization makes a new charge): the key, its
   * answer and what it changed are written by one statement, no transaction around it. If another
   * request has the key, the statement waits for it to end, fails and writes nothing, and the
   * answer given then is read.
   */
  async #onceAtOnce(key: string, fingerprint: string, decide: (d: Omit<Decision, 'tx'>) => GatewayOutcome): Promise<{ outcome: GatewayOutcome; first: boolean }> {
    const events: string[] = [];
    const writes: Statement[] = [];
    const outcome = decide({ writes, events });
    try {
      await runTogether(this.#pool, [requestInsert(key, fingerprint, outcome), ...writes]);
    } catch (error) {
      if (!isUniqueViolation(error, REQUEST_KEY_CONSTRAINT)) throw error;
      const seen = await requestByKey(this.#pool, key);
      if (!seen) throw error;
      return this.#answered({ ...seen, first: false }, [], fingerprint);
    }
    return this.#answered({ fingerprint, outcome, first: true }, events, fingerprint);
  }

  async #answered(
    answer: { fingerprint: string; outcome: GatewayOutcome; first: boolean },
    events: readonly string[],
    fingerprint: string,
  ): Promise<{ outcome: GatewayOutcome; first: boolean }> {
    if (this.webhookMode === 'auto') for (const id of events) this.#schedule(id, 1, this.webhookDelayMs);
    await this.#latency();
    if (answer.fingerprint !== fingerprint) throw new Error('test gateway: idempotency key reused with another request');
    return { outcome: answer.outcome, first: answer.first };
  }

  async #latency(): Promise<void> {
    if (this.latencyMs > 0) await new Promise((resolve) => setTimeout(resolve, this.latencyMs));
  }

  #emit(d: Omit<Decision, 'tx'>, type: TestGatewayEventType, charge: ChargeRow, extra: Partial<TestWebhookBody['data']>): void {
    const id = randomId('evt');
    const body: TestWebhookBody = {
      id,
      type,
      created: Math.floor(this.#clock.now().getTime() / 1000),
      data: { charge: charge.id, merchantReference: charge.merchant_reference, amount: charge.amount, currency: charge.currency, ...extra },
    };
    const lost = charge.webhooks_lost;
    d.writes.push(eventInsert({ id, chargeId: charge.id, merchantReference: charge.merchant_reference, type, body: JSON.stringify(body), lost, twice: charge.webhooks_twice }));
    // A lost webhook is made (a test may still send it late, with resendWebhook) but never scheduled.
    if (!lost) d.events.push(id);
  }

  #schedule(eventId: string, attempt: number, delayMs: number): void {
    if (this.#stopped) return;
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      // Stopped meanwhile, or the mode changed to manual: the event stays queued.
      if (this.#stopped || (attempt === 1 && this.webhookMode !== 'auto')) return;
      const delivery = this.#deliverScheduled(eventId, attempt);
      this.#inFlight.add(delivery);
      void delivery.finally(() => this.#inFlight.delete(delivery));
    }, delayMs);
    timer.unref();
    this.#timers.set(timer, { eventId, attempt });
  }

  async #deliverScheduled(eventId: string, attempt: number): Promise<void> {
    // Whether this process holds the event: it took it from the queue (a retry's first attempt did).
    let taken = attempt > 1;
    try {
      // The first attempt takes the event from the queue, unless deliverWebhooks() or another process did.
      const event = attempt === 1 ? await claimEvent(this.#pool, eventId) : await readEvent(this.#pool, eventId);
      if (!event) return;
      taken = true;
      const refused = (await this.#sendAsMade(event)).find((status) => status < 200 || status >= 300);
      if (refused !== undefined) throw new Error(`webhook ${eventId} answered ${refused}`);
    } catch (error) {
      this.#onDeliveryError(error);
      if (this.#stopped) {
        // Failed while this process stops (its app closing refuses it), and no retry is armed now: the
        // event goes back in the queue, which the next start sends, as a processor retries what was
        // not received. Left taken, it was sent by no one.
        if (taken) await this.#putBack(eventId);
        return;
      }
      if (attempt < DELIVERY_ATTEMPTS_MAX) this.#schedule(eventId, attempt + 1, Math.max(50, this.webhookDelayMs) * 2 ** attempt);
    }
  }

  /** Puts a taken event back in the queue, which the next start (of any process) sends. */
  async #putBack(eventId: string): Promise<void> {
    await returnEvent(this.#pool, eventId).catch((error: unknown) => this.#onDeliveryError(error));
  }

  async #event(eventId: string): Promise<EventRow> {
    const event = await readEvent(this.#pool, eventId);
    if (!event) throw new Error(`the test gateway made no event ${eventId}`);
    return event;
  }

  /**
   * Sends an event as the processor made it: once, or twice at once; answers each copy's HTTP
   * status. Both copies end before it does, also when one fails (a stop waits for a delivery under
   * way: found by a review, the other copy was still being sent).
   */
  async #sendAsMade(event: EventRow): Promise<number[]> {
    if (!event.twice) return [await this.#send(event)];
    const copies = await Promise.allSettled([this.#send(event), this.#send(event)]);
    const failed = copies.find((c) => c.status === 'rejected');
    if (failed) throw failed.reason;
    return copies.map((c) => (c as PromiseFulfilledResult<number>).value);
  }

  async #send(event: EventRow): Promise<number> {
    if (!this.#sink) throw new Error('the test gateway has nowhere to send webhooks (connect a sink)');
    return this.#sink(this.#delivery(event, this.#clock.now()));
  }

  #delivery(event: EventRow, signedAt: Date): WebhookDelivery {
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
  const succeeded: GatewayOutcome = { status: 'succeeded', transactionId, chargeReference: data.charge, amount: data.amount, currency: data.currency };
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
