import type { Logger } from 'pino';
import type { Clock } from '../../platform/clock.ts';
import type { Pool } from '../../platform/db/pool.ts';
import { WorkerLoop } from '../../platform/messaging/worker-loop.ts';
import { deleteWaitingWebhooks } from './sql.ts';

/** Waiting updates dropped per statement of the sweep. */
export const DROP_BATCH_MAX = 500;
/** The sweep's pace: an update is dropped within this long after its time is up. */
export const WAITING_SWEEP_MS = 600_000;
const DAY_MS = 86_400_000;

/**
 * Drops the carrier updates that have waited more than `keepDays` days (by `now`) for a shipment
 * of their tracking number: no seller created it, and none will. At most `batchMax` at a time;
 * several processes' sweeps drop each once. The carrier's repeat of a dropped update afterwards is
 * taken as new (and waits again). Returns how many it dropped, each named in the log (carrier,
 * tracking number and event id).
 */
export async function dropStaleWaitingWebhooks(pool: Pool, log: Logger, now: Date, keepDays: number, batchMax = DROP_BATCH_MAX): Promise<number> {
  const dropped = await deleteWaitingWebhooks(pool, new Date(now.getTime() - keepDays * DAY_MS), batchMax);
  if (dropped.length > 0) {
    // Each named, not only counted (a batch is bounded): an operator can tell a carrier's mistake
    // from a seller who never shipped, and ask the carrier for an event again.
    const updates = dropped.map((d) => ({ carrier: d.carrier_name, trackingNumber: d.tracking_number, eventId: d.event_id }));
    log.warn({ dropped: dropped.length, updates, keepDays }, 'carrier updates dropped: no shipment of their tracking number came in time');
  }
  return dropped.length;
}

/** The background sweep: a batch at a time while there are more, then every `intervalMs`. */
export function createWaitingWebhooksSweep(pool: Pool, clock: Clock, log: Logger, keepDays: number, intervalMs = WAITING_SWEEP_MS): WorkerLoop {
  return new WorkerLoop(
    'shipping:waiting-webhooks',
    async () => (await dropStaleWaitingWebhooks(pool, log, clock.now(), keepDays)) === DROP_BATCH_MAX,
    intervalMs,
    (error) => log.error({ err: error }, 'dropping stale carrier updates failed; the sweep tries again'),
  );
}
