import type { Logger } from 'pino';
import type { Clock } from '../../platform/clock.ts';
import type { Pool } from '../../platform/db/pool.ts';
import type { KnownStock } from './known-stock.ts';
import type { InventoryMetrics } from './metrics.ts';
import type { SoldOutMemo } from './sold-out-memo.ts';

/** What the inventory use cases work with; built once by the module factory. */
export interface InventoryDeps {
  pool: Pool;
  clock: Clock;
  log: Logger;
  /** Default lifetime of a reservation (RESERVATION_TTL_SECONDS). */
  reservationTtlSeconds: number;
  soldOut: SoldOutMemo;
  /** Last known state of hot items, for the batch path's compare-and-set (see known-stock.ts). */
  knownStock: KnownStock;
  metrics: InventoryMetrics;
}
