import { type StepContext, type StepResult, required } from './types.ts';

export interface ConfirmOutput {
  reservationId: string;
}

/**
 * The held units are sold to the orders. A reservation that lapsed meanwhile is RESERVATION_NOT_ACTIVE:
 * the stock may be sold to someone else, so the checkout is compensated (the payment refunded).
 */
export async function run(ctx: StepContext): Promise<StepResult<ConfirmOutput>> {
  const { reservationId } = required(ctx.outputs.reserve_stock, 'the reservation');
  const { orders } = required(ctx.outputs.create_orders, 'the orders');
  await ctx.ports.inventory.confirm(reservationId, { orders: orders.map((o) => ({ sellerId: o.sellerId, orderId: o.orderId })), trace: ctx.trace });
  return { output: { reservationId } };
}
