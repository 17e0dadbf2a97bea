/**
 * What payments need from a card processor. An adapter turns one processor's API into this shape;
 * payments never see card numbers, only the processor's tokens.
 *
 * Every call carries an idempotency key that payments persisted before the call and reuse on every
 * retry, so a retried call (after a timeout or a crash) never charges or refunds twice.
 */
export type GatewayOutcome =
  | {
      status: 'succeeded';
      transactionId: string;
      chargeReference?: string;
      /**
       * The amount and currency the processor says it authorized, captured or refunded, when it says
       * (the test gateway's webhooks do; an adapter gives them wherever its processor does): a
       * success that disagrees with the payment or refund it is about is not applied (outcomes.ts).
       */
      amount?: number;
      currency?: string;
    }
  | { status: 'declined'; code: string; transactionId?: string }
  /** The outcome is not known yet (a timeout, or the processor answers later by webhook). */
  | { status: 'pending'; transactionId?: string; chargeReference?: string };

export interface AuthorizeRequest {
  idempotencyKey: string;
  /** Our id of the charge (the intent id): the processor sends it back in its webhooks. */
  merchantReference: string;
  amount: number;
  currency: string;
  token: string;
}

export interface CaptureRequest {
  idempotencyKey: string;
  chargeReference: string;
  amount: number;
  currency: string;
}

export interface VoidRequest {
  idempotencyKey: string;
  chargeReference: string;
}

export interface RefundRequest {
  idempotencyKey: string;
  chargeReference: string;
  /** Our human-readable refund reference: the processor sends it back in its webhooks. */
  refundReference: string;
  amount: number;
  currency: string;
}

/**
 * An operation whose outcome payments ask the processor for, by the idempotency key it was sent
 * with: an authorization (found by our intent id too, which the processor keeps as the merchant
 * reference) or a refund. Captures and voids need no such question: sending one again under its
 * key is answered with the processor's decision (see docs/adr/0011-reconciliation-by-retrieve.md).
 */
export type RetrieveRequest =
  | { operation: 'authorization'; idempotencyKey: string; merchantReference: string }
  | { operation: 'refund'; idempotencyKey: string; chargeReference: string; refundReference: string };

/**
 * What the processor knows of an operation now: its outcome (`pending` while it is still deciding),
 * or `not_found` when it never received the request.
 */
export type RetrievedOutcome = GatewayOutcome | { status: 'not_found' };

/** A verified webhook, in payments' terms. */
export interface GatewayWebhook {
  /** The processor's event id: a webhook seen twice has the same id. */
  eventId: string;
  /** The processor's own event type, kept for the record. */
  eventType: string;
  effect:
    | { kind: 'authorization'; outcome: GatewayOutcome }
    | { kind: 'capture'; outcome: GatewayOutcome }
    | { kind: 'void'; outcome: GatewayOutcome }
    | { kind: 'refund'; refundReference: string; outcome: GatewayOutcome }
    | { kind: 'ignored' };
  merchantReference?: string;
  chargeReference?: string;
  payload: unknown;
}

export interface IncomingWebhook {
  rawBody: Buffer;
  headers: Record<string, string | string[] | undefined>;
  now: Date;
}

export interface PaymentGateway {
  /** Name used in payment_intents.gateway and in the webhook path. */
  readonly name: string;
  authorize(request: AuthorizeRequest): Promise<GatewayOutcome>;
  capture(request: CaptureRequest): Promise<GatewayOutcome>;
  void(request: VoidRequest): Promise<GatewayOutcome>;
  refund(request: RefundRequest): Promise<GatewayOutcome>;
  /**
   * Asks the processor for the current outcome of an operation sent earlier (a processor's
   * "retrieve" call): how payments learn an outcome whose webhook never came. Reads only.
   */
  retrieve(request: RetrieveRequest): Promise<RetrievedOutcome>;
  /** Verifies the signature and reads the webhook; throws AppError('INVALID_SIGNATURE') when it cannot be trusted. */
  parseWebhook(incoming: IncomingWebhook): GatewayWebhook;
}

/**
 * The idempotency key payments send with an operation: made from an id stored before the first
 * call, so it is the same on every retry and when the processor is asked for the outcome.
 */
export function gatewayKey(operation: 'authorize' | 'capture' | 'void' | 'refund', id: string): string {
  return `${operation}:${id}`;
}

/** A gateway call that gave no answer within the configured time. */
export class GatewayTimeout extends Error {
  constructor(
    readonly gateway: string,
    readonly operation: string,
    readonly timeoutMs: number,
  ) {
    super(`the ${gateway} gateway gave no answer to ${operation} within ${timeoutMs} ms`);
    this.name = 'GatewayTimeout';
  }
}

/**
 * The gateway with every call bounded to `timeoutMs`: a call still unanswered then fails with
 * GatewayTimeout, so a hung connection to a processor holds neither a checkout step nor the
 * payments worker's pass (which would stall every void, capture and refund behind it). What the
 * call did at the processor is learnt as after any call without an answer: by its webhook or by
 * reconciliation, under the same idempotency key. An adapter may keep its own, shorter timeouts.
 */
export function withCallTimeout(gateway: PaymentGateway, timeoutMs: number): PaymentGateway {
  const bounded =
    <Q, A>(operation: string, call: (request: Q) => Promise<A>) =>
    (request: Q): Promise<A> => {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new GatewayTimeout(gateway.name, operation, timeoutMs)), timeoutMs);
      });
      return Promise.race([call.call(gateway, request), timeout]).finally(() => clearTimeout(timer));
    };
  return {
    name: gateway.name,
    authorize: bounded('authorize', gateway.authorize),
    capture: bounded('capture', gateway.capture),
    void: bounded('void', gateway.void),
    refund: bounded('refund', gateway.refund),
    retrieve: bounded('retrieve', gateway.retrieve),
    parseWebhook: (incoming) => gateway.parseWebhook(incoming),
  };
}

/** A call that failed without an answer (network error, timeout): its outcome is unknown. */
export async function callGateway(call: () => Promise<GatewayOutcome>, onError: (error: unknown) => void): Promise<GatewayOutcome> {
  try {
    return await call();
  } catch (error) {
    onError(error);
    return { status: 'pending' };
  }
}
