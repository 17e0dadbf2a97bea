import { CHECKOUT_STEP_VALUES } from '../../contracts/checkout.ts';

/**
 * The checkout saga's decisions, as pure functions over the recorded state: which step runs next,
 * which one is undone next (in reverse), how a session ends, and what an error means. The engine
 * (engine.ts) does the I/O around them; the unit tests drive them as given / when / then.
 */

export const STEP_NAMES = CHECKOUT_STEP_VALUES;
export type StepName = (typeof STEP_NAMES)[number];

export type StepStatus = 'pending' | 'succeeded' | 'failed' | 'compensating' | 'compensated';
export type SessionStatus = 'pending' | 'in_progress' | 'completed' | 'failed' | 'compensating' | 'compensated';

export const UNFINISHED_STATUSES: readonly SessionStatus[] = ['pending', 'in_progress', 'compensating'];

export function isFinished(status: SessionStatus): boolean {
  return status === 'completed' || status === 'failed' || status === 'compensated';
}

export interface SagaPlan {
  /** Steps in the order they run. */
  order: readonly StepName[];
  /** Steps that have something to undo (their compensation runs in reverse order). */
  compensable: ReadonlySet<StepName>;
  /**
   * Steps that run once the buyer's money is taken: a transient error of theirs is retried until
   * it goes through, never given up (giving up would refund and cancel a paid sale because a
   * database was away for a few seconds). A refusal (a reservation that lapsed) still compensates.
   */
  forwardOnly: ReadonlySet<StepName>;
}

export interface SagaState {
  status: SessionStatus;
  steps: Partial<Record<StepName, StepStatus>>;
}

export type Decision =
  | { type: 'run'; step: StepName }
  | { type: 'compensate'; step: StepName }
  | { type: 'finish'; outcome: 'completed' | 'failed' | 'compensated' }
  | { type: 'done' };

/** What to do next with a session in this state. */
export function decide(plan: SagaPlan, state: SagaState): Decision {
  if (isFinished(state.status)) return { type: 'done' };
  if (state.status === 'compensating') {
    for (const step of [...plan.order].reverse()) {
      const status = state.steps[step];
      if (plan.compensable.has(step) && (status === 'succeeded' || status === 'compensating')) return { type: 'compensate', step };
    }
    const undone = plan.order.some((step) => state.steps[step] === 'compensated');
    return { type: 'finish', outcome: undone ? 'compensated' : 'failed' };
  }
  const next = plan.order.find((step) => state.steps[step] !== 'succeeded');
  return next ? { type: 'run', step: next } : { type: 'finish', outcome: 'completed' };
}

/** What happened, as the engine records it. */
export type SagaEvent =
  | { type: 'step_succeeded'; step: StepName }
  /** uncertain: the step may have had its effect (e.g. it timed out), so it is compensated too. */
  | { type: 'step_failed'; step: StepName; uncertain: boolean }
  | { type: 'step_compensated'; step: StepName }
  | { type: 'finished'; outcome: 'completed' | 'failed' | 'compensated' };

export function evolve(plan: SagaPlan, state: SagaState, event: SagaEvent): SagaState {
  switch (event.type) {
    case 'step_succeeded': {
      const last = plan.order[plan.order.length - 1] === event.step;
      return { status: last ? 'completed' : 'in_progress', steps: { ...state.steps, [event.step]: 'succeeded' } };
    }
    case 'step_failed':
      return { status: 'compensating', steps: { ...state.steps, [event.step]: event.uncertain ? 'compensating' : 'failed' } };
    case 'step_compensated':
      return { ...state, steps: { ...state.steps, [event.step]: 'compensated' } };
    case 'finished':
      return { ...state, status: event.outcome };
  }
}

/** How an error of a step is to be treated. */
export type ErrorKind =
  /** The step definitely did not take effect (declined, out of stock): compensate what came before. */
  | 'refused'
  /** The outcome is not known yet (payment processing): wait, then ask again. */
  | 'waiting'
  /** The step's outcome is unknown and will stay so (waited too long): compensate it too. */
  | 'abandoned'
  /** Anything else (a connection lost, a bug): retry with backoff. */
  | 'transient';

export type ErrorVerdict =
  | { action: 'compensate'; uncertain: boolean }
  | { action: 'retry'; delayMs: number }
  | { action: 'wait'; delayMs: number };

export interface RetryPolicy {
  attemptsMax: number;
  retryDelayBaseMs: number;
  retryDelayMaxMs: number;
}

/**
 * Decides what an error of a step's `attempts`-th run leads to; a `forwardOnly` step (see
 * SagaPlan) retries a transient error past the policy's attempts.
 */
export function judgeError(kind: ErrorKind, attempts: number, policy: RetryPolicy, waitDelayMs: number, forwardOnly = false): ErrorVerdict {
  switch (kind) {
    case 'refused':
      return { action: 'compensate', uncertain: false };
    case 'abandoned':
      return { action: 'compensate', uncertain: true };
    case 'waiting':
      return { action: 'wait', delayMs: waitDelayMs };
    case 'transient':
      if (attempts >= policy.attemptsMax && !forwardOnly) return { action: 'compensate', uncertain: true };
      return { action: 'retry', delayMs: retryDelayMs(attempts, policy) };
  }
}

/** Exponential backoff, capped. */
export function retryDelayMs(attempts: number, policy: Pick<RetryPolicy, 'retryDelayBaseMs' | 'retryDelayMaxMs'>): number {
  const exponent = Math.min(Math.max(attempts - 1, 0), 30);
  return Math.min(policy.retryDelayBaseMs * 2 ** exponent, policy.retryDelayMaxMs);
}
