import type { Logger } from 'pino';
import type { Clock } from '../../platform/clock.ts';
import type { Pool } from '../../platform/db/pool.ts';
import type { ProductReadCache } from './product-cache.ts';

/** What the products use cases work with; built once by the module factory. */
export interface ProductsDeps {
  pool: Pool;
  clock: Clock;
  log: Logger;
  cache: ProductReadCache;
  /** Drops products ('*': all) from this process's caches at once, after a write (other processes hear of it at commit). */
  invalidate(productIds: readonly string[] | '*'): void;
}
