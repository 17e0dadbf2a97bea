import { withTransaction } from '../../platform/db/pool.ts';
import { appendEvents, type NewEvent } from '../../platform/messaging/outbox.ts';
import { WorkerLoop } from '../../platform/messaging/worker-loop.ts';
import type { InventoryDeps } from './deps.ts';
import { WAITING_RESTOCKS_BATCH_MAX, restockConfirmedCancellations } from './cancelled-order-stock.ts';
import { decide } from './lifecycle.ts';
import { moveReservedStock } from './reserved-stock.ts';

export const SWEEP_BATCH_SIZE_MAX = 200;

/**
 * Expires the active reservations whose expires_at has passed (by the injected clock) and gives
 * their units back, in one transaction per batch. Exactly once, however many sweepers run: each
 * takes its rows with FOR UPDATE SKIP LOCKED, the UPDATE re-checks status = 'active', and confirm
 * and release lock the same row first. Returns how many reservations it expired.
 */
export async function expireDueReservations(deps: InventoryDeps, batchSizeMax = SWEEP_BATCH_SIZE_MAX): Promise<number> {
  const { count, variantIds } = await withTransaction(deps.pool, async (tx) => {
    const now = deps.clock.now();
    // The due reservations are locked first (a lock alone makes no one wait who inserts their key),
    // then their stock items in id order, and only then updated: a reservation's key whose row is
    // updated makes a request with that key wait at its claim, and such a request (a multi-item
    // one, or a flash-sale batch) holds its items by then. Updating the reservations before
    // taking the items deadlocked with a retry of an expiring reservation (found by a review).
    const { rows: due } = await tx.query<{ id: string }>(
      `SELECT id FROM reservations
        WHERE status = 'active' AND expires_at <= $1
        ORDER BY expires_at
        LIMIT $2
        FOR UPDATE SKIP LOCKED`,
      [now, batchSizeMax],
    );
    if (due.length === 0) return { count: 0, variantIds: [] as string[] };
    const dueIds = due.map((r) => r.id);
    await tx.query(
      `SELECT id FROM stock_items
        WHERE id IN (SELECT stock_item_id FROM stock_reservations WHERE reservation_id = ANY($1::uuid[]) AND status = 'active')
        ORDER BY id
        FOR UPDATE`,
      [dueIds],
    );
    const { rows: expired } = await tx.query<{ id: string; owner_id: string; reference_id: string | null; expires_at: Date }>(
      `UPDATE reservations
          SET status = 'expired', release_reason = 'expired', closed_at = $1, updated_at = $1
        WHERE id = ANY($2::uuid[]) AND status = 'active'
       RETURNING id, owner_id, reference_id, expires_at`,
      [now, dueIds],
    );
    if (expired.length === 0) return { count: 0, variantIds: [] as string[] };
    for (const r of expired) {
      // The SQL above is the lifecycle rule for many rows at once; the pure rule must agree.
      const d = decide({ status: 'active', expiresAt: r.expires_at }, { type: 'expire' }, now);
      if (d.outcome !== 'transition') throw new Error(`sweeper picked reservation ${r.id} that is not due`);
    }
    const { rows: lines } = await tx.query<{ reservation_id: string; stock_item_id: string; quantity: number }>(
      `UPDATE stock_reservations SET status = 'expired', updated_at = $2
        WHERE reservation_id = ANY($1::uuid[]) AND status = 'active'
       RETURNING reservation_id, stock_item_id, quantity`,
      [expired.map((r) => r.id), now],
    );
    const position = new Map(expired.map((r, i) => [r.id, i]));
    lines.sort((a, b) => (position.get(a.reservation_id) ?? 0) - (position.get(b.reservation_id) ?? 0) || (a.stock_item_id < b.stock_item_id ? -1 : 1));
    const { facts, items } = await moveReservedStock(
      tx,
      lines.map((l) => ({ reservationId: l.reservation_id, stockItemId: l.stock_item_id, quantity: l.quantity })),
      'return',
      now,
      null,
    );
    const byReservation = new Map<string, typeof facts>();
    lines.forEach((l, i) => {
      const list = byReservation.get(l.reservation_id) ?? [];
      const fact = facts[i];
      if (fact) list.push(fact);
      byReservation.set(l.reservation_id, list);
    });
    const events: NewEvent[] = expired.map((r) => ({
      type: 'inventory.reservation_expired.v1',
      aggregateType: 'reservation',
      aggregateId: r.id,
      data: {
        reservationId: r.id,
        ownerId: r.owner_id,
        referenceId: r.reference_id,
        items: byReservation.get(r.id) ?? [],
        expiresAt: r.expires_at.toISOString(),
        expiredAt: now.toISOString(),
      },
    }));
    // A sweep is caused by no request or event: its events start traces of their own.
    await appendEvents(tx, 'inventory', events, null, now);
    return { count: expired.length, variantIds: items.map((i) => i.variant_id) };
  });
  deps.soldOut.forget(variantIds);
  return count;
}

/**
 * Restocks the paid orders cancelled before their checkout confirmed (cancelled-order-stock.ts),
 * now that it has; returns how many waiting cancellations were settled.
 */
export async function settleWaitingCancellations(deps: InventoryDeps): Promise<number> {
  const { settled, variantIds, failed } = await withTransaction(deps.pool, (tx) => restockConfirmedCancellations(tx, deps.clock.now()));
  deps.soldOut.forget(variantIds);
  for (const f of failed) deps.log.error({ err: f.error, orderId: f.orderId }, 'the stock of a cancelled order could not be restocked; tried again next round');
  return settled;
}

/**
 * The background sweeper of one process: one batch after another while there are more, else every
 * `intervalMs`; each round also settles the cancellations that waited for a confirmation.
 */
export function createExpirySweeper(deps: InventoryDeps, intervalMs: number, batchSizeMax = SWEEP_BATCH_SIZE_MAX): WorkerLoop {
  return new WorkerLoop(
    'inventory:expiry-sweeper',
    async () => {
      const expired = await expireDueReservations(deps, batchSizeMax);
      const settled = await settleWaitingCancellations(deps);
      return expired === batchSizeMax || settled === WAITING_RESTOCKS_BATCH_MAX;
    },
    intervalMs,
    (error) => deps.log.error({ err: error }, 'reservation expiry sweep failed'),
  );
}
