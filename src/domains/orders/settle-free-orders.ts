import { type Pool, withTransaction } from '../../platform/db/pool.ts';
import type { Trace } from '../../platform/messaging/envelope.ts';
import { lockOrdersOfCheckout } from './sql.ts';
import { SYSTEM } from './status-machine.ts';
import { applyCommands } from './transitions.ts';

/** Why a free order is paid, in its status history. */
const NOTHING_TO_PAY = 'nothing to pay: the coupons or prices leave a total of 0';

/**
 * Checkout's word that its payment step is done: the session's orders that owe nothing (a total of
 * 0, from a 100 % coupon or items priced 0) move from pending_payment to paid, with no payment
 * (orders.order_paid.v1 with paymentId null and paidAmount 0). Orders that owe money are left to
 * payments' capture. Idempotent: a paid order stays as it is and emits nothing again. Returns the
 * ids of the free orders, whatever their status.
 */
export async function settleFreeOrders(pool: Pool, now: Date, trace: Trace | null, checkoutSessionId: string): Promise<string[]> {
  return withTransaction(pool, async (tx) => {
    const free = (await lockOrdersOfCheckout(tx, checkoutSessionId)).filter((order) => order.total_amount === 0);
    await applyCommands(
      tx,
      free.map((order) => ({ order, command: { type: 'record_payment' } as const, payment: { paymentId: null, amount: 0 } })),
      { actor: SYSTEM, reason: NOTHING_TO_PAY, now, trace },
    );
    return free.map((order) => order.id);
  });
}
