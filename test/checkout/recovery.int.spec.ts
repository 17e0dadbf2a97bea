import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { FaultInjector } from '../../src/domains/checkout/engine.ts';
import { SessionRunner } from '../../src/domains/checkout/runner.ts';
import { createRecoveryWorker } from '../../src/domains/checkout/recovery.ts';
import { claimDueSessions, nudgeSession, selectSession, selectSteps } from '../../src/domains/checkout/sql.ts';
import { openSession } from '../../src/domains/checkout/start-checkout.ts';
import { CHECKOUT_STEPS, planOf } from '../../src/domains/checkout/steps/plan.ts';
import type { SessionRecord } from '../../src/domains/checkout/steps/types.ts';
import type { StepName } from '../../src/domains/checkout/saga.ts';
import { ManualClock } from '../../src/platform/clock.ts';
import { AppError } from '../../src/platform/http/errors.ts';
import { type Pool, createPool } from '../../src/platform/db/pool.ts';
import { newId } from '../../src/platform/ids.ts';
import { createLogger } from '../../src/platform/logger.ts';
import { type FreshDatabases, freshDatabases } from '../support/databases.ts';
import { eventually } from '../support/eventually.ts';
import { checkoutBody } from './fixtures/market.ts';
import { FakeMarket } from './fixtures/fake-ports.ts';

/**
 * The saga engine and the recovery worker against a real checkout database, with the other domains
 * faked (idempotent, counting what they made) and the clock in the test's hand: leases lapse when
 * the test says so, never by sleeping.
 */
const LEASE_MS = 10_000;
const PAYMENT_POLL_MS = 1000;
const PAYMENT_WAIT_MAX_MS = 5000;

let dbs: FreshDatabases;
let pool: Pool;
const clock = new ManualClock('2026-03-01T10:00:00.000Z');
const log = createLogger(process.env.TEST_LOG ?? 'silent');

beforeAll(async () => {
  dbs = await freshDatabases();
  pool = createPool(dbs.targets.find((t) => t.domain === 'checkout')!.url, 6, 'checkout-recovery-test');
});

// A test that fails may leave its session due; the next tests claim "the due sessions" and would
// take it for theirs. Whatever a test left unfinished is put out of every later claim's reach.
afterEach(async () => {
  await pool.query(
    "UPDATE checkout_sessions SET resume_at = 'infinity', lease_owner = NULL, lease_expires_at = NULL WHERE status IN ('pending', 'in_progress', 'compensating')",
  );
});

afterAll(async () => {
  await pool?.end();
  await dbs?.drop();
});

function runner(owner: string, market: FakeMarket, faults?: FaultInjector, lease: { heartbeatMs?: number; stepHoldMaxMs?: number } = {}): SessionRunner {
  return new SessionRunner(runnerDeps(owner, market, faults, lease));
}

function runnerDeps(owner: string, market: FakeMarket, faults?: FaultInjector, lease: { heartbeatMs?: number; stepHoldMaxMs?: number } = {}) {
  return {
    ...lease,
    pool,
    clock,
    log,
    ports: market.ports(),
    steps: CHECKOUT_STEPS,
    plan: planOf(CHECKOUT_STEPS),
    settings: { reservationTtlSeconds: 600, paymentWaitMaxMs: PAYMENT_WAIT_MAX_MS, paymentPollMs: PAYMENT_POLL_MS },
    retry: { attemptsMax: 3, retryDelayBaseMs: 10, retryDelayMaxMs: 100 },
    leaseMs: LEASE_MS,
    owner,
    faults: () => faults,
  };
}

/** A runner whose process "dies" once, right after `crashAfter` took effect and before it is recorded. */
function crashingOnce(owner: string, market: FakeMarket, crashAfter: StepName): SessionRunner {
  let crashed = false;
  return runner(owner, market, ({ step, point }) => {
    if (step === crashAfter && point === 'ran' && !crashed) {
      crashed = true;
      throw new Error('simulated crash');
    }
  });
}

async function open(market: FakeMarket, owner: string, token = 'tok_visa'): Promise<SessionRecord> {
  const { session } = await openSession({ pool, clock, cart: market.ports().cart, accounts: market.ports().accounts, owner, leaseMs: LEASE_MS, firstStep: 'price_snapshot' }, market.buyerId, newId(), checkoutBody(token), null);
  return session;
}

const claim = (owner: string, limit = 10) => claimDueSessions(pool, owner, clock.now(), new Date(clock.now().getTime() + LEASE_MS), limit);
const statusOf = async (id: string) => (await selectSession(pool, id))!.status;
const countOutbox = async (sessionId: string, type: string) =>
  (await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM checkout_outbox_events WHERE aggregate_id = $1 AND event_type = $2', [sessionId, type])).rows[0]!.n;
/** The trace headers of a session's checkout events, by type. */
const tracesOf = async (sessionId: string) => {
  const { rows } = await pool.query<{ id: string; type: string; correlation: string; causation: string | null }>(
    `SELECT id, event_type AS type, headers->>'correlationid' AS correlation, headers->>'causationid' AS causation
       FROM checkout_outbox_events WHERE aggregate_id = $1`,
    [sessionId],
  );
  return new Map(rows.map((r) => [r.type, r]));
};

describe('checkout recovery', () => {
  /** A market whose reservation call waits until the test lets it go. */
  function slowReservation(): { market: FakeMarket; entered: Promise<void>; release: () => void } {
    const market = new FakeMarket();
    let release!: () => void;
    let enter!: () => void;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const entered = new Promise<void>((resolve) => {
      enter = resolve;
    });
    market.before = async (call) => {
      if (call !== 'inventory.reserve') return;
      enter();
      await held;
    };
    return { market, entered, release };
  }
  const leaseExpiry = async (id: string) => (await selectSession(pool, id))!.leaseExpiresAt?.getTime();

  it('keeps renewing the lease while a step runs longer than the lease, so no other worker takes the session over', async () => {
    const { market, entered, release } = slowReservation();
    const slow = runner('slow-worker', market, undefined, { heartbeatMs: 5 });
    const session = await open(market, 'slow-worker');
    const drive = slow.drive(session);
    await entered;
    for (let i = 0; i < 3; i++) {
      clock.advance(LEASE_MS / 2);
      await eventually(async () => expect(await leaseExpiry(session.id)).toBe(clock.now().getTime() + LEASE_MS));
      expect(await claim('other-worker')).toEqual([]);
    }
    release();
    await drive;
    expect(await statusOf(session.id)).toBe('completed');
    expect(market.calls['inventory.reserve']).toBe(1);
  });

  /** A session whose reservation call hangs in `owner`'s drive past its longest hold (40 ms here), the clock past its lease. */
  async function hungPastItsHold(owner: string) {
    const { market, entered, release } = slowReservation();
    const hung = runner(owner, market, undefined, { heartbeatMs: 5, stepHoldMaxMs: 40 });
    const session = await open(market, owner);
    const drive = hung.drive(session);
    await entered;
    await new Promise((resolve) => setTimeout(resolve, 80));
    clock.advance(LEASE_MS + 1);
    return { market, hung, session, drive, release };
  }

  /** The hung call ends at last (its driver finds its lease gone and records nothing); `rescuer` completes the session once. */
  async function rescue(h: Awaited<ReturnType<typeof hungPastItsHold>>, rescuer: string, taken: SessionRecord) {
    h.release();
    await h.drive;
    expect((await selectSession(pool, h.session.id))!.leaseOwner).toBe(rescuer);
    await runner(rescuer, h.market).drive(taken);
    expect(await statusOf(h.session.id)).toBe('completed');
    expect(await countOutbox(h.session.id, 'checkout.checkout_completed.v1')).toBe(1);
  }

  it('leaves a session whose call hangs here to another process: its own recovery worker does not claim it again', async () => {
    const h = await hungPastItsHold('hung-here');
    const loop = createRecoveryWorker(h.hung, { pool, clock, leaseMs: LEASE_MS, pollMs: 5, drivesMax: 4, onError: (e) => log.error(e) });
    loop.start();
    await new Promise((resolve) => setTimeout(resolve, 60));
    await loop.stop();
    const [taken] = await claim('another-process');
    expect(taken?.id).toBe(h.session.id);
    await rescue(h, 'another-process', taken!);
  });

  it('stops renewing the lease of a step that hangs past its longest hold, so recovery takes the session over', async () => {
    const h = await hungPastItsHold('hung-worker');
    // A heartbeat still beating would now move the lease past the new time.
    await new Promise((resolve) => setTimeout(resolve, 40));
    const [taken] = await claim('rescuer-of-hung');
    expect(taken?.id).toBe(h.session.id);
    await rescue(h, 'rescuer-of-hung', taken!);
  });

  it('starts no lease renewal after the longest hold, even when the database answered the earlier ones late', async () => {
    const { market, entered, release } = slowReservation();
    const hung = runner('hung-on-a-slow-database', market, undefined, { heartbeatMs: 5, stepHoldMaxMs: 40 });
    const session = await open(market, 'hung-on-a-slow-database');
    const drive = hung.drive(session);
    await entered;
    // The session's row is locked elsewhere past the longest hold: the renewals of that time wait.
    const blocker = await pool.connect();
    try {
      await blocker.query('BEGIN');
      await blocker.query('SELECT 1 FROM checkout_sessions WHERE id = $1 FOR UPDATE', [session.id]);
      await new Promise((resolve) => setTimeout(resolve, 100));
      clock.advance(LEASE_MS + 1);
      await blocker.query('COMMIT');
    } finally {
      blocker.release();
    }
    // What was waiting now runs: a renewal begun before the hold ended leaves a lease that has
    // lapsed by now; none may be begun later, with the clock's new time.
    await new Promise((resolve) => setTimeout(resolve, 100));
    const [taken] = await claim('rescuer-of-slow');
    expect(taken?.id).toBe(session.id);
    await rescue({ market, hung, session, drive, release }, 'rescuer-of-slow', taken!);
  });

  it('lets two recovery workers share the sessions a crashed process left, each driven by one of them only', async () => {
    const markets = Array.from({ length: 6 }, () => new FakeMarket());
    for (const m of markets) m.before = () => new Promise((resolve) => setTimeout(resolve, 2));
    const sessions = await Promise.all(markets.map((m) => open(m, 'crashed-process')));
    const bySession = new Map(sessions.map((s, i) => [s.id, markets[i]!]));

    // Within the lease nobody takes them; after it both workers compete for them.
    expect(await claim('early-worker')).toEqual([]);
    clock.advance(LEASE_MS + 1);
    const workers = ['worker-a', 'worker-b'].map((owner) => {
      const r = runnerPerSession(owner, bySession);
      return { r, loop: createRecoveryWorker(r, { pool, clock, leaseMs: LEASE_MS, pollMs: 5, drivesMax: 2, onError: (e) => log.error(e) }) };
    });
    for (const w of workers) w.loop.start();
    await eventually(async () => {
      for (const s of sessions) expect(await statusOf(s.id)).toBe('completed');
    });
    for (const w of workers) await w.loop.stop();
    for (const w of workers) await w.r.stop();

    for (const [i, m] of markets.entries()) {
      expect(m.calls, `session ${i}`).toMatchObject({ 'inventory.reserve': 1, 'orders.create': 1, 'payments.authorize': 1, 'payments.capture': 1, 'inventory.confirm': 1 });
      expect(await countOutbox(sessions[i]!.id, 'checkout.checkout_completed.v1')).toBe(1);
    }
    const lastOwners = await pool.query<{ lease_owner: string | null }>('SELECT lease_owner FROM checkout_sessions WHERE id = ANY($1)', [sessions.map((s) => s.id)]);
    expect(lastOwners.rows.every((r) => r.lease_owner === null)).toBe(true);
  });

  it('resumes a session whose process died after a step took effect, repeating the step without making anything twice', async () => {
    const market = new FakeMarket();
    const dying = crashingOnce('dying', market, 'create_orders');
    const session = await open(market, 'dying');
    await dying.drive(session);
    expect(await statusOf(session.id)).toBe('in_progress');
    expect((await selectSteps(pool, session.id)).find((s) => s.step === 'create_orders')?.status).toBe('pending');

    const rescuer = runner('rescuer', market);
    expect(await claim('rescuer')).toEqual([]);
    clock.advance(LEASE_MS + 1);
    const [taken] = await claim('rescuer');
    expect(taken?.id).toBe(session.id);
    await rescuer.drive(taken!);

    expect(await statusOf(session.id)).toBe('completed');
    expect(market.calls['orders.create']).toBe(2);
    expect(market.orders.get(session.id)).toHaveLength(2);
    expect(market.reservations.size).toBe(1);
    expect(market.intents.size).toBe(1);
  });

  it('completes a checkout with nothing to pay without a payment, settling its free orders again after a crash', async () => {
    const market = new FakeMarket();
    for (const v of market.variants) v.price = { amount: 0, currency: 'USD' };
    const dying = crashingOnce('dying-free', market, 'capture_payment');
    const session = await open(market, 'dying-free');
    await dying.drive(session);
    expect(await statusOf(session.id)).toBe('in_progress');
    expect(market.calls['orders.settle_free']).toBe(1);

    clock.advance(LEASE_MS + 1);
    const [taken] = await claim('rescuer-free');
    await runner('rescuer-free', market).drive(taken!);

    expect(await statusOf(session.id)).toBe('completed');
    expect((await selectSession(pool, session.id))!.paymentIntentId).toBeNull();
    expect(market.calls['payments.authorize']).toBeUndefined();
    expect(market.calls['payments.capture']).toBeUndefined();
    expect(market.calls['orders.settle_free']).toBe(2);
    expect(market.orders.get(session.id)?.map((o) => o.totalAmount)).toEqual([0, 0]);
    expect(await countOutbox(session.id, 'checkout.checkout_completed.v1')).toBe(1);
  });

  it('prices the cart it read when opening the session without reading it again; a recovered session reads it', async () => {
    const market = new FakeMarket();
    const session = await open(market, 'opener');
    expect(market.calls['cart.get']).toBe(1);
    await runner('opener', market).drive(session, undefined, 'price_snapshot');
    expect(await statusOf(session.id)).toBe('completed');
    expect(market.calls['cart.get']).toBe(1);

    const other = new FakeMarket();
    const dying = crashingOnce('dying', other, 'price_snapshot');
    const opened = await open(other, 'dying');
    await dying.drive(opened, undefined, 'price_snapshot');
    expect(other.calls['cart.get']).toBe(1);
    clock.advance(LEASE_MS + 1);
    const [taken] = await claim('rescuer');
    expect(taken?.id).toBe(opened.id);
    expect(taken?.openedCart).toBeUndefined();
    await runner('rescuer', other).drive(taken!);
    expect(await statusOf(opened.id)).toBe('completed');
    expect(other.calls['cart.get']).toBe(2);
  });

  it('carries the trace of the request that opened a session through all its steps; a recovered session starts traces of its own', async () => {
    const trace = { correlationId: newId(), causationId: null };
    const openTraced = (market: FakeMarket, owner: string) =>
      openSession({ pool, clock, cart: market.ports().cart, accounts: market.ports().accounts, owner, leaseMs: LEASE_MS, firstStep: 'price_snapshot' }, market.buyerId, newId(), checkoutBody('tok_visa'), trace);
    const market = new FakeMarket();
    const { session } = await openTraced(market, 'opener');
    expect(session.trace).toEqual(trace);
    await runner('opener', market).drive(session, undefined, 'price_snapshot');
    expect(await statusOf(session.id)).toBe('completed');
    const given = ['inventory.reserve', 'coupons.redeem', 'orders.create', 'payments.authorize', 'payments.capture', 'inventory.confirm', 'cart.checkout'];
    expect(market.traces).toEqual(Object.fromEntries(given.map((call) => [call, trace])));
    const events = await tracesOf(session.id);
    for (const type of ['checkout.checkout_started.v1', 'checkout.checkout_completed.v1']) {
      expect(events.get(type), type).toMatchObject({ correlation: trace.correlationId, causation: null });
    }

    // The process dies after create_orders: the steps the rescuer runs have no request behind them.
    const other = new FakeMarket();
    const opened = (await openTraced(other, 'dying')).session;
    await crashingOnce('dying', other, 'create_orders').drive(opened, undefined, 'price_snapshot');
    expect(other.traces['orders.create']).toEqual(trace);
    clock.advance(LEASE_MS + 1);
    const [taken] = await claim('rescuer');
    expect(taken?.id).toBe(opened.id);
    expect(taken?.trace).toBeUndefined();
    await runner('rescuer', other).drive(taken!);
    expect(await statusOf(opened.id)).toBe('completed');
    expect(other.traces).toMatchObject({ 'inventory.reserve': trace, 'orders.create': null, 'payments.authorize': null, 'cart.checkout': null });
    const completed = (await tracesOf(opened.id)).get('checkout.checkout_completed.v1');
    expect(completed).toMatchObject({ causation: null });
    expect(completed?.correlation).toBe(completed?.id);
  });

  it('stops a driver that lost its lease to another worker without recording anything', async () => {
    const market = new FakeMarket();
    const session = await open(market, 'slow');
    const fast = runner('fast', market);
    let takenOver = false;
    market.before = async (call) => {
      if (call !== 'orders.create' || takenOver) return;
      takenOver = true;
      // The slow driver stalls longer than its lease: another worker takes the session and finishes it.
      clock.advance(LEASE_MS + 1);
      const [taken] = await claim('fast');
      await fast.drive(taken!);
    };
    const slowResult = await runner('slow', market).drive(session);

    expect(slowResult.session.status).toBe('in_progress');
    expect(await statusOf(session.id)).toBe('completed');
    expect(market.calls['orders.create']).toBe(2);
    expect(market.calls['payments.authorize']).toBe(1);
    expect(market.orders.get(session.id)).toHaveLength(2);
  });

  it('waits for a payment whose outcome is unknown, then completes it once the outcome event nudges the session, charging once', async () => {
    const market = new FakeMarket();
    const session = await open(market, 'poster', 'tok_timeout');
    const poster = runner('poster', market);
    await poster.drive(session);

    const waiting = (await selectSession(pool, session.id))!;
    expect(waiting.status).toBe('in_progress');
    expect(waiting.currentStep).toBe('authorize_payment');
    expect(waiting.leaseOwner).toBeNull();
    expect(waiting.paymentIntentId).not.toBeNull();
    expect(await claim('poster')).toEqual([]);

    market.settle(waiting.paymentIntentId!, 'authorized');
    expect(await nudgeSession(pool, session.id, clock.now())).toBe(true);
    const [due] = await claim('poster');
    await poster.drive(due!);

    expect(await statusOf(session.id)).toBe('completed');
    expect(market.calls['payments.authorize']).toBe(2);
    expect(market.intents.size).toBe(1);
  });

  it('counts only failures against the retry budget: a brief error after many polls of an unknown payment is retried', async () => {
    const market = new FakeMarket();
    const session = await open(market, 'poller', 'tok_timeout');
    const poller = runner('poller', market);
    await poller.drive(session);
    // More polls than the retry budget (attemptsMax 3), each a run of the step that waits.
    for (let i = 0; i < 3; i++) {
      clock.advance(PAYMENT_POLL_MS);
      for (const s of await claim('poller')) await poller.drive(s);
    }
    expect(await statusOf(session.id)).toBe('in_progress');
    let failOnce = true;
    market.before = async (call) => {
      if (call === 'payments.authorize' && failOnce) {
        failOnce = false;
        throw new Error('connection reset by the payments service');
      }
    };
    clock.advance(PAYMENT_POLL_MS);
    for (const s of await claim('poller')) await poller.drive(s);
    expect(await statusOf(session.id)).toBe('in_progress');

    market.settle((await selectSession(pool, session.id))!.paymentIntentId!, 'authorized');
    clock.advance(PAYMENT_POLL_MS);
    for (const s of await claim('poller')) await poller.drive(s);
    expect(await statusOf(session.id)).toBe('completed');
    expect(market.intents.size).toBe(1);
  });

  it('never gives up a paid sale for a passing outage: the capture and the steps after it are retried past the retry budget until they go through', async () => {
    // The capture too (found by a review: given up, the paid sale was refunded and cancelled): its
    // answer lost after the gateway took the money, or the free orders not settled yet.
    for (const failing of ['lost capture answer', 'orders.settle_free', 'inventory.confirm', 'cart.checkout'] as const) {
      const market = new FakeMarket();
      if (failing === 'orders.settle_free') market.variants[0]!.price = { amount: 0, currency: 'USD' };
      const session = await open(market, 'persistent');
      const persistent = runner('persistent', market);
      // The step's domain is away for twice the retry budget (attemptsMax 3), then back.
      let failuresLeft = 6;
      const fail = () => {
        if (failuresLeft <= 0) return;
        failuresLeft -= 1;
        throw new Error('connection terminated unexpectedly');
      };
      if (failing === 'lost capture answer') market.afterCapture = async () => fail();
      else market.before = async (call) => (call === failing ? fail() : undefined);
      await persistent.drive(session);
      for (let i = 0; i < 20 && failuresLeft > 0; i++) {
        clock.advance(100);
        for (const s of await claim('persistent')) await persistent.drive(s);
        expect(await statusOf(session.id), `${failing}, round ${i}`).toBe('in_progress');
      }
      clock.advance(100);
      for (const s of await claim('persistent')) await persistent.drive(s);

      expect(await statusOf(session.id), failing).toBe('completed');
      expect([...market.intents.values()].map((i) => i.status), failing).toEqual(['captured']);
      expect(market.calls['payments.refund'] ?? 0, failing).toBe(0);
      expect(market.orders.get(session.id)!.some((o) => o.cancelled), failing).toBe(false);
      // Audited up to the retry budget (attemptsMax 3); the later failures only as the step's last error.
      const failures = await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM checkout_failures WHERE session_id = $1', [session.id]);
      expect(failures.rows[0]!.n, failing).toBe(3);
    }
  });

  it('lists in checkout_failed the orders it cancelled when create_orders was given up after making them (found by a review: none were listed)', async () => {
    const market = new FakeMarket();
    const ports = market.ports();
    const create = ports.orders.createOrdersForCheckout;
    // The orders are made, but their answer never arrives: the step is given up as uncertain.
    ports.orders.createOrdersForCheckout = async (input) => {
      await create(input);
      throw new Error('connection terminated unexpectedly');
    };
    const session = await open(market, 'lost-orders');
    const lost = new SessionRunner({ ...runnerDeps('lost-orders', market), ports });
    await lost.drive(session);
    for (let i = 0; i < 10 && !['compensated', 'failed'].includes(await statusOf(session.id)); i++) {
      clock.advance(200);
      for (const s of await claim('lost-orders')) await lost.drive(s);
    }
    expect(await statusOf(session.id)).toBe('compensated');
    const made = market.orders.get(session.id)!;
    expect(made.length).toBeGreaterThan(0);
    expect(made.every((o) => o.cancelled)).toBe(true);
    const { rows } = await pool.query<{ payload: { cancelledOrderIds: string[] } }>(
      "SELECT payload FROM checkout_outbox_events WHERE aggregate_id = $1 AND event_type = 'checkout.checkout_failed.v1'",
      [session.id],
    );
    expect(rows.map((r) => [...r.payload.cancelledOrderIds].sort())).toEqual([made.map((o) => o.orderId).sort()]);
  });

  it('shows a step with nothing to undo that was given up as failed, not as being undone for ever (found by a review)', async () => {
    const market = new FakeMarket();
    market.before = async (call) => {
      if (call === 'products.get') throw new Error('connection terminated unexpectedly');
    };
    const session = await open(market, 'no-prices');
    const noPrices = runner('no-prices', market);
    await noPrices.drive(session);
    for (let i = 0; i < 10 && (await statusOf(session.id)) !== 'failed'; i++) {
      clock.advance(200);
      for (const s of await claim('no-prices')) await noPrices.drive(s);
    }
    expect(await statusOf(session.id)).toBe('failed');
    const steps = await selectSteps(pool, session.id);
    expect(steps.find((s) => s.step === 'price_snapshot')?.status).toBe('failed');
  });

  it('undoes a reservation whose outcome it never learnt by looking it up under its key, never by reserving again', async () => {
    // The reserve call refused every time (a flash sale's queue full): nothing was held.
    const refused = new FakeMarket();
    refused.before = async (call) => {
      if (call === 'inventory.reserve') throw new AppError('RATE_LIMITED', 'too many requests are waiting for this variant');
    };
    // The reserve call made its reservation every time, and its answer was lost every time.
    const lost = new FakeMarket();
    lost.afterReserve = async () => {
      throw new Error('connection terminated unexpectedly');
    };
    for (const [name, market] of [
      ['refused', refused],
      ['lost', lost],
    ] as const) {
      const session = await open(market, 'undoer');
      const undoer = runner('undoer', market);
      await undoer.drive(session);
      for (let i = 0; i < 10 && (await statusOf(session.id)) === 'in_progress'; i++) {
        clock.advance(100);
        for (const s of await claim('undoer')) await undoer.drive(s);
      }
      const ended = (await selectSession(pool, session.id))!;
      expect(ended.status, name).toBe('compensated');
      // The three tries of the step (attemptsMax 3), and no more: the undo only looked.
      expect(market.calls['inventory.reserve'], name).toBe(3);
      expect(market.calls['inventory.get'], name).toBe(1);
      expect([...market.reservations.values()].map((r) => r.status), name).toEqual(name === 'lost' ? ['released'] : []);
    }
  });

  /** When the stock is to be confirmed, the session's first order joins `set` (shipped, held) and the reservation is found lapsed. */
  function firstOrderThenLapse(market: FakeMarket, sessionId: string, set: Set<string>): void {
    market.before = async (call) => {
      if (call !== 'inventory.confirm') return;
      const [first] = market.orders.get(sessionId)!;
      set.add(first!.orderId);
      throw new AppError('RESERVATION_NOT_ACTIVE', 'the reservation expired');
    };
  }

  it('leaves an order shipped before the checkout failed as it stands: its payment and the coupon stay, the other order is cancelled and refunded', async () => {
    const market = new FakeMarket();
    const session = await open(market, 'shipper');
    // Paid, the first seller's order ships; then the stock cannot be confirmed (the reservation lapsed).
    firstOrderThenLapse(market, session.id, market.shipped);
    await runner('shipper', market).drive(session);

    const ended = (await selectSession(pool, session.id))!;
    expect(ended.status).toBe('compensated');
    const [shipped, other] = market.orders.get(session.id)!;
    expect([shipped!.cancelled, other!.cancelled]).toEqual([false, true]);
    const [intent] = [...market.intents.values()];
    const refunded = Object.fromEntries(intent!.allocations.map((a) => [a.orderId, a.refundedAmount]));
    expect(refunded).toEqual({ [shipped!.orderId]: 0, [other!.orderId]: other!.totalAmount });
    expect(market.calls['coupons.release'] ?? 0).toBe(0);
    const { rows } = await pool.query<{ payload: { cancelledOrderIds: string[] } }>(
      "SELECT payload FROM checkout_outbox_events WHERE aggregate_id = $1 AND event_type = 'checkout.checkout_failed.v1'",
      [session.id],
    );
    expect(rows.map((r) => r.payload.cancelledOrderIds)).toEqual([[other!.orderId]]);
  });

  it('tries the compensation again while an order is only held for shipment, and cancels it once the hold ends without a parcel', async () => {
    const market = new FakeMarket();
    const session = await open(market, 'holder');
    firstOrderThenLapse(market, session.id, market.held);
    const holder = runner('holder', market);
    await holder.drive(session);
    // Parked: nothing refunded, no coupon given back, while the hold lasts.
    expect(await statusOf(session.id)).toBe('compensating');
    expect(market.calls['payments.refund'] ?? 0).toBe(0);
    expect(market.calls['coupons.release'] ?? 0).toBe(0);
    for (let i = 0; i < 3; i++) {
      clock.advance(100);
      for (const s of await claim('holder')) await holder.drive(s);
      expect(await statusOf(session.id)).toBe('compensating');
    }
    // The hold ends without a shipment: the order is cancelled like the other, and everything comes back.
    market.held.clear();
    clock.advance(100);
    for (const s of await claim('holder')) await holder.drive(s);
    expect(await statusOf(session.id)).toBe('compensated');
    expect(market.orders.get(session.id)!.map((o) => o.cancelled)).toEqual([true, true]);
    const [intent] = [...market.intents.values()];
    expect(intent!.allocations.map((a) => a.refundedAmount)).toEqual(intent!.allocations.map((a) => a.capturedAmount));
    expect(market.calls['coupons.release']).toBe(1);
  });

  it("does not fail its refund of an order that payments refunded by itself on hearing of the cancellation", async () => {
    const market = new FakeMarket();
    const session = await open(market, 'refunder');
    market.before = async (call) => {
      if (call === 'inventory.confirm') throw new AppError('RESERVATION_NOT_ACTIVE', 'the reservation expired');
      if (call !== 'payments.refund') return;
      // Payments' own refund of the cancelled orders (orders.order_cancelled) came first.
      for (const intent of market.intents.values()) for (const a of intent.allocations) a.refundedAmount = a.capturedAmount;
      throw new AppError('REFUND_EXCEEDS_CAPTURED', 'nothing is left to refund');
    };
    await runner('refunder', market).drive(session);
    expect(await statusOf(session.id)).toBe('compensated');
    const failures = await pool.query('SELECT step_type, code FROM checkout_failures WHERE session_id = $1', [session.id]);
    expect(failures.rows).toEqual([{ step_type: 'confirm_reservations', code: 'RESERVATION_NOT_ACTIVE' }]);
  });

  it('gives up a payment that stays unknown too long: voids it and gives everything back', async () => {
    const market = new FakeMarket();
    const session = await open(market, 'patient', 'tok_timeout');
    const patient = runner('patient', market);
    await patient.drive(session);
    for (let i = 0; i < 10 && (await statusOf(session.id)) === 'in_progress'; i++) {
      clock.advance(PAYMENT_POLL_MS);
      for (const s of await claim('patient')) await patient.drive(s);
    }

    const ended = (await selectSession(pool, session.id))!;
    expect(ended.status).toBe('compensated');
    expect(ended.failureCode).toBe('PAYMENT_TIMEOUT');
    expect([...market.intents.values()].map((i) => i.status)).toEqual(['voided']);
    expect([...market.reservations.values()].map((r) => r.status)).toEqual(['released']);
    expect(market.orders.get(session.id)!.every((o) => o.cancelled)).toBe(true);
    const failures = await pool.query('SELECT step_type, code FROM checkout_failures WHERE session_id = $1', [session.id]);
    expect(failures.rows).toEqual([{ step_type: 'authorize_payment', code: 'PAYMENT_TIMEOUT' }]);
    expect(await countOutbox(session.id, 'checkout.checkout_failed.v1')).toBe(1);
  });
});

describe('opening a checkout session', () => {
  const openWith = (market: FakeMarket, key: string, token = 'tok_visa') =>
    openSession({ pool, clock, cart: market.ports().cart, accounts: market.ports().accounts, owner: 'opener', leaseMs: LEASE_MS, firstStep: 'price_snapshot' }, market.buyerId, key, checkoutBody(token), null);

  it('makes one session per key: the same body finds it, concurrent twins included; another body is refused', async () => {
    const market = new FakeMarket();
    const key = newId();
    const twins = await Promise.all([openWith(market, key), openWith(market, key), openWith(market, key)]);
    expect(new Set(twins.map((t) => t.session.id)).size).toBe(1);
    expect(twins.filter((t) => t.created)).toHaveLength(1);
    const again = await openWith(market, key);
    expect(again).toMatchObject({ created: false, session: { id: twins[0]!.session.id } });
    await expect(openWith(market, key, 'tok_decline')).rejects.toMatchObject({ code: 'IDEMPOTENCY_KEY_REUSED' });
    expect(await countOutbox(twins[0]!.session.id, 'checkout.checkout_started.v1')).toBe(1);
  });

  it('answers both of two simultaneous requests with the same key with one session, round after round', async () => {
    // Both inserts can pass the key's conflict check and meet on the cart's index instead: that is
    // still the same request, not a checkout in progress under another key.
    for (let round = 0; round < 100; round++) {
      const market = new FakeMarket();
      const key = newId();
      const pair = await Promise.all([openWith(market, key), openWith(market, key)]);
      expect(pair[0].session.id, `round ${round}`).toBe(pair[1].session.id);
      expect(pair.filter((t) => t.created), `round ${round}`).toHaveLength(1);
    }
  });

  it('refuses a second checkout of a cart under another key while the first is unfinished', async () => {
    const market = new FakeMarket();
    await openWith(market, newId());
    await expect(openWith(market, newId())).rejects.toMatchObject({ code: 'CHECKOUT_IN_PROGRESS' });
  });

  it('never buys a cart twice: a checkout that read the cart before another completed it is refused once it has', async () => {
    // The fake cart port answers the cart as active whatever happened: a request that read it just
    // before the first checkout closed it (two tabs, two keys).
    const market = new FakeMarket();
    const first = await openWith(market, newId());
    await runner('opener', market).drive(first.session);
    expect(await statusOf(first.session.id)).toBe('completed');
    await expect(openWith(market, newId())).rejects.toMatchObject({ code: 'CART_EMPTY' });
    const { rows } = await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM checkout_sessions WHERE cart_id = $1', [market.cartId]);
    expect(rows).toEqual([{ n: 1 }]);
    expect(market.intents.size).toBe(1);
  });

  it('lets a cart whose checkout failed be checked out again under another key', async () => {
    const market = new FakeMarket();
    const declined = await openWith(market, newId(), 'tok_decline');
    await runner('opener', market).drive(declined.session);
    expect(await statusOf(declined.session.id)).toBe('compensated');
    const retry = await openWith(market, newId());
    expect(retry.created).toBe(true);
  });
});

/** A runner whose ports are those of the market of the session it drives (several markets at once). */
function runnerPerSession(owner: string, markets: Map<string, FakeMarket>): SessionRunner {
  const drives = new Set<Promise<unknown>>();
  return {
    get busy() {
      return drives.size;
    },
    owner,
    drive(session: SessionRecord) {
      const drive = runner(owner, markets.get(session.id)!).drive(session);
      drives.add(drive);
      void drive.finally(() => drives.delete(drive));
      return drive;
    },
    driving: () => undefined,
    stop: async () => {
      await Promise.allSettled([...drives]);
    },
  } as unknown as SessionRunner;
}
