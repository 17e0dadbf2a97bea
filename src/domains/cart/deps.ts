import type { Clock } from '../../platform/clock.ts';
import type { Pool } from '../../platform/db/pool.ts';
import type { CatalogReader, CouponEvaluator, StockReader } from './ports.ts';

/** What the cart use cases work with; built once by the module factory. */
export interface CartDeps {
  pool: Pool;
  clock: Clock;
  catalog: CatalogReader;
  stock: StockReader;
  coupons: CouponEvaluator;
}
