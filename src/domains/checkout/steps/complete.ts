import { type StepContext, type StepResult, required } from './types.ts';

export interface CompleteOutput {
  orderIds: string[];
  /** Null when nothing was charged. */
  paymentIntentId: string | null;
}

/** The last step: nothing to call; the engine marks the session completed with this step, in one transaction with its event. */
export async function run(ctx: StepContext): Promise<StepResult<CompleteOutput>> {
  const { orders } = required(ctx.outputs.create_orders, 'the orders');
  const { intentId } = required(ctx.outputs.capture_payment, 'the capture');
  return { output: { orderIds: orders.map((o) => o.orderId), paymentIntentId: intentId } };
}
