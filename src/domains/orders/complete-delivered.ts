import type { Pool } from '../../platform/db/pool.ts';
import { withTransaction } from '../../platform/db/pool.ts';
import { WorkerLoop } from '../../platform/messaging/worker-loop.ts';
import type { Clock } from '../../platform/clock.ts';
import type { Logger } from 'pino';
import { lockOrders } from './sql.ts';
import { SYSTEM } from './status-machine.ts';
import { applyCommands } from './transitions.ts';

/** Orders completed per transaction of the sweep. */
export const COMPLETE_BATCH_MAX = 100;
const DAY_MS = 86_400_000;

/**
 * Completes the orders delivered at least `afterDays` days before `now` (their return window has
 * passed), at most `batchMax` of them in one transaction: delivered → completed, or a partly
 * refunded order whose fulfilment reached delivered → completed (its refunds stay recorded). Rows
 * another sweeper holds are skipped, and completing is idempotent, so sweepers in several processes
 * complete each order once. Returns how many orders it completed.
 */
export async function completeDeliveredOrders(pool: Pool, now: Date, afterDays: number, batchMax = COMPLETE_BATCH_MAX): Promise<number> {
  const deliveredBy = new Date(now.getTime() - afterDays * DAY_MS);
  return withTransaction(pool, async (tx) => {
    const { rows } = await tx.query<{ id: string }>(
      `SELECT o.id FROM orders o
        WHERE o.fulfilment_status = 'delivered' AND o.status IN ('delivered', 'partially_refunded')
          AND (SELECT max(h.changed_at) FROM order_status_history h WHERE h.order_id = o.id AND h.to_status = 'delivered') <= $1
        ORDER BY o.id LIMIT $2 FOR UPDATE OF o SKIP LOCKED`,
      [deliveredBy, batchMax],
    );
    if (rows.length === 0) return 0;
    const orders = await lockOrders(tx, rows.map((r) => r.id));
    const results = await applyCommands(
      tx,
      orders.map((order) => ({ order, command: { type: 'complete' } as const })),
      { actor: SYSTEM, reason: `the return window closed (${afterDays} days after delivery)`, now, trace: null },
    );
    return results.filter((r) => r.decision.outcome === 'transition').length;
  });
}

/** The background sweep: a batch at a time while there are more, then every `intervalMs`. */
export function createCompletionSweep(pool: Pool, clock: Clock, log: Logger, afterDays: number, intervalMs: number): WorkerLoop {
  return new WorkerLoop(
    'orders:completion',
    async () => (await completeDeliveredOrders(pool, clock.now(), afterDays)) === COMPLETE_BATCH_MAX,
    intervalMs,
    (error) => log.error({ err: error }, 'completing delivered orders failed; the sweep tries again'),
  );
}
