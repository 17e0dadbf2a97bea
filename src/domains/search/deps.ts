import type { Logger } from 'pino';
import type { Clock } from '../../platform/clock.ts';
import type { Pool } from '../../platform/db/pool.ts';

/** What the search use cases work with; built once by the module factory. */
export interface SearchDeps {
  pool: Pool;
  clock: Clock;
  log: Logger;
}
