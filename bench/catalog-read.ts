/**
 * catalog-read: GET /v1/products/{id} over a seeded catalog, through real HTTP.
 *
 * A whole marketplace (every domain) listens on a real port on 127.0.0.1 after `products` products
 * were seeded with the seed command's code (categories, variants, prices, stock). Readers in a worker
 * thread keep `connections` keep-alive connections busy with GETs of `hot` published products picked
 * at random (the product cache holds 10,000 pages, so a hot set of that size or less is served from
 * memory after its first read; raise --hot above 10,000 to measure misses). Event delivery is off
 * during the measurement: the seed leaves hundreds of thousands of events to relay, which would
 * otherwise be measured too. The cache's invalidation listener is on.
 *
 * The reference, in the same process, same run and same load generator, is a bare Fastify route
 * returning a constant JSON body of the same size (one of the product pages, pre-serialised, the
 * fastest a Fastify route can answer). After seeding, the products and inventory databases are
 * vacuumed and analysed (so autovacuum does not run during a measurement); then the two servers are
 * measured in alternating rounds (catalog, reference, catalog, reference …) so that the noise of a
 * shared machine falls on both alike. `duration` is split over the rounds of each server.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import Fastify from 'fastify';
import { type Marketplace, createMarketplace } from '../src/app.ts';
import { loadConfig } from '../src/platform/config.ts';
import type { Pool } from '../src/platform/db/pool.ts';
import { DOMAIN_NAMES } from '../src/platform/domains.ts';
import { generateKeyring } from '../src/platform/http/tokens.ts';
import { seedCatalog, seedDepsOf } from '../src/seed/index.ts';
import type { LoadInput, LoadOutput } from './catalog-read-load.ts';
import { appPoolSize, type Flags, type Scenario, benchDatabases, numberFlag, percentile, progress, round, runInWorker, benchLog } from './support.ts';

/** Alternating measured rounds per server. */
const ROUNDS = 4;

interface Options {
  products: number;
  sellers: number;
  connections: number;
  hot: number;
  durationSeconds: number;
  warmupSeconds: number;
  poolSize: number;
}

function options(flags: Flags): Options {
  return {
    products: numberFlag(flags, 'products', 20_000, 10, 1_000_000),
    sellers: numberFlag(flags, 'sellers', 200, 1, 100_000),
    connections: numberFlag(flags, 'connections', 32, 1, 512),
    hot: numberFlag(flags, 'hot', 2000, 1, 100_000),
    durationSeconds: numberFlag(flags, 'duration', 10, 1, 600),
    warmupSeconds: numberFlag(flags, 'warmup', 3, 0, 120),
    poolSize: numberFlag(flags, 'pool-size', appPoolSize(), 2, 100),
  };
}

function runLoad(input: LoadInput): Promise<LoadOutput> {
  return runInWorker(new URL('./catalog-read-load.ts', import.meta.url), input, 'readers');
}

function merge(outs: LoadOutput[]): LoadOutput {
  const statuses: Record<string, number> = {};
  for (const o of outs) for (const [k, v] of Object.entries(o.statuses)) statuses[k] = (statuses[k] ?? 0) + v;
  const latenciesMs = new Float64Array(outs.reduce((n, o) => n + o.latenciesMs.length, 0));
  let at = 0;
  for (const o of outs) {
    latenciesMs.set(o.latenciesMs, at);
    at += o.latenciesMs.length;
  }
  return {
    requests: outs.reduce((n, o) => n + o.requests, 0),
    elapsedMs: outs.reduce((n, o) => n + o.elapsedMs, 0),
    latenciesMs,
    statuses,
    bytes: outs.reduce((n, o) => n + o.bytes, 0),
  };
}

function summarise(out: LoadOutput) {
  const latencies = Float64Array.from(out.latenciesMs).sort();
  return {
    requestsPerSecond: round((out.requests * 1000) / out.elapsedMs, 0),
    p50Ms: round(percentile(latencies as unknown as number[], 50)),
    p99Ms: round(percentile(latencies as unknown as number[], 99)),
    statuses: out.statuses,
    meanBodyBytes: out.requests ? round(out.bytes / out.requests, 0) : 0,
  };
}

/** The reference: a bare Fastify server with one route that answers a constant JSON body. */
async function startReference(body: string): Promise<{ address: string; close(): Promise<void> }> {
  const bare = Fastify();
  bare.get('/reference/:id', async (_request, reply) => reply.type('application/json; charset=utf-8').send(body));
  const address = await bare.listen({ port: 0, host: '127.0.0.1' });
  return { address, close: () => bare.close() };
}

/** Lets autovacuum's work on the freshly seeded tables happen now rather than during a measurement. */
async function settle(pools: Pool[]): Promise<void> {
  for (const pool of pools) await pool.query('VACUUM (ANALYZE)');
}

async function run(flags: Flags): Promise<Record<string, unknown>> {
  const o = options(flags);
  const dbs = await benchDatabases(DOMAIN_NAMES);
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'bazaar-bench-data-'));
  let app: Marketplace | undefined;
  try {
    const config = loadConfig({
      PORT: '0',
      HOST: '127.0.0.1',
      LOG_LEVEL: 'warn',
      JWT_KEYS: generateKeyring(),
      SEED_DEMO: 'false',
      DATA_DIR: dataDir,
      DATABASE_POOL_SIZE_MAX: String(o.poolSize),
    });
    // The app's own log goes to stderr: stdout carries only the result line.
    const log = benchLog();
    app = await createMarketplace(config, { targets: [...dbs.targets.values()], embedded: undefined }, { log, runMessaging: false });
    const address = await app.listen();

    progress(`seeding ${o.products} products over ${o.sellers} sellers`);
    const seeded = await seedCatalog(seedDepsOf(app), { products: o.products, sellers: o.sellers, demoSellers: 0 });
    progress(`seeded in ${round(seeded.seconds.total, 1)} s: ${seeded.published} published, ${seeded.variants} variants`);

    const products = app.pools.get('products') as Pool;
    const { rows } = await products.query<{ id: string }>(`SELECT id FROM products WHERE status = 'published' ORDER BY random() LIMIT $1`, [o.hot]);
    const paths = rows.map((r) => `/v1/products/${r.id}`);
    // The reference answers the page whose size is closest to the mean of a sample: the same size.
    const sample: string[] = [];
    for (const p of paths.slice(0, 100)) {
      const res = await fetch(`${address}${p}`);
      if (res.status !== 200) throw new Error(`GET ${p} answered ${res.status}`);
      sample.push(await res.text());
    }
    const meanSize = sample.reduce((n, b) => n + b.length, 0) / sample.length;
    const body = sample.reduce((best, b) => (Math.abs(b.length - meanSize) < Math.abs(best.length - meanSize) ? b : best));
    await settle([products, app.pools.get('inventory') as Pool]);
    const bare = await startReference(body);
    const referencePaths = paths.map((_, i) => `/reference/${i}`);
    progress(`marketplace on ${address}, reference on ${bare.address}; ${paths.length} hot products over ${o.connections} connections`);

    // Both servers live in this process and are measured in alternating rounds, so that the noise of a
    // shared machine falls on both alike. Each round has its own warm-up.
    const cache = (app.modules.find((m) => m.name === 'products') as unknown as { cache: { hits: number; misses: number } }).cache;
    const roundMs = (o.durationSeconds * 1000) / ROUNDS;
    const catalogRuns: LoadOutput[] = [];
    const referenceRuns: LoadOutput[] = [];
    let busyMs = 0;
    for (let r = 0; r < ROUNDS; r++) {
      const load = (url: string, list: string[]) => runLoad({ url, paths: list, connections: o.connections, warmupMs: r === 0 ? o.warmupSeconds * 1000 : 500, durationMs: roundMs });
      const elu = performance.eventLoopUtilization();
      catalogRuns.push(await load(address, paths));
      busyMs += performance.eventLoopUtilization(elu).utilization;
      referenceRuns.push(await load(bare.address, referencePaths));
    }
    const serverEventLoopUtilization = round(busyMs / ROUNDS, 2);
    await bare.close();
    const measured = summarise(merge(catalogRuns));
    const ref = summarise(merge(referenceRuns));
    const cacheHitRatio = round(cache.hits / Math.max(1, cache.hits + cache.misses), 4);
    progress(`catalog: ${JSON.stringify(measured)}; cache hit ratio ${cacheHitRatio}`);
    progress(`reference: ${JSON.stringify(ref)}`);
    progress(`per round (catalog / reference rps): ${catalogRuns.map((c, i) => `${round((c.requests * 1000) / c.elapsedMs, 0)} / ${round((referenceRuns[i]!.requests * 1000) / referenceRuns[i]!.elapsedMs, 0)}`).join(', ')}`);
    return {
      requestsPerSecond: measured.requestsPerSecond,
      p99Ms: measured.p99Ms,
      referenceRequestsPerSecond: ref.requestsPerSecond,
      ratio: round(measured.requestsPerSecond / Math.max(1, ref.requestsPerSecond), 2),
      p50Ms: measured.p50Ms,
      referenceP99Ms: ref.p99Ms,
      statuses: measured.statuses,
      bodyBytes: body.length,
      cacheHitRatio,
      serverEventLoopUtilization,
      products: o.products,
      hotProducts: paths.length,
      connections: o.connections,
      durationSeconds: o.durationSeconds,
      seedSeconds: round(seeded.seconds.total, 1),
      server: dbs.server,
    };
  } finally {
    await app?.stop().catch(() => undefined);
    await dbs.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}

export const scenario: Scenario = {
  description: 'GET /v1/products/{id} over a seeded catalog through real HTTP, beside a bare Fastify route with a same-size constant body',
  flags: {
    products: 'products seeded first (20000)',
    sellers: 'sellers they belong to (200)',
    connections: 'keep-alive connections kept busy (32)',
    hot: 'distinct published products read, at random (2000)',
    duration: 'measured seconds per server (10)',
    warmup: 'unmeasured seconds before each measurement (3)',
    'pool-size': 'database connections per domain (DATABASE_POOL_SIZE_MAX, as the app: 5)',
  },
  run,
};
