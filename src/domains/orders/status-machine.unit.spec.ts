import { describe, expect, it } from 'vitest';
import { OrderStatusSchema } from '../../contracts/orders.ts';
import { type CommandType, type Decision, ORDER_STATUSES, type OrderCommand, type OrderState, type OrderStatus, decide, isCancellable } from './status-machine.ts';

/**
 * The whole status machine as a table: for every status and every command, the expected outcome.
 * A status name is a transition to it; '=' is "already done, nothing changes"; 'x' is refused.
 */
type Expected = OrderStatus | '=' | 'x';
const TABLE: Record<OrderStatus, Record<Exclude<CommandType, 'record_refund'>, Expected>> = {
  pending_payment: { record_payment: 'paid', start_fulfilment: 'x', mark_shipped: 'x', mark_delivered: 'x', complete: 'x', cancel: 'cancelled' },
  paid: { record_payment: '=', start_fulfilment: 'fulfilling', mark_shipped: 'shipped', mark_delivered: 'x', complete: 'x', cancel: 'cancelled' },
  fulfilling: { record_payment: '=', start_fulfilment: '=', mark_shipped: 'shipped', mark_delivered: 'x', complete: 'x', cancel: 'cancelled' },
  shipped: { record_payment: '=', start_fulfilment: 'x', mark_shipped: '=', mark_delivered: 'delivered', complete: 'x', cancel: 'x' },
  delivered: { record_payment: '=', start_fulfilment: 'x', mark_shipped: '=', mark_delivered: '=', complete: 'completed', cancel: 'x' },
  completed: { record_payment: '=', start_fulfilment: 'x', mark_shipped: '=', mark_delivered: '=', complete: '=', cancel: 'x' },
  cancelled: { record_payment: '=', start_fulfilment: 'x', mark_shipped: 'x', mark_delivered: 'x', complete: 'x', cancel: '=' },
  refunded: { record_payment: '=', start_fulfilment: 'x', mark_shipped: 'x', mark_delivered: 'x', complete: 'x', cancel: 'x' },
  partially_refunded: {
    record_payment: '=',
    start_fulfilment: 'x',
    mark_shipped: 'shipped',
    mark_delivered: 'delivered',
    complete: 'completed',
    cancel: 'x',
  },
};

const given = (status: OrderStatus, refundedAmount = 0, totalAmount = 10_000): OrderState => ({ status, totalAmount, refundedAmount });

function outcomeOf(decision: Decision): Expected {
  if (decision.outcome === 'transition') return decision.to;
  return decision.outcome === 'unchanged' ? '=' : 'x';
}

describe('the order status machine', () => {
  const cases = ORDER_STATUSES.flatMap((status) =>
    Object.entries(TABLE[status]).map(([command, expected]) => ({ status, command: command as Exclude<CommandType, 'record_refund'>, expected })),
  );

  it.each(cases)('given an order $status, when $command, then $expected', ({ status, command, expected }) => {
    const decision = decide(given(status), { type: command } as OrderCommand);
    expect(outcomeOf(decision)).toBe(expected);
    if (decision.outcome === 'transition') {
      expect(decision.from).toBe(status);
      expect(decision.refundedAmount).toBe(0);
    }
  });

  it('knows exactly the statuses the contracts and the database know', () => {
    expect([...ORDER_STATUSES].sort()).toEqual(OrderStatusSchema.anyOf.map((l) => l.const).sort());
    expect(Object.keys(TABLE).sort()).toEqual([...ORDER_STATUSES].sort());
  });

  it('lets a buyer cancel only before shipment', () => {
    expect(ORDER_STATUSES.filter(isCancellable)).toEqual(['pending_payment', 'paid', 'fulfilling']);
  });

  describe('refunds', () => {
    const REFUNDABLE: OrderStatus[] = ['paid', 'fulfilling', 'shipped', 'delivered', 'completed', 'partially_refunded'];

    it.each(REFUNDABLE)('given an order %s, when part of it is refunded, then it is partially_refunded', (status) => {
      const decision = decide(given(status, status === 'partially_refunded' ? 1000 : 0), { type: 'record_refund', amount: 2500 });
      if (status === 'partially_refunded') {
        expect(decision).toEqual({ outcome: 'unchanged', status, refundedAmount: 3500, why: 'further partial refund recorded' });
      } else {
        expect(decision).toEqual({ outcome: 'transition', from: status, to: 'partially_refunded', refundedAmount: 2500 });
      }
    });

    it.each(REFUNDABLE)('given an order %s, when the rest of its total is refunded, then it is refunded', (status) => {
      const already = status === 'partially_refunded' ? 4000 : 0;
      const decision = decide(given(status, already), { type: 'record_refund', amount: 10_000 - already });
      expect(decision).toEqual({ outcome: 'transition', from: status, to: 'refunded', refundedAmount: 10_000 });
    });

    it('given a cancelled paid order, when its refund arrives, then the amount is recorded and it stays cancelled', () => {
      expect(decide(given('cancelled'), { type: 'record_refund', amount: 10_000 })).toEqual({
        outcome: 'unchanged',
        status: 'cancelled',
        refundedAmount: 10_000,
        why: 'refund of a cancelled order recorded',
      });
    });

    it('given an order awaiting payment, when a refund arrives, then it is refused (nothing was captured yet)', () => {
      expect(decide(given('pending_payment'), { type: 'record_refund', amount: 100 }).outcome).toBe('refused');
    });

    it('given a fully refunded order, when another refund arrives, then it is refused', () => {
      expect(decide(given('refunded', 10_000), { type: 'record_refund', amount: 1 }).outcome).toBe('refused');
    });

    it('refuses refunds that would pass the total, and amounts that are not positive integers', () => {
      expect(decide(given('paid', 9000), { type: 'record_refund', amount: 1001 }).outcome).toBe('refused');
      expect(decide(given('paid'), { type: 'record_refund', amount: 0 }).outcome).toBe('refused');
      expect(decide(given('paid'), { type: 'record_refund', amount: 1.5 }).outcome).toBe('refused');
    });
  });

  it('walks the happy path from payment to completion', () => {
    let state = given('pending_payment');
    const walked: OrderStatus[] = [state.status];
    for (const type of ['record_payment', 'start_fulfilment', 'mark_shipped', 'mark_delivered', 'complete'] as const) {
      const decision = decide(state, { type });
      if (decision.outcome !== 'transition') throw new Error(`${type} did not move ${state.status}`);
      state = { ...state, status: decision.to };
      walked.push(state.status);
    }
    expect(walked).toEqual(['pending_payment', 'paid', 'fulfilling', 'shipped', 'delivered', 'completed']);
  });
});
