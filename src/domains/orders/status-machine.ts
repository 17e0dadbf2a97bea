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
 *   refunded → cancelled                                       (before shipment only)
 *
 * The fulfilment status (how far the order got towards the buyer) is kept apart from the status,
 * because a refund replaces the status but undoes none of the way: a partially_refunded order is
 * decided as if it were at its fulfilment status, and moves on to the status that step leads to
 * (shipped, say, with refundedAmount still > 0). See ADR 0010.
 */
export const ORDER_STATUSES = ORDER_STATUS_VALUES;
export type OrderStatus = (typeof ORDER_STATUSES)[number];

/** The steps towards the buyer, in order; each is also the status an order has while nothing else happened. */
export const FULFILMENT_STATUSES = ['paid', 'fulfilling', 'shipped', 'delivered', 'completed'] as const;
export type FulfilmentStatus = (typeof FULFILMENT_STATUSES)[number];

export function isFulfilmentStatus(status: OrderStatus): status is FulfilmentStatus {
  return (FULFILMENT_STATUSES as readonly string[]).includes(status);
}

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
  /** The last of FULFILMENT_STATUSES the order reached; null until its payment is recorded. Refunds and cancelling keep it. */
  fulfilmentStatus: FulfilmentStatus | null;
  totalAmount: number;
  refundedAmount: number;
  /** A seller's shipment of the order is being recorded (shipping holds it): it may not be cancelled meanwhile. */
  shipmentPending?: boolean;
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
  | { outcome: 'transition'; from: OrderStatus; to: OrderStatus; fulfilmentStatus: FulfilmentStatus | null; refundedAmount: number }
  /** Nothing to move: the command was already applied, or only refundedAmount changes. */
  | { outcome: 'unchanged'; status: OrderStatus; refundedAmount: number; why: string }
  | { outcome: 'refused'; status: OrderStatus; why: string };

/** Every status-moving command but refunds is decided by these; a partially_refunded order by its fulfilment status. */
type DecidingStatus = Exclude<OrderStatus, 'partially_refunded'>;

interface Rule {
  /** Status → status it moves to. */
  moves: Partial<Record<DecidingStatus, OrderStatus>>;
  /** Statuses where the command has already taken effect: repeating it changes nothing. */
  alreadyDone: readonly DecidingStatus[];
  done: string;
}

const FULFILLED_OR_BEYOND = ['shipped', 'delivered', 'completed'] as const;

/** Every status-moving command, except refunds (whose target depends on the amounts). */
const RULES: Record<Exclude<CommandType, 'record_refund'>, Rule> = {
  record_payment: {
    moves: { pending_payment: 'paid' },
    // A capture that lands after a cancellation is recorded, but a cancelled order stays cancelled:
    // payments refunds it on orders.order_cancelled.v1.
    alreadyDone: ['paid', 'fulfilling', ...FULFILLED_OR_BEYOND, 'refunded', 'cancelled'],
    done: 'the payment was already recorded',
  },
  start_fulfilment: {
    moves: { paid: 'fulfilling' },
    alreadyDone: ['fulfilling'],
    done: 'the order is already being fulfilled',
  },
  mark_shipped: {
    moves: { paid: 'shipped', fulfilling: 'shipped' },
    alreadyDone: FULFILLED_OR_BEYOND,
    done: 'the order was already shipped',
  },
  mark_delivered: {
    moves: { shipped: 'delivered' },
    alreadyDone: ['delivered', 'completed'],
    done: 'the order was already delivered',
  },
  complete: {
    moves: { delivered: 'completed' },
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
  // A refund undoes none of the way to the buyer: the fulfilment status stays.
  return { outcome: 'transition', from: status, to, fulfilmentStatus: state.fulfilmentStatus, refundedAmount };
}

/**
 * The status a (non-refund) command is decided from. A partial refund hides how far the order got,
 * so a partially_refunded order is decided by its fulfilment status: it can still be cancelled before
 * shipment, and cannot be delivered unshipped nor completed undelivered. A fully refunded order is
 * decided by it only when it is cancelled: refunded in full before it was shipped (a seller who
 * cannot fulfil it, say), its stock and coupon still come back by cancelling it, with nothing left
 * to refund; it is never fulfilled further.
 */
function decidingStatus(state: Pick<OrderState, 'status' | 'fulfilmentStatus'>, command: OrderCommand['type']): DecidingStatus {
  if (state.status === 'refunded' && command === 'cancel' && state.fulfilmentStatus !== null) return state.fulfilmentStatus;
  if (state.status !== 'partially_refunded') return state.status;
  // Only a captured payment can be refunded, and recording it set the fulfilment status.
  if (state.fulfilmentStatus === null) throw new Error('a partially_refunded order must have a fulfilment status');
  return state.fulfilmentStatus;
}

function statusText(state: OrderState): string {
  return (state.status === 'partially_refunded' || state.status === 'refunded') && state.fulfilmentStatus !== null
    ? `${state.status} (fulfilment ${state.fulfilmentStatus})`
    : state.status;
}

/**
 * `actor` is who asks (the system unless said): neither its buyer nor its seller can cancel an order whose payment is still
 * being taken. Checkout owns that phase and cancels the orders itself when the payment fails; a
 * cancellation then, before payments knows of the payment, would leave a capture that lands after
 * it unrefunded.
 */
export function decide(state: OrderState, command: OrderCommand, actor: ActorType = 'system'): Decision {
  if (command.type === 'record_refund') return decideRefund(state, command.amount);
  if (command.type === 'cancel' && state.shipmentPending) {
    return { outcome: 'refused', status: state.status, why: 'the seller is handing a parcel of it to the carrier: try again in a moment' };
  }
  if (command.type === 'cancel' && (actor === 'buyer' || actor === 'seller') && state.status === 'pending_payment') {
    return { outcome: 'refused', status: state.status, why: 'the payment is still being taken: cancel once the order is paid (if the payment fails, the order is cancelled anyway)' };
  }
  const rule = RULES[command.type];
  const at = decidingStatus(state, command.type);
  const to = rule.moves[at];
  if (to) {
    const fulfilmentStatus = isFulfilmentStatus(to) ? to : state.fulfilmentStatus;
    return { outcome: 'transition', from: state.status, to, fulfilmentStatus, refundedAmount: state.refundedAmount };
  }
  if (rule.alreadyDone.includes(at)) {
    return { outcome: 'unchanged', status: state.status, refundedAmount: state.refundedAmount, why: rule.done };
  }
  return { outcome: 'refused', status: state.status, why: `${command.type} is not allowed when the order is ${statusText(state)}` };
}

