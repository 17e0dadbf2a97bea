import { hostname } from 'node:os';
import type { DomainContext, DomainModule } from '../../platform/module.ts';
import type { WorkerLoop } from '../../platform/messaging/worker-loop.ts';
import { newId } from '../../platform/ids.ts';
import type { FaultInjector } from './engine.ts';
import { paymentOutcomeSubscription } from './handlers.ts';
import type { CheckoutPorts } from './ports.ts';
import { createRecoveryWorker } from './recovery.ts';
import { registerCheckoutRoutes } from './routes.ts';
import { SessionRunner } from './runner.ts';
import { selectSession, selectSteps } from './sql.ts';
import { STEP_NAMES } from './saga.ts';
import { CHECKOUT_STEPS, planOf } from './steps/plan.ts';
import { type CheckoutSessionView, sessionView } from './view.ts';

export type { CheckoutPorts } from './ports.ts';
export type { CheckoutSessionView } from './view.ts';
export type { FaultInjector, FaultPoint } from './engine.ts';

/** What other parts (tests, tools) may ask of checkout. */
export interface CheckoutApi {
  /** A session as its buyer sees it; undefined when there is none. */
  getSession(sessionId: string): Promise<CheckoutSessionView | undefined>;
  /** Wakes the recovery worker (it also polls on its own). */
  wakeRecovery(): void;
}

export interface CheckoutOptions {
  /** Sessions driven at once by this process's recovery worker. */
  recoveryDrivesMax?: number;
  /** How often a processing payment is asked again when no webhook event came. */
  paymentPollMs?: number;
  attemptsMax?: number;
}

let faultInjector: FaultInjector | undefined;

/**
 * For the crash tests only: called at points of every drive (after a step ran, after it was
 * recorded, after a compensation); a test process kills itself there. Never set in production.
 */
export function setCheckoutFaultInjector(injector: FaultInjector | undefined): void {
  faultInjector = injector;
}

const DEFAULTS = { recoveryDrivesMax: 32, paymentPollMs: 1000, attemptsMax: 8 };
/** Longest pause between two retries of a failing step. */
const RETRY_DELAY_MAX_MS = 30_000;

export function createCheckoutModule(ctx: DomainContext, ports: CheckoutPorts, options: CheckoutOptions = {}): DomainModule & { api: CheckoutApi } {
  const settings = { ...DEFAULTS, ...options };
  const config = ctx.config.checkout;
  const owner = `${hostname().slice(0, 100)}:${process.pid}:${newId().slice(-12)}`;
  const runner = new SessionRunner({
    pool: ctx.pool,
    clock: ctx.clock,
    log: ctx.log,
    ports,
    steps: CHECKOUT_STEPS,
    plan: planOf(CHECKOUT_STEPS),
    settings: {
      reservationTtlSeconds: ctx.config.reservationTtlSeconds,
      paymentWaitMaxMs: config.paymentWaitMaxMs,
      paymentPollMs: settings.paymentPollMs,
    },
    retry: {
      attemptsMax: settings.attemptsMax,
      retryDelayBaseMs: ctx.config.retryDelayBaseMs,
      retryDelayMaxMs: Math.min(ctx.config.retryDelayMaxMs, RETRY_DELAY_MAX_MS),
    },
    leaseMs: config.leaseMs,
    owner,
    faults: () => faultInjector,
  });
  let recovery: WorkerLoop | undefined;
  const wakeRecovery = () => {
    // After the waking transaction has committed.
    setTimeout(() => recovery?.wake(), 20).unref();
  };
  // The authorization and the capture may each wait that long, one after the other.
  if (2 * config.paymentWaitMaxMs >= ctx.config.reservationTtlSeconds * 1000) {
    ctx.log.warn('twice CHECKOUT_PAYMENT_WAIT_MAX_MS (a slow authorization, then a slow capture) is not shorter than RESERVATION_TTL_SECONDS: a slow payment may outlive its reservation');
  }

  return {
    name: 'checkout',
    subscriptions: [paymentOutcomeSubscription(wakeRecovery)],
    api: {
      async getSession(sessionId) {
        const session = await selectSession(ctx.pool, sessionId);
        return session ? sessionView(session, await selectSteps(ctx.pool, session.id)) : undefined;
      },
      wakeRecovery,
    },
    routes(app) {
      registerCheckoutRoutes(app, {
        pool: ctx.pool,
        clock: ctx.clock,
        cart: ports.cart,
        accounts: ports.accounts,
        runner,
        waitMs: config.waitMs,
        leaseMs: config.leaseMs,
        firstStep: STEP_NAMES[0],
      });
    },
    async start() {
      recovery ??= createRecoveryWorker(runner, {
        pool: ctx.pool,
        clock: ctx.clock,
        leaseMs: config.leaseMs,
        pollMs: config.recoveryPollMs,
        drivesMax: settings.recoveryDrivesMax,
        onError: (error) => ctx.log.error({ err: error }, 'checkout recovery iteration failed'),
      });
      recovery.start();
    },
    async stop() {
      await recovery?.stop();
      await runner.stop();
    },
  };
}

