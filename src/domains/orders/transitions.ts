import type { OrderCancelledV1, OrderPaidV1, OrderStatusChangedV1 } from '../../contracts/orders.ts';
import type { Pool, Tx } from '../../platform/db/pool.ts';
import { withTransaction } from '../../platform/db/pool.ts';
import { AppError } from '../../platform/http/errors.ts';
import { newId } from '../../platform/ids.ts';
import type { Trace } from '../../platform/messaging/envelope.ts';
import { type Statement, runTogether } from '../../platform/db/statements.ts';
import { type NewEvent, outboxStatement } from '../../platform/messaging/outbox.ts';
import { orderFacts } from './facts.ts';
import { type NewHistory, type OrderChange, type OrderRow, historyInsert, itemsOf, lockOrders, heldOrders, ordersUpdate, shipmentHoldsEnd } from './sql.ts';
import { type Actor, type Decision, type OrderCommand, type OrderState, decide } from './status-machine.ts';

/** What the status machine decides on: the order's row, and whether a shipment hold is in force. */
export function orderState(order: OrderRow, shipmentPending = false): OrderState {
  return { status: order.status, fulfilmentStatus: order.fulfilment_status, totalAmount: order.total_amount, refundedAmount: order.refunded_amount, shipmentPending };
}

export interface CommandRequest {
  /** The order, locked FOR UPDATE by the caller in `tx`. */
  order: OrderRow;
  command: OrderCommand;
  /** The payment that paid the order, for orders.order_paid.v1 (paymentId null: a free order, nothing was paid). */
  payment?: { paymentId: string | null; amount: number };
}

export interface CommandResult {
  order: OrderRow;
  decision: Decision;
}

export interface ChangeContext {
  actor: Actor;
  reason: string;
  now: Date;
  /** What caused the change (the HTTP request, the handled event), carried by its events; null starts a trace of their own. */
  trace: Trace | null;
  /** Other writes of the same change (e.g. the payment that moved the orders), sent with these. */
  alsoWrite?: readonly (Statement | undefined)[];
}

/**
 * Decides each command with the pure status machine and applies the outcome in `tx`: the order's
 * new status and refunded amount, one order_status_history row per transition, and the events
 * (orders.order_status_changed.v1 for every transition, plus order_paid / order_cancelled).
 * Refused commands change nothing; the caller decides whether a refusal is an error.
 * Returns each order as it is after the command.
 */
export async function applyCommands(tx: Tx, requests: readonly CommandRequest[], context: ChangeContext): Promise<CommandResult[]> {
  const { actor, reason, now, trace } = context;
  const results: CommandResult[] = [];
  const changes: OrderChange[] = [];
  const history: NewHistory[] = [];
  const moved: CommandRequest[] = [];
  const ordersOf = (type: OrderCommand['type']) => requests.filter((r) => r.command.type === type).map((r) => r.order.id);
  const cancelled = ordersOf('cancel');
  const held = cancelled.length > 0 ? await heldOrders(tx, cancelled, now) : new Set<string>();
  for (const request of requests) {
    const { order } = request;
    const decision = decide(orderState(order, held.has(order.id)), request.command, actor.type);
    let after = order;
    if (decision.outcome === 'transition') {
      after = {
        ...order,
        status: decision.to,
        fulfilment_status: decision.fulfilmentStatus,
        refunded_amount: decision.refundedAmount,
        version: order.version + 1,
        updated_at: now,
      };
      history.push({ id: newId(), orderId: order.id, fromStatus: decision.from, toStatus: decision.to, reason, changedBy: actor.id, actorType: actor.type, changedAt: now });
      moved.push({ ...request, order: after });
    } else if (decision.outcome === 'unchanged' && decision.refundedAmount !== order.refunded_amount) {
      after = { ...order, refunded_amount: decision.refundedAmount, version: order.version + 1, updated_at: now };
    }
    if (after !== order) {
      changes.push({ id: order.id, status: after.status, fulfilmentStatus: after.fulfilment_status, refundedAmount: after.refunded_amount });
    }
    results.push({ order: after, decision });
  }
  const events: NewEvent[] = [];
  if (moved.length > 0) {
    const items = await itemsOf(tx, moved.map((m) => m.order.id));
    const previous = new Map(history.map((h) => [h.orderId, h.fromStatus]));
    for (const m of moved) {
      const facts = orderFacts(m.order, items);
      const from = previous.get(m.order.id) ?? m.order.status;
      const at = now.toISOString();
      if (m.order.status === 'paid' && m.payment) {
        const data: OrderPaidV1 = { ...facts, paymentId: m.payment.paymentId, paidAmount: m.payment.amount, paidAt: at };
        events.push({ type: 'orders.order_paid.v1', aggregateId: m.order.id, aggregateType: 'order', data });
      }
      if (m.order.status === 'cancelled') {
        const data: OrderCancelledV1 = {
          ...facts,
          reason,
          // Any fulfilment status means the capture was recorded (cancelling keeps it), also for an
          // order partially_refunded before: payments then refunds what is left.
          wasPaid: m.order.fulfilment_status !== null,
          previousStatus: from,
          actorType: actor.type,
          cancelledBy: actor.id,
          cancelledAt: at,
        };
        events.push({ type: 'orders.order_cancelled.v1', aggregateId: m.order.id, aggregateType: 'order', data });
      }
      const changed: OrderStatusChangedV1 = {
        ...facts,
        fromStatus: from,
        toStatus: m.order.status,
        reason,
        actorType: actor.type,
        changedBy: actor.id,
        changedAt: at,
      };
      events.push({ type: 'orders.order_status_changed.v1', aggregateId: m.order.id, aggregateType: 'order', data: changed });
    }
  }
  // The orders, their history, the events and the caller's own writes in one statement (one round trip).
  await runTogether(tx, [ordersUpdate(changes, now),
    // A mark_shipped (the seller's call once the parcel is recorded, or shipment_created) ends the
    // order's shipment holds, whatever it decided: shipped now, or already.
    shipmentHoldsEnd(ordersOf('mark_shipped')), historyInsert(history), outboxStatement('orders', events, trace, now), ...(context.alsoWrite ?? [])]);
  return results;
}

/**
 * One command on one order, in its own transaction; a refusal is a 409. `owner` limits it to the
 * buyer's or seller's own orders (anything else is a 404, so ids of others' orders leak nothing).
 */
export async function changeStatus(
  pool: Pool,
  orderId: string,
  command: OrderCommand,
  context: ChangeContext,
  owner?: { buyerId?: string; sellerId?: string },
): Promise<CommandResult> {
  return withTransaction(pool, async (tx) => {
    const [order] = await lockOrders(tx, [orderId]);
    if (!order || (owner?.buyerId && order.buyer_id !== owner.buyerId) || (owner?.sellerId && order.seller_id !== owner.sellerId)) {
      throw new AppError('NOT_FOUND', 'order not found');
    }
    const [result] = await applyCommands(tx, [{ order, command }], context);
    if (!result) throw new Error('applyCommands returned no result');
    if (result.decision.outcome === 'refused') {
      throw new AppError('INVALID_STATE_TRANSITION', result.decision.why, { orderStatus: order.status });
    }
    return result;
  });
}
