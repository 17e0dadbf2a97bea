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
 * unknown), the idempotency key tells which reservation it made, if any: looked up, not reserved
 * again, which would take units (in a flash sale, from other buyers) when the first call took none.
 * A call still under way somewhere that reserves after this lookup leaves its units held until the
 * reservation expires (RESERVATION_TTL_SECONDS), when the sweeper gives them back.
 */
export async function compensate(ctx: StepContext): Promise<void> {
  let reservationId = (ctx.saved as Partial<ReserveOutput> | undefined)?.reservationId ?? ctx.session.reservationId;
  if (!reservationId) {
    const { idempotencyKey, ownerId } = reserveInput(ctx);
    const made = await ctx.ports.inventory.getReservationByKey(idempotencyKey, ownerId);
    if (!made) return;
    reservationId = made.id;
  }
  await ctx.ports.inventory.release(reservationId, `checkout ${ctx.session.id} failed: ${ctx.failureReason}`.slice(0, 500), ctx.trace);
}
