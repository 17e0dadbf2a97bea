import type { Logger } from 'pino';
import type { CheckoutCompletedV1, CheckoutFailedV1 } from '../../contracts/checkout.ts';
import type { Clock } from '../../platform/clock.ts';
import { type Pool, withTransaction } from '../../platform/db/pool.ts';
import { newId } from '../../platform/ids.ts';
import { appendEvents } from '../../platform/messaging/outbox.ts';
import { StepRefused, StepWaiting, classify, isAlreadyUndone } from './failures.ts';
import type { CheckoutPorts } from './ports.ts';
import { type RetryPolicy, type SagaPlan, type SagaState, type StepName, decide, evolve, judgeError, retryDelayMs } from './saga.ts';
import {
  type LeaseHolder,
  countStepFailures,
  finishFailed,
  parkAfterStepError,
  recordCompensated,
  recordStepFailure,
  recordTransition,
  releaseLease,
  renewLease,
  selectSteps,
  startCompensation,
  startStep,
  toSession,
} from './sql.ts';
import type { SessionPatch, SessionRecord, StepContext, StepModule, StepOutputs, StepRecord, StepSettings } from './steps/types.ts';

/** Where a test may stop the process (the crash matrix): after a step's effect, before or after it is recorded. */
export type FaultPoint = 'ran' | 'recorded' | 'compensated';
export type FaultInjector = (at: { session: SessionRecord; step: StepName; point: FaultPoint }) => void;

export interface EngineDeps {
  pool: Pool;
  clock: Clock;
  log: Logger;
  ports: CheckoutPorts;
  steps: Record<StepName, StepModule>;
  plan: SagaPlan;
  settings: StepSettings;
  retry: RetryPolicy;
  leaseMs: number;
  /** This process's name on the leases it takes. */
  owner: string;
  /** How often a running step's lease is renewed; a third of the lease unless set. */
  heartbeatMs?: number;
  /** How long (real time) a single step call may keep renewing its lease; ten leases unless set. */
  stepHoldMaxMs?: number;
  isStopping(): boolean;
  faults(): FaultInjector | undefined;
}

/** A driver found that another worker took its session over: it stops and leaves the session to it. */
class LeaseLost extends Error {
  constructor(sessionId: string) {
    super(`lease on checkout session ${sessionId} was lost`);
    this.name = 'LeaseLost';
  }
}

/**
 * A step (or compensation) keeps its session's lease for this many leases at most: one that hangs
 * longer lets the lease lapse, and the recovery worker runs it again (every step is idempotent).
 */
const STEP_LEASES_MAX = 10;

/** Steps run and compensated per drive at most (9 steps and 9 compensations, with room). */
const ACTIONS_PER_DRIVE_MAX = 40;

function stateOf(session: SessionRecord, steps: Map<StepName, StepRecord>): SagaState {
  const state: SagaState = { status: session.status, steps: {} };
  for (const [name, record] of steps) state.steps[name] = record.status;
  return state;
}

function outputsOf(steps: Map<StepName, StepRecord>): StepOutputs {
  const outputs: Record<string, unknown> = {};
  for (const [name, record] of steps) if (record.completedAt !== null && record.output !== null) outputs[name] = record.output;
  return outputs as StepOutputs;
}

export interface Driven {
  session: SessionRecord;
  steps: StepRecord[];
}

/**
 * Drives one session, whose lease this process holds, as far as it can go now: runs the steps in
 * order, or compensates them in reverse after a failure, recording each move before the next (a
 * step's success and the start of the next one in one statement). It returns when the session is
 * finished, waits (payment processing, retry backoff), or when its lease was lost. Every external
 * call a step makes is idempotent, so running a step again after a crash between its call and its
 * record does it once. `started` names a step already started (its attempt counted) by the caller.
 * The session's in-memory trace (the POST's that opened it; none when loaded from the database)
 * goes with every step's calls and the session's events.
 */
export async function driveSession(deps: EngineDeps, start: SessionRecord, loaded?: StepRecord[], started?: StepName): Promise<Driven> {
  let session = start;
  // Kept here: `session` is replaced by the rows read back, which know no trace.
  const trace = start.trace ?? null;
  const steps = new Map((loaded ?? (await selectSteps(deps.pool, session.id))).map((s) => [s.step, s]));
  let state = stateOf(session, steps);
  let begun: { step: StepName; attempts: number; at: Date } | undefined = started
    ? { step: started, attempts: steps.get(started)?.attempts ?? 1, at: steps.get(started)?.attemptedAt ?? session.startedAt }
    : undefined;
  const last = deps.plan.order[deps.plan.order.length - 1] as StepName;
  const holder = (): LeaseHolder => ({ sessionId: session.id, owner: deps.owner, now: deps.clock.now() });
  const leaseUntil = (now: Date) => new Date(now.getTime() + deps.leaseMs);
  const must = <T>(value: T | null | false): T => {
    if (value === null || value === false) throw new LeaseLost(session.id);
    return value;
  };
  const contextFor = (step: StepName, now: Date): StepContext => ({
    session,
    outputs: outputsOf(steps),
    saved: steps.get(step)?.output ?? undefined,
    ports: deps.ports,
    now,
    settings: deps.settings,
    failureReason: session.failureReason ?? 'the checkout failed',
    trace,
  });
  const succeeded = (step: StepName, output: unknown, at: Date) => {
    steps.set(step, { ...(steps.get(step) ?? emptyStep(step)), status: 'succeeded', output, completedAt: at, error: null });
    state = evolve(deps.plan, state, { type: 'step_succeeded', step });
  };
  const result = (): Driven => ({ session, steps: [...steps.values()] });

  /**
   * Runs a step's call while renewing the session's lease (its heartbeat): a call slower than the
   * lease (a queue in a flash sale, a slow gateway) must not let another worker take the session
   * and undo what this call is about to make.
   */
  async function keepingLease<T>(step: StepName, call: () => Promise<T>): Promise<T> {
    const every = deps.heartbeatMs ?? Math.max(50, Math.floor(deps.leaseMs / 3));
    const giveUpAt = Date.now() + (deps.stepHoldMaxMs ?? STEP_LEASES_MAX * deps.leaseMs);
    // One renewal at a time: a tick while one is on its way (a slow database) is skipped, not queued
    // behind it, so no renewal starts after the longest hold, however late the earlier ones end.
    let renewing: Promise<void> | undefined;
    const timer = setInterval(() => {
      if (Date.now() >= giveUpAt) {
        clearInterval(timer);
        deps.log.warn({ sessionId: session.id, step }, 'checkout step still running after its longest hold; its lease is left to lapse');
        return;
      }
      if (renewing) return;
      const now = deps.clock.now();
      renewing = renewLease(deps.pool, { sessionId: session.id, owner: deps.owner, now }, leaseUntil(now))
        .then((held) => {
          if (!held) clearInterval(timer);
        })
        .catch((error: unknown) => deps.log.warn({ err: error, sessionId: session.id, step }, 'checkout lease renewal failed'))
        .finally(() => {
          renewing = undefined;
        });
    }, every);
    timer.unref();
    try {
      return await call();
    } finally {
      clearInterval(timer);
      await renewing;
    }
  }

  async function run(step: StepName): Promise<'next' | 'parked'> {
    const h = holder();
    let attempts: number;
    let attemptedAt = h.now;
    if (begun?.step === step) {
      attempts = begun.attempts;
      attemptedAt = begun.at;
    } else attempts = must(await startStep(deps.pool, h, step, newId(), leaseUntil(h.now)));
    begun = undefined;
    steps.set(step, { ...(steps.get(step) ?? emptyStep(step)), status: 'pending', attempts, attemptedAt });
    session = { ...session, status: 'in_progress', currentStep: step };
    let outcome: Awaited<ReturnType<StepModule['run']>>;
    try {
      outcome = await keepingLease(step, () => deps.steps[step].run(contextFor(step, h.now)));
    } catch (error) {
      return failed(step, attempts, error);
    }
    deps.faults()?.({ session, step, point: 'ran' });

    const done = holder();
    const next = decide(deps.plan, evolve(deps.plan, state, { type: 'step_succeeded', step }));
    const nextStep = next.type === 'run' ? next.step : undefined;
    if (step === last || nextStep === last) {
      // The last step calls no one: it runs at once and is recorded with the completion and its event.
      succeeded(step, outcome.output, done.now);
      const final = step === last ? undefined : await deps.steps[last].run(contextFor(last, done.now));
      if (final) deps.faults()?.({ session, step: last, point: 'ran' });
      // The completion and its event in one statement: the event is made from the session as this
      // transition leaves it, and written only if the transition is (the lease still held).
      const completed = withPatch(session, outcome.patch ?? {});
      const recorded = must(
        await recordTransition(
          deps.pool,
          done,
          step,
          outcome.output,
          outcome.patch ?? {},
          final ? { step: last, rowId: newId(), status: 'succeeded', output: final.output } : null,
          true,
          leaseUntil(done.now),
          [completedEvent(completed, done.now)],
          trace,
        ),
      );
      session = toSession(recorded.session);
      if (final) {
        steps.set(last, { ...(steps.get(last) ?? emptyStep(last)), attempts: (steps.get(last)?.attempts ?? 0) + 1, attemptedAt: done.now });
        succeeded(last, final.output, done.now);
      }
      deps.faults()?.({ session, step, point: 'recorded' });
      return 'parked';
    }
    const recorded = must(
      await recordTransition(deps.pool, done, step, outcome.output, outcome.patch ?? {}, nextStep ? { step: nextStep, rowId: newId(), status: 'pending' } : null, false, leaseUntil(done.now)),
    );
    session = toSession(recorded.session);
    succeeded(step, outcome.output, done.now);
    if (nextStep && recorded.nextAttempts !== null) begun = { step: nextStep, attempts: recorded.nextAttempts, at: done.now };
    deps.faults()?.({ session, step, point: 'recorded' });
    return 'next';
  }

  async function failed(step: StepName, attempts: number, error: unknown): Promise<'next' | 'parked'> {
    const c = classify(error);
    const waitMs = error instanceof StepWaiting ? error.retryAfterMs : 0;
    // A step that waited (a payment whose outcome is unknown, polled every second) has many runs;
    // only its failures count against the retry budget and set the backoff.
    const failures = c.kind === 'transient' ? (await countStepFailures(deps.pool, session.id, step)) + 1 : attempts;
    const verdict = judgeError(c.kind, failures, deps.retry, waitMs, deps.plan.forwardOnly.has(step));
    const h = holder();
    if (verdict.action !== 'compensate') {
      const waiting = error instanceof StepWaiting ? error : undefined;
      must(
        await parkAfterStepError(
          deps.pool,
          h,
          step,
          new Date(h.now.getTime() + verdict.delayMs),
          // A step that only goes forward is retried for as long as an outage lasts: past the retry
          // budget its failures are not audited again (the step keeps its last error), so a long
          // outage does not write a row per session every 30 s.
          { code: c.code, detail: c.detail, audit: verdict.action === 'retry' && failures <= deps.retry.attemptsMax, failureId: newId() },
          { progress: waiting?.progress, paymentIntentId: waiting?.patch.paymentIntentId },
        ),
      );
      if (waiting) {
        steps.set(step, { ...(steps.get(step) as StepRecord), output: waiting.progress });
        if (waiting.patch.paymentIntentId) session = { ...session, paymentIntentId: waiting.patch.paymentIntentId };
      }
      if (verdict.action === 'retry') deps.log.warn({ sessionId: session.id, step, attempts, err: error }, 'checkout step failed; it will be retried');
      return 'parked';
    }
    // Uncertain, a step is undone as if it had run; one with nothing to undo (price_snapshot) just
    // failed: left 'compensating', a finished session showed it being undone for ever.
    const stepStatus = verdict.uncertain && deps.plan.compensable.has(step) ? 'compensating' : 'failed';
    // A declined payment still made an intent: the session names it, as it does a paid one.
    const paymentIntentId = error instanceof StepRefused ? (error.patch.paymentIntentId ?? null) : null;
    must(
      await recordStepFailure(
        deps.pool,
        h,
        step,
        stepStatus,
        { code: c.code, reason: c.reason, details: c.details, detail: c.detail, failureId: newId() },
        leaseUntil(h.now),
        paymentIntentId,
      ),
    );
    if (paymentIntentId) session = { ...session, paymentIntentId };
    if (c.kind === 'transient' || c.kind === 'abandoned') deps.log.error({ sessionId: session.id, step, attempts, err: error }, 'checkout step given up; compensating');
    session = { ...session, status: 'compensating', failureReason: c.reason, failureCode: c.code, failureDetails: c.details, failedStep: step };
    steps.set(step, { ...(steps.get(step) as StepRecord), status: stepStatus, error: c.detail });
    state = evolve(deps.plan, state, { type: 'step_failed', step, uncertain: stepStatus === 'compensating' });
    return 'next';
  }

  async function compensate(step: StepName): Promise<'next' | 'parked'> {
    const h = holder();
    const attempts = must(await startCompensation(deps.pool, h, step, leaseUntil(h.now)));
    const compensation = deps.steps[step].compensate;
    try {
      if (compensation) await keepingLease(step, () => compensation(contextFor(step, h.now)));
    } catch (error) {
      if (!isAlreadyUndone(error)) {
        const c = classify(error);
        const at = holder();
        must(
          await parkAfterStepError(
            deps.pool,
            at,
            step,
            new Date(at.now.getTime() + retryDelayMs(attempts, deps.retry)),
            { code: c.code, detail: `compensation failed: ${c.detail}`.slice(0, 2000), audit: true, failureId: newId() },
            {},
          ),
        );
        deps.log.warn({ sessionId: session.id, step, attempts, err: error }, 'checkout compensation failed; it will be retried');
        return 'parked';
      }
    }
    const done = holder();
    must(await recordCompensated(deps.pool, done, step));
    // As recorded: the POST's answer shows what a GET of the session shows.
    steps.set(step, { ...(steps.get(step) as StepRecord), status: 'compensated', attempts, attemptedAt: h.now, compensatedAt: done.now });
    state = evolve(deps.plan, state, { type: 'step_compensated', step });
    deps.faults()?.({ session, step, point: 'compensated' });
    return 'next';
  }

  async function finish(outcome: 'failed' | 'compensated'): Promise<void> {
    const h = holder();
    let cancelled: string[] = [];
    // Asked also when the session names no orders: create_orders given up after making them (its
    // answer lost) was undone by the session's id, and the event lists what that cancelled.
    if (steps.get('create_orders')?.status === 'compensated') {
      // Asked again (idempotent: nothing is cancelled twice): an order shipped meanwhile stands.
      const results = await deps.ports.orders.cancelOrdersForCheckout(session.id, `checkout failed: ${session.failureReason ?? ''}`.slice(0, 1000), trace);
      cancelled = results.filter((r) => r.cancelled).map((r) => r.orderId);
      const kept = results.filter((r) => !r.cancelled).map((r) => r.orderId);
      if (kept.length > 0) deps.log.warn({ sessionId: session.id, kept }, 'a failed checkout left orders that could no longer be cancelled (shipped): they keep their payment and coupon');
    }
    const row = await withTransaction(deps.pool, async (tx) => {
      const r = must(await finishFailed(tx, h, outcome));
      await appendEvents(tx, 'checkout', [failedEvent(toSession(r), outcome, cancelled, h.now)], trace, h.now);
      return r;
    });
    session = toSession(row);
    state = evolve(deps.plan, state, { type: 'finished', outcome });
  }

  try {
    for (let i = 0; i < ACTIONS_PER_DRIVE_MAX; i++) {
      if (deps.isStopping()) {
        await releaseLease(deps.pool, holder());
        return result();
      }
      const decision = decide(deps.plan, state);
      if (decision.type === 'done') return result();
      if (decision.type === 'finish') {
        // All steps succeeded is recorded with the last step; any other end is a failure.
        if (decision.outcome === 'completed') throw new Error(`session ${session.id} has every step done but is ${state.status}`);
        await finish(decision.outcome);
        return result();
      }
      const next = decision.type === 'run' ? await run(decision.step) : await compensate(decision.step);
      if (next === 'parked') return result();
    }
    throw new Error(`session ${session.id} took more than ${ACTIONS_PER_DRIVE_MAX} actions in one drive`);
  } catch (error) {
    if (error instanceof LeaseLost) {
      deps.log.info({ sessionId: session.id }, 'checkout session taken over by another worker');
      return result();
    }
    // Left leased: the recovery worker takes the session again once the lease lapses.
    deps.log.error({ err: error, sessionId: session.id }, 'checkout session could not be driven');
    return result();
  }
}

/** The session with what a step sets on it (as recordTransition writes it). */
function withPatch(session: SessionRecord, patch: SessionPatch): SessionRecord {
  return {
    ...session,
    reservationId: patch.reservationId ?? session.reservationId,
    paymentIntentId: patch.paymentIntentId ?? session.paymentIntentId,
    orderIds: patch.orderIds ?? session.orderIds,
    totals: patch.totals ?? session.totals,
  };
}

function emptyStep(step: StepName): StepRecord {
  return { step, status: 'pending', attempts: 0, attemptedAt: null, completedAt: null, compensatedAt: null, output: null, error: null };
}

function completedEvent(s: SessionRecord, now: Date) {
  const t = s.totals;
  if (!t || (t.totalAmount > 0 && !s.paymentIntentId)) throw new Error(`session ${s.id} completed without totals or payment`);
  const data: CheckoutCompletedV1 = {
    sessionId: s.id,
    buyerId: s.userId,
    cartId: s.cartId,
    orderIds: s.orderIds,
    paymentIntentId: s.paymentIntentId,
    currency: t.currency,
    subtotalAmount: t.subtotalAmount,
    discountAmount: t.discountAmount,
    shippingAmount: t.shippingAmount,
    totalAmount: t.totalAmount,
    completedAt: now.toISOString(),
  };
  return { type: 'checkout.checkout_completed.v1', aggregateId: s.id, aggregateType: 'checkout_session', data };
}

function failedEvent(s: SessionRecord, outcome: 'failed' | 'compensated', cancelledOrderIds: string[], now: Date) {
  const data: CheckoutFailedV1 = {
    sessionId: s.id,
    buyerId: s.userId,
    cartId: s.cartId,
    outcome,
    step: s.failedStep,
    code: s.failureCode ?? 'INTERNAL',
    reason: s.failureReason ?? 'the checkout failed',
    cancelledOrderIds,
    failedAt: now.toISOString(),
  };
  return { type: 'checkout.checkout_failed.v1', aggregateId: s.id, aggregateType: 'checkout_session', data };
}
