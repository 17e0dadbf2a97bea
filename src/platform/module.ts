import type { Logger } from 'pino';
import type { Clock } from './clock.ts';
import type { Config } from './config.ts';
import type { Pool } from './db/pool.ts';
import type { DomainName } from './domains.ts';
import type { HttpApp } from './http/server.ts';
import type { TokenService } from './http/tokens.ts';
import type { Subscription } from './messaging/subscription.ts';
import type { Metrics } from './metrics.ts';

/** What a domain gets from the platform: its own pool, never another domain's. */
export interface DomainContext {
  domain: DomainName;
  pool: Pool;
  config: Config;
  clock: Clock;
  log: Logger;
  tokens: TokenService;
  metrics: Metrics;
}

/** A domain as the composition root sees it. */
export interface DomainModule {
  readonly name: DomainName;
  readonly subscriptions?: readonly Subscription[];
  routes?(app: HttpApp): Promise<void> | void;
  /** Background work of the domain (sweepers, bootstrap); stopped before the pools close. */
  start?(): Promise<void>;
  stop?(): Promise<void>;
}
