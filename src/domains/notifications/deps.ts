import type { Logger } from 'pino';
import type { Clock } from '../../platform/clock.ts';
import type { Pool } from '../../platform/db/pool.ts';
import type { NotificationProvider } from './provider.ts';
import type { ProviderChannel } from './types.ts';

/** The one thing notifications ask another domain: who bought an order (for a refund, whose event names only the seller). */
export interface OrderLookup {
  getOrderForSeller(orderId: string, sellerId: string): Promise<{ buyerId: string; orderNumber: string } | null>;
}

export interface DeliverySettings {
  /** Attempts per notification before it is marked failed. */
  attemptsMax: number;
  retryDelayBaseMs: number;
  retryDelayMaxMs: number;
  /** Longest wait for a provider's answer; longer counts as a failed attempt. */
  sendTimeoutMs: number;
  /** How long a claimed notification is held by the worker that sends it. */
  leaseMs: number;
  batchSizeMax: number;
}

/** What the notifications use cases work with; built once by the module factory. */
export interface NotificationsDeps {
  pool: Pool;
  clock: Clock;
  log: Logger;
  orders: OrderLookup;
  providers: ReadonlyMap<ProviderChannel, NotificationProvider>;
  delivery: DeliverySettings;
  /** Jitter of the retry backoff (tests make it fixed). */
  random: () => number;
}
