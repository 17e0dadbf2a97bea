import type { Logger } from 'pino';
import type { Clock } from '../../platform/clock.ts';
import type { Pool } from '../../platform/db/pool.ts';
import type { CouponAccounts, CouponCatalog } from './ports.ts';

/** What the coupons use cases work with; built once by the module factory. */
export interface CouponsDeps {
  pool: Pool;
  clock: Clock;
  log: Logger;
  /** The products domain's public API: what coupon rules may name. */
  catalog: CouponCatalog;
  /** The accounts domain's public API: who is a seller. */
  accounts: CouponAccounts;
}
