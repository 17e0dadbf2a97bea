import { AppError } from '../../../platform/http/errors.ts';
import { type StepContext, type StepResult, idempotencyKeyFor, required } from './types.ts';

export interface ReserveOutput {
  reservationId: string;
  expiresAt: string;
}

function reserveInput(ctx: StepContext) {
  const snapshot = required(ctx.outputs.price_snapshot, 'the price snapshot');
  return {
    idempotencyKey: idempotencyKeyFor(ctx.session.id, 'reserve'),
    ownerId: ctx.session.userId,
    referenceId: ctx.session.id,
    items: snapshot.lines.map((l) => ({ variantId: l.variantId, quantity: l.quantity })),
    ttlSeconds: ctx.settings.reservationTtlSeconds,
    trace: ctx.trace,
  };
}

/**
 * Holds the stock of every line, or none (OUT_OF_STOCK, or PURCHASE_LIMIT_EXCEEDED past a seller's
 * limit per buyer). The same key on a retry gets the same reservation.
 */
export async function run(ctx: StepContext): Promise<StepResult<ReserveOutput>> {
  const r = await ctx.ports.inventory.reserve(reserveInput(ctx));
  return { output: { reservationId: r.id, expiresAt: r.expiresAt }, patch: { reservationId: r.id } };
}

/**
 * Gives the stock back. When the reservation id was never recorded (the reserve call's outcome is
 * unknown), the same idempotency key tells which reservation it made, if any.
 */
export async function compensate(ctx: StepContext): Promise<void> {
  let reservationId = (ctx.saved as Partial<ReserveOutput> | undefined)?.reservationId ?? ctx.session.reservationId;
  if (!reservationId) {
    try {
      reservationId = (await ctx.ports.inventory.reserve(reserveInput(ctx))).id;
    } catch (error) {
      // Nothing was held under this key, and nothing can be now.
      if (error instanceof AppError && (error.code === 'OUT_OF_STOCK' || error.code === 'PURCHASE_LIMIT_EXCEEDED')) return;
      throw error;
    }
  }
  await ctx.ports.inventory.release(reservationId, `checkout ${ctx.session.id} failed: ${ctx.failureReason}`.slice(0, 500), ctx.trace);
}
