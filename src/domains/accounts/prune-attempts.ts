import type { AccountsDeps } from './deps.ts';
import { pruneAttempts } from './sql.ts';

/** Login and registration attempts are kept a day (well past the throttling window), then deleted in bounded batches. */
export const ATTEMPT_RETENTION_SECONDS = 24 * 60 * 60;
export const PRUNE_BATCH_MAX = 1000;
export const PRUNE_BATCHES_MAX = 100;

export async function pruneLoginAttempts(deps: AccountsDeps): Promise<number> {
  const before = new Date(deps.clock.now().getTime() - Math.max(ATTEMPT_RETENTION_SECONDS, deps.loginLimits.windowSeconds) * 1000);
  let total = 0;
  for (let batch = 0; batch < PRUNE_BATCHES_MAX; batch++) {
    const { logins, registrations } = await pruneAttempts(deps.pool, before, PRUNE_BATCH_MAX);
    total += logins + registrations;
    if (logins < PRUNE_BATCH_MAX && registrations < PRUNE_BATCH_MAX) break;
  }
  return total;
}
