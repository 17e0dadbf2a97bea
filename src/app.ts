import type { Logger } from 'pino';
import { type Clock, systemClock } from './platform/clock.ts';
import type { Config } from './platform/config.ts';
import { type DatabaseTarget, ensureDatabases, missingDatabases, resolveTargets } from './platform/db/databases.ts';
import { type EmbeddedServer, hasEmbeddedCluster, startEmbeddedPostgres } from './platform/db/embedded.ts';
import { migrateDatabase } from './platform/db/migrate.ts';
import { type Pool, createPool } from './platform/db/pool.ts';
import type { DomainName } from './platform/domains.ts';
import { registerOpsRoutes } from './platform/http/ops-routes.ts';
import { registerReadModelRoutes } from './platform/http/read-model-routes.ts';
import { type HttpApp, createHttpApp } from './platform/http/server.ts';
import { useCursorKey } from './platform/http/cursor.ts';
import { type SigningKey, TokenService, loadOrCreateKeyring } from './platform/http/tokens.ts';
import { createLogger } from './platform/logger.ts';
import { NatsTransport } from './platform/messaging/nats-transport.ts';
import { Messaging } from './platform/messaging/runtime.ts';
import type { Subscription } from './platform/messaging/subscription.ts';
import { registerDeliveryPlan } from './platform/messaging/outbox.ts';
import { InProcessTransport, type Transport } from './platform/messaging/transport.ts';
import { Metrics } from './platform/metrics.ts';
import type { DomainContext, DomainModule } from './platform/module.ts';
import { domainFactories } from './domains.ts';

import { VERSION } from './version.ts';

export { VERSION };

export interface Databases {
  targets: DatabaseTarget[];
  embedded: EmbeddedServer | undefined;
  /** Per database, the migrations prepareDatabases applied (none when it was up to date). */
  applied?: Map<string, string[]>;
}

/**
 * Finds (or starts) the PostgreSQL server(s), creates the 11 databases when missing and migrates
 * them. `shareEmbedded: false` (a server) refuses an embedded PostgreSQL another live process runs.
 * `migrate: false` (the CLI's inspection and repair commands) creates and migrates nothing: a
 * database that does not exist is an error naming it.
 */
export async function prepareDatabases(config: Config, log: Logger, options: { shareEmbedded?: boolean; migrate?: boolean } = {}): Promise<Databases> {
  const needsServer = !config.databaseUrl && Object.keys(config.domainDatabaseUrls).length < 11;
  // Nor is an embedded PostgreSQL made for a command that creates nothing (found by a review: one
  // run from the wrong directory left a new cluster in it).
  if (needsServer && options.migrate === false && !hasEmbeddedCluster(config.dataDir)) {
    throw new Error(`no embedded PostgreSQL in DATA_DIR ${config.dataDir} (and no DATABASE_URL): start the marketplace or run \`bazaar migrate\` there first; nothing was created`);
  }
  const embedded = needsServer ? await startEmbeddedPostgres(config.dataDir, log, { share: options.shareEmbedded ?? true }) : undefined;
  try {
    const targets = resolveTargets(config, config.databaseUrl ?? embedded?.url);
    if (options.migrate === false) {
      const missing = (await missingDatabases(targets)).map((t) => t.database);
      if (missing.length > 0) {
        throw new Error(`no database ${missing.join(', ')} on this server: run \`bazaar migrate\` (or start the marketplace) first; nothing was created`);
      }
      return { targets, embedded };
    }
    await ensureDatabases(targets);
    const appliedTo = new Map<string, string[]>();
    for (const t of targets) {
      const { applied } = await migrateDatabase(t.url, t.domain);
      appliedTo.set(t.database, applied);
      if (applied.length > 0) log.info({ database: t.database, applied }, 'migrated');
    }
    return { targets, embedded, applied: appliedTo };
  } catch (error) {
    await embedded?.stop();
    throw error;
  }
}

export interface MarketplaceOptions {
  clock?: Clock;
  log?: Logger;
  /** Extra consumers (tests and benchmarks subscribe their own probes). */
  extraSubscriptions?: Subscription[];
  transport?: (pools: ReadonlyMap<DomainName, Pool>, subscriptions: readonly Subscription[]) => Transport;
  /** Whether this process runs event delivery (relays and consumers); default true. */
  runMessaging?: boolean;
}

export interface Marketplace {
  config: Config;
  http: HttpApp;
  pools: ReadonlyMap<DomainName, Pool>;
  messaging: Messaging;
  modules: DomainModule[];
  tokens: TokenService;
  clock: Clock;
  log: Logger;
  start(): Promise<void>;
  listen(): Promise<string>;
  stop(): Promise<void>;
}

export async function createMarketplace(config: Config, databases: Databases, options: MarketplaceOptions = {}): Promise<Marketplace> {
  const log = options.log ?? createLogger(config.logLevel);
  const clock = options.clock ?? systemClock;
  const metrics = new Metrics();
  const keys = await loadOrCreateKeyring(config.jwtKeys, config.dataDir);
  const tokens = new TokenService(keys, config.jwtIssuer, config.jwtAudience, config.accessTokenTtlSeconds, clock);
  // Pagination cursors are signed with a key derived from the token signing key (platform/http/cursor.ts).
  useCursorKey((keys[0] as SigningKey).secret);
  const pools = new Map<DomainName, Pool>();
  for (const t of databases.targets) pools.set(t.domain, createPool(t.url, config.poolSizeMax, `bazaar-${t.domain}`, { prepare: config.preparedStatements }));

  const context = (domain: DomainName): DomainContext => {
    const pool = pools.get(domain);
    if (!pool) throw new Error(`no pool for ${domain}`);
    return { domain, pool, config, clock, log: log.child({ domain }), tokens, metrics };
  };
  const modules = domainFactories(context);
  const subscriptions = [...modules.flatMap((m) => m.subscriptions ?? []), ...(options.extraSubscriptions ?? [])];
  const transport = options.transport
    ? options.transport(pools, subscriptions)
    : config.transport === 'nats'
      ? new NatsTransport({ url: config.natsUrl, stream: config.natsStream, subjectPrefix: config.natsSubjectPrefix, maxAgeDays: config.natsMaxAgeDays }, pools, subscriptions, log.child({ component: 'nats' }))
      : new InProcessTransport(pools, subscriptions);
  const messaging = new Messaging(
    databases.targets.map((t) => ({ domain: t.domain, url: t.url, pool: pools.get(t.domain) as Pool })),
    transport,
    subscriptions,
    {
      pollMs: config.relayPollMs,
      batchSizeMax: config.relayBatchSizeMax,
      attemptsMax: config.deliveryAttemptsMax,
      retryDelayBaseMs: config.retryDelayBaseMs,
      retryDelayMaxMs: config.retryDelayMaxMs,
    },
    clock,
    metrics,
    log.child({ component: 'messaging' }),
  );

  const http = await createHttpApp({
    bodyLimitBytes: config.bodyLimitBytes,
    requestTimeoutMs: config.requestTimeoutMs,
    trustProxy: config.trustProxy,
    logger: log,
    metrics,
    tokens,
    version: VERSION,
  });
  registerOpsRoutes(http, { pools, messaging, metrics });
  registerReadModelRoutes(http, messaging);
  for (const m of modules) await m.routes?.(http);
  await http.ready();

  let started = false;
  let stopped = false;
  const runMessaging = options.runMessaging ?? true;
  // Without delivery of its own, this app's events wait for whichever relay takes them: no running
  // delivery of this process (another app's, on other databases) may write them published.
  const withoutDelivery = runMessaging ? undefined : registerDeliveryPlan({ domains: new Set(pools.keys()), routed: undefined });
  const marketplace: Marketplace = {
    config,
    http,
    pools,
    messaging,
    modules,
    tokens,
    clock,
    log,
    async start() {
      if (runMessaging) await messaging.start();
      for (const m of modules) await m.start?.();
      started = true;
    },
    async listen() {
      if (!started) await marketplace.start();
      return http.listen({ port: config.port, host: config.host });
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      // Stop accepting, let requests in flight finish, then background work, then the databases.
      await http.close();
      for (const m of [...modules].reverse()) await m.stop?.();
      await messaging.stop();
      withoutDelivery?.();
      await Promise.all([...pools.values()].map((p) => p.end()));
      await databases.embedded?.stop();
    },
  };
  return marketplace;
}
