import type { Trace } from '../../../platform/messaging/envelope.ts';
import type { ActiveCart, CheckoutPorts } from '../ports.ts';
import type { SessionStatus, StepName, StepStatus } from '../saga.ts';
import type { AuthorizeOutput } from './authorize-payment.ts';
import type { CaptureOutput } from './capture-payment.ts';
import type { CloseCartOutput } from './close-cart.ts';
import type { CompleteOutput } from './complete.ts';
import type { ConfirmOutput } from './confirm-reservations.ts';
import type { CreateOrdersOutput } from './create-orders.ts';
import type { PriceSnapshot } from './price-snapshot.ts';
import type { RedeemOutput } from './redeem-coupons.ts';
import type { ReserveOutput } from './reserve-stock.ts';

export interface Totals {
  currency: string;
  subtotalAmount: number;
  discountAmount: number;
  shippingAmount: number;
  totalAmount: number;
}

/** A checkout session as the engine and the steps see it. */
export interface SessionRecord {
  id: string;
  userId: string;
  cartId: string;
  idempotencyKey: string;
  requestHash: string;
  status: SessionStatus;
  currentStep: StepName | null;
  paymentMethod: { token: string };
  shippingAddress: Record<string, unknown>;
  /** The currency the buyer asked to pay in (null: the cart's own, its earliest item's list currency). */
  requestedCurrency: string | null;
  orderIds: string[];
  reservationId: string | null;
  paymentIntentId: string | null;
  totals: Totals | null;
  failureReason: string | null;
  failureCode: string | null;
  /** What the refusing domain's answer named (items, a coupon), for clients; null when nothing. */
  failureDetails: Record<string, unknown> | null;
  failedStep: StepName | null;
  leaseOwner: string | null;
  leaseExpiresAt: Date | null;
  resumeAt: Date;
  startedAt: Date;
  completedAt: Date | null;
  updatedAt: Date;
  version: number;
  /**
   * The cart as read when this process opened the session, kept in memory only (never stored): the
   * first step prices it instead of reading it again. A session loaded from the database (recovery,
   * another process) has none, and the step reads the cart.
   */
  openedCart?: ActiveCart;
  /**
   * The trace of the POST that opened the session, kept in memory only, like openedCart: every step
   * this process drives for it carries it. A session loaded from the database has none (null): its
   * events start a trace of their own.
   */
  trace?: Trace | null;
}

export interface StepRecord {
  step: StepName;
  status: StepStatus;
  attempts: number;
  attemptedAt: Date | null;
  completedAt: Date | null;
  compensatedAt: Date | null;
  /** The step's output once it succeeded; while it waits, its progress (e.g. the payment intent). */
  output: unknown;
  error: string | null;
}

/** Fields of the session a step's success sets (NULL-safe: what is absent stays). */
export interface SessionPatch {
  reservationId?: string;
  paymentIntentId?: string;
  orderIds?: string[];
  totals?: Totals;
}

/** What the steps before have produced. */
export interface StepOutputs {
  price_snapshot?: PriceSnapshot;
  reserve_stock?: ReserveOutput;
  redeem_coupons?: RedeemOutput;
  create_orders?: CreateOrdersOutput;
  authorize_payment?: AuthorizeOutput;
  capture_payment?: CaptureOutput;
  confirm_reservations?: ConfirmOutput;
  close_cart?: CloseCartOutput;
  complete?: CompleteOutput;
}

export interface StepSettings {
  reservationTtlSeconds: number;
  /** How long a payment may stay "processing" before the checkout gives it up (voids it) and compensates. */
  paymentWaitMaxMs: number;
  /** How often a processing payment is asked again when no webhook event nudged the session. */
  paymentPollMs: number;
}

export interface StepContext {
  session: SessionRecord;
  outputs: StepOutputs;
  /** What this step saved while it waited on an earlier run (or its output when compensating). */
  saved: unknown;
  ports: CheckoutPorts;
  now: Date;
  settings: StepSettings;
  /** Why the session is being compensated (for the compensations' reasons). */
  failureReason: string;
  /** The session's trace (see SessionRecord.trace): pass it to every call that makes another domain write events. */
  trace: Trace | null;
}

export interface StepResult<O> {
  output: O;
  patch?: SessionPatch;
}

export interface StepModule<O = unknown> {
  run(ctx: StepContext): Promise<StepResult<O>>;
  /** Undoes the step; idempotent. Absent when there is nothing to undo. */
  compensate?: (ctx: StepContext) => Promise<void>;
}

/** Deterministic idempotency keys: a retried or recovered step sends the same one. */
export const idempotencyKeyFor = (sessionId: string, what: 'reserve' | 'payment') => `checkout:${sessionId}:${what}`;

export function required<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`checkout step ran before ${what} was recorded`);
  return value;
}
