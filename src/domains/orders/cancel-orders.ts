import { type Pool, withTransaction } from '../../platform/db/pool.ts';
import type { Trace } from '../../platform/messaging/envelope.ts';
import { lockOrdersOfCheckout } from './sql.ts';
import { SYSTEM, type OrderStatus } from './status-machine.ts';
import { applyCommands } from './transitions.ts';

export interface CheckoutCancellation {
  orderId: string;
  /** The order's status afterwards: cancelled, or the status that refused it (e.g. shipped). */
  status: OrderStatus;
  cancelled: boolean;
}

/**
 * Compensation of checkout's create_orders step: cancels every order of the session that can still
 * be cancelled (by the system, so changed_by is NULL), each with an orders.order_cancelled.v1 event
 * so stock, coupons and payment come back. Idempotent: an order already cancelled stays as it is
 * and emits nothing again. An order past shipment is left alone and reported as not cancelled.
 * The events carry `trace` (the checkout's; null: a trace of their own).
 */
export async function cancelOrdersForCheckout(
  pool: Pool,
  now: Date,
  trace: Trace | null,
  checkoutSessionId: string,
  reason: string,
): Promise<CheckoutCancellation[]> {
  return withTransaction(pool, async (tx) => {
    const orders = await lockOrdersOfCheckout(tx, checkoutSessionId);
    const results = await applyCommands(tx, orders.map((order) => ({ order, command: { type: 'cancel' } as const })), {
      actor: SYSTEM,
      reason,
      now,
      trace,
    });
    return results.map((r) => ({ orderId: r.order.id, status: r.order.status, cancelled: r.order.status === 'cancelled' }));
  });
}
