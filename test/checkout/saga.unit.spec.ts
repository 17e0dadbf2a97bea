import { describe, expect, it } from 'vitest';
import { type Decision, type SagaState, type StepName, STEP_NAMES, decide, evolve, judgeError, retryDelayMs } from '../../src/domains/checkout/saga.ts';
import { CHECKOUT_STEPS, planOf } from '../../src/domains/checkout/steps/plan.ts';

const plan = planOf(CHECKOUT_STEPS);
const policy = { attemptsMax: 4, retryDelayBaseMs: 100, retryDelayMaxMs: 1000 };

type Outcome = 'refused' | 'abandoned';

/** Walks a session through decide/evolve, every step succeeding unless `outcomes` says otherwise; returns the moves. */
function walk(outcomes: Partial<Record<StepName, Outcome>>, from: SagaState = { status: 'pending', steps: {} }): { moves: string[]; state: SagaState } {
  let state = from;
  const moves: string[] = [];
  for (let i = 0; i < 50; i++) {
    const d: Decision = decide(plan, state);
    if (d.type === 'done') return { moves, state };
    if (d.type === 'finish') {
      moves.push(`finish ${d.outcome}`);
      state = evolve(plan, state, { type: 'finished', outcome: d.outcome });
    } else if (d.type === 'run') {
      moves.push(`run ${d.step}`);
      const outcome = outcomes[d.step];
      state = outcome
        ? evolve(plan, state, { type: 'step_failed', step: d.step, uncertain: outcome === 'abandoned' })
        : evolve(plan, state, { type: 'step_succeeded', step: d.step });
    } else {
      moves.push(`undo ${d.step}`);
      state = evolve(plan, state, { type: 'step_compensated', step: d.step });
    }
  }
  throw new Error('the saga did not end');
}

const runs = (steps: readonly StepName[]) => steps.map((s) => `run ${s}`);

describe('checkout saga: step order', () => {
  it('runs every step once, in order, and ends completed with the last one', () => {
    const { moves, state } = walk({});
    expect(moves).toEqual(runs(STEP_NAMES));
    expect(state.status).toBe('completed');
  });

  it('resumes a recovered session at its first step not yet succeeded', () => {
    const given: SagaState = {
      status: 'in_progress',
      steps: { price_snapshot: 'succeeded', reserve_stock: 'succeeded', redeem_coupons: 'succeeded', create_orders: 'pending' },
    };
    expect(decide(plan, given)).toEqual({ type: 'run', step: 'create_orders' });
  });

  it('does nothing more with a finished session', () => {
    for (const status of ['completed', 'failed', 'compensated'] as const) expect(decide(plan, { status, steps: {} })).toEqual({ type: 'done' });
  });

  it('has a compensation beside every step that changes another domain, and none for the others', () => {
    expect([...plan.compensable].sort()).toEqual(['authorize_payment', 'capture_payment', 'create_orders', 'redeem_coupons', 'reserve_stock']);
  });
});

describe('checkout saga: compensation in reverse', () => {
  it('undoes orders, coupons and stock in reverse order when the payment is declined, and ends compensated', () => {
    const { moves, state } = walk({ authorize_payment: 'refused' });
    expect(moves).toEqual([
      ...runs(['price_snapshot', 'reserve_stock', 'redeem_coupons', 'create_orders', 'authorize_payment']),
      'undo create_orders',
      'undo redeem_coupons',
      'undo reserve_stock',
      'finish compensated',
    ]);
    expect(state.steps.authorize_payment).toBe('failed');
  });

  it('ends failed with nothing to undo when the stock cannot be reserved', () => {
    const { moves } = walk({ reserve_stock: 'refused' });
    expect(moves).toEqual([...runs(['price_snapshot', 'reserve_stock']), 'finish failed']);
  });

  it('undoes a step whose outcome stayed unknown too, before the steps that came before it', () => {
    const { moves } = walk({ authorize_payment: 'abandoned' });
    expect(moves.slice(5)).toEqual(['undo authorize_payment', 'undo create_orders', 'undo redeem_coupons', 'undo reserve_stock', 'finish compensated']);
  });

  it('refunds the capture, voids the authorization and cancels the orders when the stock cannot be confirmed after payment', () => {
    const { moves } = walk({ confirm_reservations: 'refused' });
    expect(moves.slice(7)).toEqual([
      'undo capture_payment',
      'undo authorize_payment',
      'undo create_orders',
      'undo redeem_coupons',
      'undo reserve_stock',
      'finish compensated',
    ]);
  });

  it('continues a compensation interrupted by a crash with the next step back, never undoing one twice', () => {
    const given: SagaState = {
      status: 'compensating',
      steps: {
        price_snapshot: 'succeeded',
        reserve_stock: 'succeeded',
        redeem_coupons: 'succeeded',
        create_orders: 'compensated',
        authorize_payment: 'failed',
      },
    };
    const { moves } = walk({}, given);
    expect(moves).toEqual(['undo redeem_coupons', 'undo reserve_stock', 'finish compensated']);
  });

  it('retries a compensation that was under way when the process stopped', () => {
    const given: SagaState = { status: 'compensating', steps: { price_snapshot: 'succeeded', reserve_stock: 'compensating', redeem_coupons: 'compensated' } };
    expect(decide(plan, given)).toEqual({ type: 'compensate', step: 'reserve_stock' });
  });
});

describe('checkout saga: errors', () => {
  it('compensates at once after a refusal, and counts the refused step as not done', () => {
    expect(judgeError('refused', 1, policy, 0)).toEqual({ action: 'compensate', uncertain: false });
  });

  it('waits, without counting it a failure, while the outcome is unknown', () => {
    expect(judgeError('waiting', 9, policy, 1000)).toEqual({ action: 'wait', delayMs: 1000 });
  });

  it('retries a transient error with growing, capped delays, then gives the step up as uncertain', () => {
    expect([1, 2, 3].map((n) => judgeError('transient', n, policy, 0))).toEqual([
      { action: 'retry', delayMs: 100 },
      { action: 'retry', delayMs: 200 },
      { action: 'retry', delayMs: 400 },
    ]);
    expect(judgeError('transient', 4, policy, 0)).toEqual({ action: 'compensate', uncertain: true });
    expect(retryDelayMs(30, policy)).toBe(1000);
  });

  it('retries a transient error of the capture and of the steps after it past the budget: a paid sale is never given up for an outage', () => {
    expect(judgeError('transient', 4, policy, 0, true)).toEqual({ action: 'retry', delayMs: 800 });
    expect(judgeError('transient', 40, policy, 0, true)).toEqual({ action: 'retry', delayMs: 1000 });
    // A refusal (the reservation lapsed while the payment was unknown) still gives the money back.
    expect(judgeError('refused', 1, policy, 0, true)).toEqual({ action: 'compensate', uncertain: false });
    expect([...plan.forwardOnly]).toEqual(['capture_payment', 'confirm_reservations', 'close_cart', 'complete']);
  });

  it('compensates a step that was abandoned as if it had run', () => {
    expect(judgeError('abandoned', 1, policy, 0)).toEqual({ action: 'compensate', uncertain: true });
  });
});
