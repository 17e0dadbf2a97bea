import type { Clock } from '../../platform/clock.ts';
import type { Pool } from '../../platform/db/pool.ts';
import { WorkerLoop } from '../../platform/messaging/worker-loop.ts';
import type { SessionRunner } from './runner.ts';
import { claimDueSessions } from './sql.ts';

export interface RecoveryOptions {
  pool: Pool;
  clock: Clock;
  leaseMs: number;
  pollMs: number;
  /** Sessions this process drives at once at most (POSTs included). */
  drivesMax: number;
  onError(error: Error): void;
}

/**
 * The recovery worker: takes over unfinished sessions that are due — left by a crashed process
 * (their lease lapsed), waiting for a payment's outcome, or backing off after an error — and drives
 * each to its end or its next wait. Any number of processes may run it: a session is leased to one.
 */
export function createRecoveryWorker(runner: SessionRunner, o: RecoveryOptions): WorkerLoop {
  return new WorkerLoop(
    'checkout:recovery',
    async () => {
      const room = o.drivesMax - runner.busy;
      if (room <= 0) return false;
      const now = o.clock.now();
      // A session still driven here (its call hung past the lease) is left for another process:
      // claiming it again would only extend the lease of the drive that hangs.
      const claimed = await claimDueSessions(o.pool, runner.owner, now, new Date(now.getTime() + o.leaseMs), room, runner.drivenIds);
      for (const session of claimed) void runner.drive(session);
      return claimed.length === room;
    },
    o.pollMs,
    o.onError,
  );
}
