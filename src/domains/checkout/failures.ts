import { AppError } from '../../platform/http/errors.ts';
import type { ErrorKind } from './saga.ts';
import type { SessionPatch } from './steps/types.ts';

/** A step that definitely did not take effect, for a reason the buyer should read (declined, sold out). */
export class StepRefused extends Error {
  constructor(
    readonly code: string,
    readonly reason: string,
    /** What the refused step still learnt for the session (e.g. the declined payment's intent). */
    readonly patch: SessionPatch = {},
    /** Shown to the buyer with the reason, as a refusing domain's extensions are (e.g. the variantId). */
    readonly details: Record<string, unknown> | null = null,
  ) {
    super(reason);
    this.name = 'StepRefused';
  }
}

/** A step whose outcome is not known yet: the session waits and the step asks again later. */
export class StepWaiting extends Error {
  constructor(
    readonly reason: string,
    /** Saved with the step (e.g. the payment intent and since when it is awaited). */
    readonly progress: Record<string, unknown>,
    readonly retryAfterMs: number,
    readonly patch: SessionPatch = {},
  ) {
    super(reason);
    this.name = 'StepWaiting';
  }
}

/** A step whose outcome stayed unknown too long: it is given up and compensated like one that ran. */
export class StepAbandoned extends Error {
  constructor(
    readonly code: string,
    readonly reason: string,
  ) {
    super(reason);
    this.name = 'StepAbandoned';
  }
}

export interface ClassifiedError {
  kind: ErrorKind;
  code: string;
  /** Shown to the buyer when the session fails. */
  reason: string;
  /** Shown to the buyer with the reason: what the refusing domain's answer named (items, a coupon); none when it named nothing. */
  details: Record<string, unknown> | null;
  /** For the operators (checkout_failures, step error). */
  detail: string;
}

const REASON_LENGTH_MAX = 2000;

const clip = (s: string) => (s.length > REASON_LENGTH_MAX ? `${s.slice(0, REASON_LENGTH_MAX - 1)}…` : s) || 'unknown error';

/** Client errors another domain answers (4xx) are refusals; busy signals and everything else are transient. */
const TRANSIENT_APP_CODES = new Set(['IDEMPOTENCY_KEY_IN_USE', 'RATE_LIMITED', 'SERVICE_UNAVAILABLE', 'INTERNAL']);

/** Most of a refusal's details kept (as JSON text; the column allows its jsonb text, with spaces, twice as long); beyond it, none are (the reason still names them). */
const DETAILS_LENGTH_MAX = 10_000;

/** A refusing domain's extensions, as the session keeps them: an object of JSON values, not too big. */
function detailsOf(extensions: Record<string, unknown> | undefined): Record<string, unknown> | null {
  if (!extensions || Object.keys(extensions).length === 0) return null;
  const text = JSON.stringify(extensions);
  return text.length <= DETAILS_LENGTH_MAX ? (JSON.parse(text) as Record<string, unknown>) : null;
}

export function classify(error: unknown): ClassifiedError {
  if (error instanceof StepRefused) return { kind: 'refused', code: error.code, reason: clip(error.reason), details: detailsOf(error.details ?? undefined), detail: clip(error.reason) };
  if (error instanceof StepWaiting) return { kind: 'waiting', code: 'WAITING', reason: clip(error.reason), details: null, detail: clip(error.reason) };
  if (error instanceof StepAbandoned) return { kind: 'abandoned', code: error.code, reason: clip(error.reason), details: null, detail: clip(error.reason) };
  if (error instanceof AppError && error.status < 500 && !TRANSIENT_APP_CODES.has(error.code)) {
    return { kind: 'refused', code: error.code, reason: clip(error.message), details: detailsOf(error.extensions), detail: clip(error.message) };
  }
  const detail = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return { kind: 'transient', code: 'INTERNAL', reason: 'the checkout could not be completed', details: null, detail: clip(detail) };
}

/** Compensations are idempotent; these answers mean "already undone, or nothing to undo". */
const ALREADY_UNDONE = new Set(['RESERVATION_NOT_ACTIVE', 'NOT_FOUND', 'INVALID_STATE_TRANSITION']);

export function isAlreadyUndone(error: unknown): boolean {
  return error instanceof AppError && ALREADY_UNDONE.has(error.code);
}
