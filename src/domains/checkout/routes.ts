import type { Clock } from '../../platform/clock.ts';
import type { Pool } from '../../platform/db/pool.ts';
import { principalOf } from '../../platform/http/access.ts';
import { AppError, notFound } from '../../platform/http/errors.ts';
import { ProblemResponse, authProblems } from '../../platform/http/schemas.ts';
import type { HttpApp } from '../../platform/http/server.ts';
import type { AccountsPort, CartPort } from './ports.ts';
import type { SessionRunner } from './runner.ts';
import { isFinished } from './saga.ts';
import { CheckoutBody, CheckoutHeaders, CheckoutSessionSchema, SessionParams } from './schemas.ts';
import { selectSession, selectSteps } from './sql.ts';
import { openSession } from './start-checkout.ts';
import type { SessionRecord, StepRecord } from './steps/types.ts';
import type { Driven } from './engine.ts';
import type { StepName } from './saga.ts';
import { sessionView } from './view.ts';

export interface CheckoutRouteDeps {
  pool: Pool;
  clock: Clock;
  cart: CartPort;
  accounts: AccountsPort;
  runner: SessionRunner;
  waitMs: number;
  leaseMs: number;
  firstStep: StepName;
}

const tags = ['checkout'];
const POLL_MS = 50;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Waits up to `ms` for the promise; undefined when the time ran out first. */
async function within<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Gives the session a bounded time to finish: a session this request created is driven here; one
 * another request (or worker) drives is watched until it finishes or the time is up.
 */
async function settle(deps: CheckoutRouteDeps, session: SessionRecord, created: boolean): Promise<Driven> {
  if (isFinished(session.status)) return { session, steps: await selectSteps(deps.pool, session.id) };
  const deadline = Date.now() + deps.waitMs;
  const drive = created ? deps.runner.drive(session, [firstStepOf(session)], session.currentStep ?? undefined) : deps.runner.driving(session.id);
  let current = session;
  if (drive) {
    const driven = await within(drive, deps.waitMs);
    if (driven && isFinished(driven.session.status)) return driven;
  }
  while (Date.now() < deadline) {
    await sleep(Math.min(POLL_MS, Math.max(deadline - Date.now(), 1)));
    current = (await selectSession(deps.pool, session.id)) ?? current;
    if (isFinished(current.status)) break;
  }
  const latest = (await selectSession(deps.pool, session.id)) ?? current;
  return { session: latest, steps: await selectSteps(deps.pool, session.id) };
}

/** The step row the session was created with (its first step, started). */
function firstStepOf(session: SessionRecord): StepRecord {
  return { step: session.currentStep as StepName, status: 'pending', attempts: 1, attemptedAt: session.startedAt, completedAt: null, compensatedAt: null, output: null, error: null };
}

export function registerCheckoutRoutes(app: HttpApp, deps: CheckoutRouteDeps): void {
  app.post(
    '/v1/checkout',
    {
      config: { access: ['buyer'], location: true },
      schema: {
        tags,
        summary: 'Check out the active cart',
        description:
          'Starts (once per Idempotency-Key) the checkout of the buyer\'s active cart: prices are fixed, stock reserved, coupons redeemed, one order per seller created and the payment taken. ' +
          'Waits a few seconds for the outcome: 201 with the finished session, or 202 with the session still in progress (read it with GET /v1/checkout/{sessionId}). ' +
          'The same key and body replay the first answer with Idempotent-Replayed: true and the session as it is now: 201 if it has finished, 202 while it still runs ' +
          '(so a first 201 is replayed as 201, and a first 202 as 202 until the saga finishes, then as 201 with the outcome). ' +
          'The same key with another body is 422 IDEMPOTENCY_KEY_REUSED; a declined payment is a finished session with status compensated and its failure. ' +
          'The address is given in full (shippingAddress), or taken from your saved addresses: by shippingAddressLabel, or without either the default one; none that fits is 422 UNPROCESSABLE.',
        headers: CheckoutHeaders,
        body: CheckoutBody,
        response: {
          201: CheckoutSessionSchema,
          202: CheckoutSessionSchema,
          ...authProblems,
          409: ProblemResponse,
          422: ProblemResponse,
        },
      },
    },
    async (request, reply) => {
      // Required by the header schema (a request without it is answered 400 IDEMPOTENCY_KEY_REQUIRED);
      // a key of blanks is no key either.
      const key = request.headers['idempotency-key'];
      if (key.trim().length === 0) {
        throw new AppError('IDEMPOTENCY_KEY_REQUIRED', 'send an Idempotency-Key header (e.g. a UUID) so a retried checkout is never placed twice');
      }
      const buyerId = principalOf(request).userId;
      const opened = await openSession(
        { pool: deps.pool, clock: deps.clock, cart: deps.cart, accounts: deps.accounts, owner: deps.runner.owner, leaseMs: deps.leaseMs, firstStep: deps.firstStep },
        buyerId,
        key,
        request.body,
        request.trace,
      );
      const { session, steps } = await settle(deps, opened.session, opened.created);
      // A replay answers what the first request answers, brought up to date: the session as it is
      // now, 201 once finished and 202 while it runs (a 202 that is retried after the saga finished
      // shows the outcome rather than a stale "in progress").
      if (!opened.created) reply.header('idempotent-replayed', 'true');
      reply.header('location', `/v1/checkout/${session.id}`);
      return reply.status(isFinished(session.status) ? 201 : 202).send(sessionView(session, steps));
    },
  );

  app.get(
    '/v1/checkout/:sessionId',
    {
      config: { access: ['buyer'] },
      schema: {
        tags,
        summary: 'One own checkout session: status, steps, order ids, failure',
        params: SessionParams,
        response: { 200: CheckoutSessionSchema, ...authProblems, 404: ProblemResponse },
      },
    },
    async (request) => {
      const session = await selectSession(deps.pool, request.params.sessionId);
      if (!session || session.userId !== principalOf(request).userId) throw notFound('checkout session');
      return sessionView(session, await selectSteps(deps.pool, session.id));
    },
  );
}
