/**
 * flash-sale: one variant with little stock, thousands of buyers at once, through the HTTP API.
 *
 * A whole marketplace (all domains, event delivery running) listens on a real port on 127.0.0.1.
 * `buyers` buyers, each with their own token and Idempotency-Key, send POST /v1/reservations for one
 * unit over `concurrency` keep-alive connections from a worker thread. Unmeasured warm-up sales of
 * the same shape on other variants come first, from the same worker over the same connections, so
 * that the measured sale finds the server's and the load generator's code compiled (a cold
 * process's JIT compilation otherwise takes a third of the CPU during the one-second sale).
 *
 * The reference, on the same server in the same run, is the hot-row bottleneck itself: a bare
 * `UPDATE … SET available = available - 1 WHERE id = $1 AND available > 0` loop on a scratch table
 * at the same concurrency, `buyers` statements, the row starting with `buyers` units so every
 * statement really updates it (referenceHotRowUpdatesPerSecond). Each statement waits for its own
 * commit to reach the disk behind the row's lock, so the loop's rate is the disk's commit latency,
 * which moves by half within a minute on a small machine (loops of one run measured 3,674, 3,498,
 * 1,673, 1,613 and 1,526 updates per second): the loop runs three times and the reference is the
 * median, every sample printed (referenceHotRowSamples). For transparency the same loop is
 * also run on the sale's own shape (`stock` units, `buyers` attempts), where attempts after the sell-
 * out update nothing (referenceSameShapeAttemptsPerSecond).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { type Marketplace, createMarketplace } from '../src/app.ts';
import type { InventoryApi } from '../src/domains/inventory/index.ts';
import type { ProductsApi } from '../src/domains/products/index.ts';
import { loadConfig } from '../src/platform/config.ts';
import { type Pool, createPool } from '../src/platform/db/pool.ts';
import { DOMAIN_NAMES } from '../src/platform/domains.ts';
import { generateKeyring } from '../src/platform/http/tokens.ts';
import { newId } from '../src/platform/ids.ts';
import { importSimpleProduct } from '../src/seed/index.ts';
import type { BuyersInput, BuyersOutput } from './flash-sale-buyers.ts';
import { appPoolSize, type Flags, type Scenario, benchDatabases, numberFlag, percentile, profiled, progress, round, settleDelivery, startWorker, type WorkerRuns, benchLog } from './support.ts';

interface Options {
  buyers: number;
  stock: number;
  concurrency: number;
  warmupSales: number;
  poolSize: number;
}

function options(flags: Flags): Options {
  return {
    buyers: numberFlag(flags, 'buyers', 5000, 1, 200_000),
    stock: numberFlag(flags, 'stock', 500, 1, 1_000_000),
    concurrency: numberFlag(flags, 'concurrency', 64, 1, 256),
    warmupSales: numberFlag(flags, 'warmup-sales', 2, 0, 20),
    poolSize: numberFlag(flags, 'pool-size', appPoolSize(), 2, 100),
  };
}

async function buyerTokens(app: Marketplace, count: number): Promise<string[]> {
  const tokens: string[] = [];
  for (let i = 0; i < count; i++) tokens.push((await app.tokens.sign({ userId: newId(), roles: ['buyer'] })).token);
  return tokens;
}

/** `attempts` bare hot-row UPDATEs at `concurrency`; returns attempts per second and how many updated the row. */
async function hotRowLoop(pool: Pool, concurrency: number, attempts: number, initial: number): Promise<{ perSecond: number; updated: number }> {
  await pool.query('UPDATE bench_hot_row SET available = $1 WHERE id = 1', [initial]);
  let next = 0;
  let updated = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next++ < attempts) {
        const r = await pool.query('UPDATE bench_hot_row SET available = available - 1 WHERE id = $1 AND available > 0', [1]);
        updated += r.rowCount ?? 0;
      }
    }),
  );
  return { perSecond: round((attempts * 1000) / (performance.now() - started), 0), updated };
}

/** Measured loops of the hot-row reference; the reference is their median (see the header). */
const HOT_ROW_SAMPLES = 3;

async function referencePhase(url: string, o: Options): Promise<{ hotRow: number; hotRowSamples: number[]; sameShape: number; sameShapeUpdated: number }> {
  const pool = createPool(url, o.concurrency, 'bench-hot-row');
  try {
    await pool.query('CREATE TABLE bench_hot_row (id integer PRIMARY KEY, available integer NOT NULL CHECK (available >= 0))');
    await pool.query('INSERT INTO bench_hot_row VALUES (1, 0)');
    // Open every connection before timing, as the app's pool is warm too.
    await Promise.all(Array.from({ length: o.concurrency }, () => pool.query('SELECT 1')));
    await hotRowLoop(pool, o.concurrency, Math.min(1000, o.buyers), o.buyers);
    const hotRowSamples: number[] = [];
    for (let i = 0; i < HOT_ROW_SAMPLES; i++) hotRowSamples.push((await hotRowLoop(pool, o.concurrency, o.buyers, o.buyers)).perSecond);
    const hotRow = [...hotRowSamples].sort((a, b) => a - b)[Math.floor(HOT_ROW_SAMPLES / 2)] as number;
    const sameShape = await hotRowLoop(pool, o.concurrency, o.buyers, o.stock);
    return { hotRow, hotRowSamples, sameShape: sameShape.perSecond, sameShapeUpdated: sameShape.updated };
  } finally {
    await pool.query('DROP TABLE IF EXISTS bench_hot_row').catch(() => undefined);
    await pool.end();
  }
}

async function batchStats(address: string): Promise<{ batches: number; meanBatchSize: number; soldOutFromMemory: number }> {
  const text = await (await fetch(`${address}/metrics`)).text();
  const value = (name: string) => Number(new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+-]+)$`, 'm').exec(text)?.[1] ?? 0);
  const batches = value('bazaar_inventory_reservation_batch_size_count');
  const requests = value('bazaar_inventory_reservation_batch_size_sum');
  return { batches, meanBatchSize: batches ? round(requests / batches, 1) : 0, soldOutFromMemory: value('bazaar_inventory_sold_out_answers_total') };
}

async function run(flags: Flags): Promise<Record<string, unknown>> {
  const o = options(flags);
  const dbs = await benchDatabases(DOMAIN_NAMES);
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'bazaar-bench-data-'));
  let app: Marketplace | undefined;
  let buyers: WorkerRuns<BuyersInput, BuyersOutput> | undefined;
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
    app = await createMarketplace(config, { targets: [...dbs.targets.values()], embedded: undefined }, { log });
    const address = await app.listen();
    const inventory = (app.modules.find((m) => m.name === 'inventory') as unknown as { api: InventoryApi }).api;

    const sellerId = newId();
    // Real catalog items (buyers may hold only what is for sale), published through the products API.
    const products = (app.modules.find((m) => m.name === 'products') as unknown as { api: ProductsApi }).api;
    const catalogItem = async (title: string) => {
      const p = await importSimpleProduct(products, { sellerId, title });
      return { variantId: p.variantIds[0] as string, productId: p.productId, sellerId, sku: p.skus[0] as string };
    };
    const sale = await catalogItem('Flash sale item');
    // Warm-up sales of the same shape on other variants: every path the sale takes (first batch
    // under lock, batches from the known state, the sell-out, answers from memory) is compiled and
    // warm, as in a server that has been up for a while.
    const warmSales: (typeof sale)[] = [];
    for (let i = 0; i < o.warmupSales; i++) warmSales.push(await catalogItem(`Warm-up item ${i}`));
    // The stock items are made now (the products' events make them too, a moment later), and the
    // seller puts the units on sale by an adjustment, as through POST /v1/seller/stock/{variantId}/adjustments.
    await inventory.receiveStock([sale, ...warmSales].map((item) => ({ ...item, quantity: 0 })));
    for (const item of [sale, ...warmSales]) await inventory.adjustStock(sellerId, item.variantId, { amount: o.stock, reason: 'received' });
    const tokens = await buyerTokens(app, o.buyers);
    const warmTokens = o.warmupSales > 0 ? await buyerTokens(app, o.buyers) : [];
    progress(`marketplace on ${address}; ${o.buyers} buyers for ${o.stock} units of ${sale.variantId}`);

    // One load generator for the warm-up and the sale: its code is warm and its connections open.
    const load = startWorker<BuyersInput, BuyersOutput>(new URL('./flash-sale-buyers.ts', import.meta.url), 'buyers');
    buyers = load;
    for (const [i, warm] of warmSales.entries()) {
      const w = await load.run({ url: address, variantId: warm.variantId, tokens: warmTokens, keyPrefix: `warm-${i}`, concurrency: o.concurrency });
      progress(`warm-up sale ${i + 1}: ${o.buyers} requests in ${round(w.elapsedMs, 0)} ms`);
    }
    // The warm-up sales' events are all delivered before the sale starts, not during it.
    progress(`warm-up events delivered ${round(await settleDelivery(app.pools), 0)} ms after the last warm-up sale`);
    const before = await batchStats(address);
    const elu = performance.eventLoopUtilization();
    const out = await profiled(() => load.run({ url: address, variantId: sale.variantId, tokens: tokens.slice(0, o.buyers), keyPrefix: 'sale', concurrency: o.concurrency }));
    const serverEventLoopUtilization = round(performance.eventLoopUtilization(elu).utilization, 2);
    // The load generator's thread ends before the reference runs (closing again later is harmless).
    await load.close();
    const after = await batchStats(address);

    const statuses = [...out.statuses];
    const reserved = statuses.filter((s) => s === 201).length;
    const refused = statuses.filter((s) => s === 409).length;
    const other = o.buyers - reserved - refused;
    const latencies = [...out.latenciesMs].sort((a, b) => a - b);
    const latenciesOf = (status: number) => [...out.latenciesMs].filter((_, i) => statuses[i] === status).sort((a, b) => a - b);
    const [grantLatencies, soldOutLatencies] = [latenciesOf(201), latenciesOf(409)];
    const lastGrantMs = Math.max(0, ...[...out.finishedAtMs].filter((_, i) => statuses[i] === 201));

    const pool = app.pools.get('inventory') as Pool;
    const { rows } = await pool.query<{ available: number; reserved: number; total: number; lines: number; units: number }>(
      `SELECT s.available_quantity AS available, s.reserved_quantity AS reserved, s.total_quantity AS total,
              (SELECT count(*)::int FROM stock_reservations l WHERE l.stock_item_id = s.id) AS lines,
              (SELECT coalesce(sum(l.quantity), 0)::int FROM stock_reservations l WHERE l.stock_item_id = s.id) AS units
         FROM stock_items s WHERE s.variant_id = $1`,
      [sale.variantId],
    );
    const item = rows[0];
    if (!item) throw new Error('the sale item is gone');
    // Oversold: units promised beyond the stock, by the answers or by the database.
    const oversold = Math.max(0, reserved - o.stock, item.units - o.stock, -item.available);
    if (item.lines !== reserved) progress(`WARNING: ${reserved} buyers got 201 but the database holds ${item.lines} reservations`);
    if (other > 0) progress(`WARNING: ${other} answers were neither 201 nor 409: ${JSON.stringify(out.codes)}`);

    const batches = { batches: after.batches - before.batches, requests: 0, soldOutFromMemory: after.soldOutFromMemory - before.soldOutFromMemory };
    progress(`sale: ${reserved} reserved, ${refused} sold out (${batches.soldOutFromMemory} answered from memory), ${batches.batches} batch transactions; db ${JSON.stringify(item)}`);

    await app.stop();
    app = undefined;
    const target = dbs.targets.get('inventory');
    if (!target) throw new Error('no inventory database');
    const reference = await referencePhase(target.url, o);
    progress(`reference: ${JSON.stringify(reference)}`);

    const reservationsPerSecond = round((o.buyers * 1000) / out.elapsedMs, 0);
    return {
      buyers: o.buyers,
      stock: o.stock,
      reserved,
      oversold,
      reservationsPerSecond,
      p99Ms: round(percentile(latencies, 99)),
      referenceHotRowUpdatesPerSecond: reference.hotRow,
      referenceHotRowSamples: reference.hotRowSamples,
      variantId: sale.variantId,
      soldOut: refused,
      p50Ms: round(percentile(latencies, 50)),
      grantedP99Ms: round(percentile(grantLatencies, 99)),
      soldOutP99Ms: round(percentile(soldOutLatencies, 99)),
      maxMs: round(latencies[latencies.length - 1] ?? 0),
      elapsedMs: round(out.elapsedMs, 0),
      grantsPerSecond: round((reserved * 1000) / Math.max(lastGrantMs, 1), 0),
      batchTransactions: batches.batches,
      soldOutFromMemory: batches.soldOutFromMemory,
      referenceSameShapeAttemptsPerSecond: reference.sameShape,
      ratio: round(reservationsPerSecond / reference.hotRow, 2),
      serverEventLoopUtilization,
      concurrency: o.concurrency,
      server: dbs.server,
    };
  } finally {
    await buyers?.close().catch(() => undefined);
    await app?.stop().catch(() => undefined);
    await dbs.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}

export const scenario: Scenario = {
  description: 'one variant, little stock, many buyers reserving at once over HTTP, beside a bare hot-row UPDATE loop',
  flags: {
    buyers: 'buyers, one reservation attempt of one unit each (5000)',
    stock: 'units of the variant on sale (500)',
    concurrency: 'keep-alive HTTP connections, and connections of the reference loop (64)',
    'warmup-sales': 'unmeasured sales of the same shape on other variants first (2)',
    'pool-size': 'connections per domain database pool (DATABASE_POOL_SIZE_MAX, as the app: 5)',
  },
  run,
};
