import { describe, expect, it } from 'vitest';
import { OrderStatusSchema } from '../../contracts/orders.ts';
import {
  type CommandType,
  type Decision,
  FULFILMENT_STATUSES,
  type FulfilmentStatus,
  ORDER_STATUSES,
  type OrderCommand,
  type OrderState,
  type OrderStatus,
  decide,
  isFulfilmentStatus,
} from './status-machine.ts';

/**
 * The whole status machine as a table: for every status and every command, the expected outcome.
 * A status name is a transition to it; '=' is "already done, nothing changes"; 'x' is refused.
 * partially_refunded has no row of its own: it is decided by its fulfilment status (see below); the
 * refunded row is an order refunded in full before it was shipped.
 */
type Expected = OrderStatus | '=' | 'x';
type Command = Exclude<CommandType, 'record_refund'>;
const TABLE: Record<Exclude<OrderStatus, 'partially_refunded'>, Record<Command, Expected>> = {
  pending_payment: { record_payment: 'paid', start_fulfilment: 'x', mark_shipped: 'x', mark_delivered: 'x', complete: 'x', cancel: 'cancelled' },
  paid: { record_payment: '=', start_fulfilment: 'fulfilling', mark_shipped: 'shipped', mark_delivered: 'x', complete: 'x', cancel: 'cancelled' },
  fulfilling: { record_payment: '=', start_fulfilment: '=', mark_shipped: 'shipped', mark_delivered: 'x', complete: 'x', cancel: 'cancelled' },
  shipped: { record_payment: '=', start_fulfilment: 'x', mark_shipped: '=', mark_delivered: 'delivered', complete: 'x', cancel: 'x' },
  delivered: { record_payment: '=', start_fulfilment: 'x', mark_shipped: '=', mark_delivered: '=', complete: 'completed', cancel: 'x' },
  completed: { record_payment: '=', start_fulfilment: 'x', mark_shipped: '=', mark_delivered: '=', complete: '=', cancel: 'x' },
  cancelled: { record_payment: '=', start_fulfilment: 'x', mark_shipped: 'x', mark_delivered: 'x', complete: 'x', cancel: '=' },
  refunded: { record_payment: '=', start_fulfilment: 'x', mark_shipped: 'x', mark_delivered: 'x', complete: 'x', cancel: 'cancelled' },
};
const COMMANDS = Object.keys(TABLE.paid) as Command[];

/** A step status is its own fulfilment status; a refunded order was paid at least; a pending or cancelled one here never was. */
function fulfilmentOf(status: OrderStatus): FulfilmentStatus | null {
  if (isFulfilmentStatus(status)) return status;
  return status === 'refunded' || status === 'partially_refunded' ? 'paid' : null;
}

const given = (status: OrderStatus, refundedAmount = 0, fulfilmentStatus = fulfilmentOf(status)): OrderState => ({
  status,
  fulfilmentStatus,
  totalAmount: 10_000,
  refundedAmount,
});

function outcomeOf(decision: Decision): Expected {
  if (decision.outcome === 'transition') return decision.to;
  return decision.outcome === 'unchanged' ? '=' : 'x';
}

describe('the order status machine', () => {
  const cases = (Object.keys(TABLE) as (keyof typeof TABLE)[]).flatMap((status) =>
    COMMANDS.map((command) => ({ status, command, expected: TABLE[status][command] })),
  );

  it.each(cases)('given an order $status, when $command, then $expected', ({ status, command, expected }) => {
    const decision = decide(given(status), { type: command } as OrderCommand);
    expect(outcomeOf(decision)).toBe(expected);
    if (decision.outcome === 'transition') {
      expect(decision.from).toBe(status);
      expect(decision.fulfilmentStatus).toBe(isFulfilmentStatus(decision.to) ? decision.to : fulfilmentOf(status));
      expect(decision.refundedAmount).toBe(0);
    }
  });

  it('knows exactly the statuses the contracts and the database know', () => {
    expect([...ORDER_STATUSES].sort()).toEqual(OrderStatusSchema.anyOf.map((l) => l.const).sort());
    expect([...Object.keys(TABLE), 'partially_refunded'].sort()).toEqual([...ORDER_STATUSES].sort());
  });

  it('lets a buyer cancel only once paid and before shipment, whatever was refunded', () => {
    const cancels = (state: OrderState) => decide(state, { type: 'cancel' }, 'buyer').outcome === 'transition';
    const statuses = Object.keys(TABLE) as OrderStatus[];
    expect(statuses.filter((status) => cancels(given(status)))).toEqual(['paid', 'fulfilling', 'refunded']);
    const partlyRefunded = FULFILMENT_STATUSES.filter((step) => cancels(given('partially_refunded', 2500, step)));
    expect(partlyRefunded).toEqual(['paid', 'fulfilling']);
    const refunded = FULFILMENT_STATUSES.filter((step) => cancels(given('refunded', 10_000, step)));
    expect(refunded).toEqual(['paid', 'fulfilling']);
  });

  describe('a fully refunded order', () => {
    it('given one refunded before shipment, when cancelled, then it is cancelled with its refund kept (stock and coupon come back, nothing is left to refund)', () => {
      expect(decide(given('refunded', 10_000, 'fulfilling'), { type: 'cancel' }, 'buyer')).toEqual({
        outcome: 'transition',
        from: 'refunded',
        to: 'cancelled',
        fulfilmentStatus: 'fulfilling',
        refundedAmount: 10_000,
      });
    });

    it('given one refunded after shipment, when cancelled, then it is refused, naming how far it got', () => {
      expect(decide(given('refunded', 10_000, 'shipped'), { type: 'cancel' })).toEqual({
        outcome: 'refused',
        status: 'refunded',
        why: 'cancel is not allowed when the order is refunded (fulfilment shipped)',
      });
    });

    it('given one refunded before shipment, when its seller goes on fulfilling it, then it is refused', () => {
      for (const command of ['start_fulfilment', 'mark_shipped'] as const) {
        expect(decide(given('refunded', 10_000, 'paid'), { type: command }).outcome).toBe('refused');
      }
    });
  });

  describe('a partially refunded order, decided by how far it got', () => {
    const partlyRefunded = (step: FulfilmentStatus) => given('partially_refunded', 2500, step);
    const stepCases = FULFILMENT_STATUSES.flatMap((step) => COMMANDS.map((command) => ({ step, command, expected: TABLE[step][command] })));

    it.each(stepCases)('given an order partially_refunded at $step, when $command, then $expected (as an order $step)', ({ step, command, expected }) => {
      const decision = decide(partlyRefunded(step), { type: command } as OrderCommand);
      expect(outcomeOf(decision)).toBe(expected);
      if (decision.outcome === 'transition') {
        expect(decision.from).toBe('partially_refunded');
        expect(decision.refundedAmount).toBe(2500);
      }
    });

    it.each(['paid', 'fulfilling'] as const)('given an order partly refunded at %s (not shipped), when the buyer cancels, then it is cancelled', (step) => {
      expect(decide(partlyRefunded(step), { type: 'cancel' })).toEqual({
        outcome: 'transition',
        from: 'partially_refunded',
        to: 'cancelled',
        fulfilmentStatus: step,
        refundedAmount: 2500,
      });
    });

    it.each(['shipped', 'delivered', 'completed'] as const)('given an order partly refunded at %s, when the buyer cancels, then it is refused', (step) => {
      expect(decide(partlyRefunded(step), { type: 'cancel' })).toMatchObject({ outcome: 'refused', status: 'partially_refunded' });
    });

    it('never delivers one that was not shipped, nor completes one that was not delivered', () => {
      for (const step of ['paid', 'fulfilling'] as const) {
        expect(decide(partlyRefunded(step), { type: 'mark_delivered' })).toMatchObject({
          outcome: 'refused',
          why: `mark_delivered is not allowed when the order is partially_refunded (fulfilment ${step})`,
        });
      }
      for (const step of ['paid', 'fulfilling', 'shipped'] as const) {
        expect(decide(partlyRefunded(step), { type: 'complete' }).outcome).toBe('refused');
      }
    });

    it('given one being fulfilled, when it ships, then it is shipped, its refund kept', () => {
      expect(decide(partlyRefunded('fulfilling'), { type: 'mark_shipped' })).toEqual({
        outcome: 'transition',
        from: 'partially_refunded',
        to: 'shipped',
        fulfilmentStatus: 'shipped',
        refundedAmount: 2500,
      });
    });

    it('given a shipped order with a refund, when a further part is refunded, then it is partially_refunded again, still shipped', () => {
      expect(decide(given('shipped', 2500), { type: 'record_refund', amount: 1000 })).toEqual({
        outcome: 'transition',
        from: 'shipped',
        to: 'partially_refunded',
        fulfilmentStatus: 'shipped',
        refundedAmount: 3500,
      });
    });
  });

  describe('refunds', () => {
    const REFUNDABLE: OrderStatus[] = ['paid', 'fulfilling', 'shipped', 'delivered', 'completed', 'partially_refunded'];

    it.each(REFUNDABLE)('given an order %s, when part of it is refunded, then it is partially_refunded', (status) => {
      const decision = decide(given(status, status === 'partially_refunded' ? 1000 : 0), { type: 'record_refund', amount: 2500 });
      if (status === 'partially_refunded') {
        expect(decision).toEqual({ outcome: 'unchanged', status, refundedAmount: 3500, why: 'further partial refund recorded' });
      } else {
        expect(decision).toEqual({ outcome: 'transition', from: status, to: 'partially_refunded', fulfilmentStatus: fulfilmentOf(status), refundedAmount: 2500 });
      }
    });

    it.each(REFUNDABLE)('given an order %s, when the rest of its total is refunded, then it is refunded', (status) => {
      const already = status === 'partially_refunded' ? 4000 : 0;
      const decision = decide(given(status, already), { type: 'record_refund', amount: 10_000 - already });
      expect(decision).toEqual({ outcome: 'transition', from: status, to: 'refunded', fulfilmentStatus: fulfilmentOf(status), refundedAmount: 10_000 });
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
      state = { ...state, status: decision.to, fulfilmentStatus: decision.fulfilmentStatus };
      walked.push(state.status);
    }
    expect(walked).toEqual(['pending_payment', 'paid', 'fulfilling', 'shipped', 'delivered', 'completed']);
    expect(state.fulfilmentStatus).toBe('completed');
  });
});

describe('a buyer or seller cancelling', () => {
  it('given an order whose payment is still being taken, when its buyer or seller cancels, then it is refused (checkout owns that phase), while the system may', () => {
    const pending = { status: 'pending_payment' as const, fulfilmentStatus: null, totalAmount: 5000, refundedAmount: 0 };
    for (const actor of ['buyer', 'seller'] as const) {
      expect(decide(pending, { type: 'cancel' }, actor)).toMatchObject({ outcome: 'refused', why: expect.stringContaining('payment is still being taken') });
    }
    expect(decide({ ...pending, status: 'paid', fulfilmentStatus: 'paid' }, { type: 'cancel' }, 'seller')).toMatchObject({ outcome: 'transition', to: 'cancelled' });
    expect(decide(pending, { type: 'cancel' })).toMatchObject({ outcome: 'transition', to: 'cancelled' });
    expect(decide({ ...pending, status: 'paid', fulfilmentStatus: 'paid' }, { type: 'cancel' }, 'buyer')).toMatchObject({ outcome: 'transition', to: 'cancelled' });
  });

  it('given a paid order whose parcel is being recorded (a shipment hold), when anyone cancels, then it is refused; shipping and refunds go on', () => {
    const held = { status: 'paid' as const, fulfilmentStatus: 'paid' as const, totalAmount: 5000, refundedAmount: 0, shipmentPending: true };
    for (const actor of ['buyer', 'seller', 'admin', 'system'] as const) {
      expect(decide(held, { type: 'cancel' }, actor)).toMatchObject({ outcome: 'refused', why: expect.stringContaining('handing a parcel') });
    }
    expect(decide(held, { type: 'mark_shipped' }, 'seller')).toMatchObject({ outcome: 'transition', to: 'shipped' });
    expect(decide(held, { type: 'record_refund', amount: 1000 })).toMatchObject({ outcome: 'transition', to: 'partially_refunded' });
    expect(decide({ ...held, shipmentPending: false }, { type: 'cancel' }, 'buyer')).toMatchObject({ outcome: 'transition', to: 'cancelled' });
  });
});
