import { ORDER_STATUS_VALUES } from '../../contracts/orders.ts';

/**
 * The order status machine, pure: given the order's state and a command, `decide` says whether the
 * status moves, stays (an idempotent repeat, or a refund recorded without a status change), or is
 * refused. No I/O here; the caller locks the order, applies the decision, writes the history row
 * and the events in one transaction.
 *
 *   pending_payment → paid → fulfilling → shipped → delivered → completed
 *   pending_payment | paid | fulfilling → cancelled            (before shipment only)
 *   paid … completed | partially_refunded → partially_refunded | refunded   (by refunds)
 */
export const ORDER_STATUSES = ORDER_STATUS_VALUES;
export type OrderStatus = (typeof ORDER_STATUSES)[number];

export const ACTOR_TYPES = ['buyer', 'seller', 'admin', 'system'] as const;
export type ActorType = (typeof ACTOR_TYPES)[number];
/** Who causes a change: a user (id set) or the system reacting to another domain's event (id null). */
export interface Actor {
  type: ActorType;
  id: string | null;
}
export const SYSTEM: Actor = { type: 'system', id: null };

export interface OrderState {
  status: OrderStatus;
  totalAmount: number;
  refundedAmount: number;
}

export type OrderCommand =
  | { type: 'record_payment' }
  | { type: 'start_fulfilment' }
  | { type: 'mark_shipped' }
  | { type: 'mark_delivered' }
  | { type: 'complete' }
  | { type: 'cancel' }
  | { type: 'record_refund'; amount: number };
export type CommandType = OrderCommand['type'];

export type Decision =
  | { outcome: 'transition'; from: OrderStatus; to: OrderStatus; refundedAmount: number }
  /** Nothing to move: the command was already applied, or only refundedAmount changes. */
  | { outcome: 'unchanged'; status: OrderStatus; refundedAmount: number; why: string }
  | { outcome: 'refused'; status: OrderStatus; why: string };

interface Rule {
  /** Status → status it moves to. */
  moves: Partial<Record<OrderStatus, OrderStatus>>;
  /** Statuses where the command has already taken effect: repeating it changes nothing. */
  alreadyDone: readonly OrderStatus[];
  done: string;
}

const FULFILLED_OR_BEYOND = ['shipped', 'delivered', 'completed'] as const;

/** Every status-moving command, except refunds (whose target depends on the amounts). */
const RULES: Record<Exclude<CommandType, 'record_refund'>, Rule> = {
  record_payment: {
    moves: { pending_payment: 'paid' },
    // A capture that lands after a cancellation is recorded, but a cancelled order stays cancelled:
    // payments refunds it on orders.order_cancelled.v1.
    alreadyDone: ['paid', 'fulfilling', ...FULFILLED_OR_BEYOND, 'partially_refunded', 'refunded', 'cancelled'],
    done: 'the payment was already recorded',
  },
  start_fulfilment: {
    moves: { paid: 'fulfilling' },
    alreadyDone: ['fulfilling'],
    done: 'the order is already being fulfilled',
  },
  mark_shipped: {
    // A partial refund does not stop fulfilment of what is left.
    moves: { paid: 'shipped', fulfilling: 'shipped', partially_refunded: 'shipped' },
    alreadyDone: FULFILLED_OR_BEYOND,
    done: 'the order was already shipped',
  },
  mark_delivered: {
    moves: { shipped: 'delivered', partially_refunded: 'delivered' },
    alreadyDone: ['delivered', 'completed'],
    done: 'the order was already delivered',
  },
  complete: {
    moves: { delivered: 'completed', partially_refunded: 'completed' },
    alreadyDone: ['completed'],
    done: 'the order is already completed',
  },
  cancel: {
    moves: { pending_payment: 'cancelled', paid: 'cancelled', fulfilling: 'cancelled' },
    alreadyDone: ['cancelled'],
    done: 'the order is already cancelled',
  },
};

/** Statuses in which captured money may be (partly) returned, moving the order to (partially_)refunded. */
const REFUNDABLE: readonly OrderStatus[] = ['paid', 'fulfilling', 'shipped', 'delivered', 'completed', 'partially_refunded'];

function decideRefund(state: OrderState, amount: number): Decision {
  const { status } = state;
  if (!Number.isSafeInteger(amount) || amount <= 0) return { outcome: 'refused', status, why: 'a refund amount must be a positive integer' };
  const refundedAmount = state.refundedAmount + amount;
  if (refundedAmount > state.totalAmount) {
    return { outcome: 'refused', status, why: `refunds would reach ${refundedAmount}, above the order total ${state.totalAmount}` };
  }
  if (status === 'cancelled') {
    // The usual end of cancelling a paid order: the money comes back, the order stays cancelled.
    return { outcome: 'unchanged', status, refundedAmount, why: 'refund of a cancelled order recorded' };
  }
  if (!REFUNDABLE.includes(status)) return { outcome: 'refused', status, why: `nothing was paid for an order in status ${status}` };
  const to: OrderStatus = refundedAmount === state.totalAmount ? 'refunded' : 'partially_refunded';
  if (to === status) return { outcome: 'unchanged', status, refundedAmount, why: 'further partial refund recorded' };
  return { outcome: 'transition', from: status, to, refundedAmount };
}

export function decide(state: OrderState, command: OrderCommand): Decision {
  if (command.type === 'record_refund') return decideRefund(state, command.amount);
  const rule = RULES[command.type];
  const to = rule.moves[state.status];
  if (to) return { outcome: 'transition', from: state.status, to, refundedAmount: state.refundedAmount };
  if (rule.alreadyDone.includes(state.status)) {
    return { outcome: 'unchanged', status: state.status, refundedAmount: state.refundedAmount, why: rule.done };
  }
  return { outcome: 'refused', status: state.status, why: `${command.type} is not allowed when the order is ${state.status}` };
}

/** Statuses from which a buyer may still cancel (nothing has left the seller yet). */
export function isCancellable(status: OrderStatus): boolean {
  return RULES.cancel.moves[status] !== undefined;
}
