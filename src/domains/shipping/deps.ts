import type { Logger } from 'pino';
import type { Clock } from '../../platform/clock.ts';
import type { Pool } from '../../platform/db/pool.ts';
import type { SealingKey } from '../../platform/sealed-secrets.ts';
import type { OrdersReader } from './ports.ts';

/** What the shipping use cases work with; built once by the module factory. */
export interface ShippingDeps {
  pool: Pool;
  clock: Clock;
  log: Logger;
  orders: OrdersReader;
  /** The key ring carrier credentials are sealed with (SHIPPING_CREDENTIALS_KEY), read once. */
  credentialsKeys(): Promise<readonly SealingKey[]>;
}
