import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Marketplace } from '../app.ts';
import type { InventoryApi, StockReceipt } from '../domains/inventory/index.ts';
import { IMPORT_BATCH_MAX, type ImportCategory, type ImportProduct, type ProductsApi } from '../domains/products/index.ts';
import type { Clock } from '../platform/clock.ts';
import type { DomainName } from '../platform/domains.ts';
import { newId } from '../platform/ids.ts';
import type { DomainModule } from '../platform/module.ts';
import { departmentOfRootName, generateCategories, generateProduct, randomSource } from './catalog-generator.ts';
import { SEED_PRODUCTS_MAX, SEED_SELLERS_MAX } from './limits.ts';
import { type DemoAccounts, type DemoLogin, accountsOverHttp, ensureDemoLogins } from './demo-accounts.ts';

/**
 * Demo data, composed from the domains' public APIs only: the products domain imports the catalog
 * (and writes its events in bulk), the inventory domain receives the stock, and demo logins are
 * registered through the public HTTP API.
 */

export interface SeedDeps {
  products: ProductsApi;
  /** Without it no stock is received (reported in the result). */
  inventory?: Pick<InventoryApi, 'receiveStock'>;
  /** Without it no demo logins are made (reported in the result). */
  accounts?: DemoAccounts;
  clock: Clock;
}

export interface SeedOptions {
  products: number;
  sellers: number;
  /** PRNG seed: the same seed gives the same shape of catalog (ids differ). */
  seed?: number;
  /** How many of the sellers get a demo login (seller1@bazaar.test …); two buyers come with them. */
  demoSellers?: number;
  batchSize?: number;
  log?: (line: string) => void;
  /**
   * Called with each batch's stock receipts (and the reference they are received under) before the
   * batch's products are imported: a caller that keeps them can finish an interrupted seed's stock.
   */
  beforeImport?: (pending: PendingReceipts) => Promise<void>;
}

/** One batch's stock, received under `reference`: receiving it again adds nothing. */
export interface PendingReceipts {
  reference: string;
  receipts: StockReceipt[];
}

export interface SeedResult {
  categories: { created: number; total: number };
  sellers: number;
  products: number;
  published: number;
  variants: number;
  priceWindows: number;
  events: number;
  stock: { variants: number; units: number } | 'skipped: no inventory API';
  logins: DemoLogin[] | 'skipped: no accounts';
  seconds: { total: number; catalog: number; stock: number };
}

export { SEED_PRODUCTS_MAX, SEED_SELLERS_MAX };
const BATCH_SIZE = 2500;
/** Concurrent import transactions: two keep PostgreSQL busy on a small machine without thrashing it. */
const IMPORT_WORKERS = 2;
const STOCK_BACKLOG_MAX = 4;

async function categoriesFor(deps: SeedDeps): Promise<{ leaves: { id: string; department: number }[]; created: number; total: number }> {
  const existing = await deps.products.listCategories();
  if (existing.length === 0) {
    const generated = generateCategories();
    await deps.products.importCategories(generated.categories);
    return { leaves: generated.leaves, created: generated.categories.length, total: generated.categories.length };
  }
  const byId = new Map(existing.map((c) => [c.id, c]));
  const parents = new Set(existing.map((c) => c.parentId).filter((id): id is string => id !== null));
  const rootOf = (c: ImportCategory): ImportCategory => {
    let at = c;
    for (let depth = 0; at.parentId && depth < 10; depth++) at = byId.get(at.parentId) ?? at;
    return at;
  };
  const leaves = existing.filter((c) => !parents.has(c.id)).map((c) => ({ id: c.id, department: departmentOfRootName(rootOf(c).name) }));
  return { leaves, created: 0, total: existing.length };
}

/** Seeds N products over M sellers (and the category tree when there is none); safe to run again. */
export async function seedCatalog(deps: SeedDeps, options: SeedOptions): Promise<SeedResult> {
  const log = options.log ?? (() => undefined);
  if (!Number.isInteger(options.products) || options.products < 0 || options.products > SEED_PRODUCTS_MAX) throw new RangeError(`products must be 0..${SEED_PRODUCTS_MAX}`);
  if (!Number.isInteger(options.sellers) || options.sellers < 1 || options.sellers > SEED_SELLERS_MAX) throw new RangeError(`sellers must be 1..${SEED_SELLERS_MAX}`);
  const started = performance.now();
  const random = randomSource(options.seed ?? 20260301);
  const now = deps.clock.now();

  const logins = deps.accounts ? await ensureDemoLogins(deps.accounts, Math.min(options.demoSellers ?? 3, options.sellers)) : undefined;
  const demoSellerIds = logins?.filter((l) => l.role === 'seller').map((l) => l.userId) ?? [];
  const sellers = [...demoSellerIds, ...Array.from({ length: options.sellers - demoSellerIds.length }, () => newId())];
  const categories = await categoriesFor(deps);
  if (categories.leaves.length === 0) throw new Error('the category tree has no leaf to file products under');
  log(`categories: ${categories.created} created, ${categories.total} in all; ${sellers.length} sellers`);

  const runTag = `S${randomBytes(3).toString('hex').toUpperCase()}`;
  const batchSize = Math.max(1, Math.min(options.batchSize ?? BATCH_SIZE, IMPORT_BATCH_MAX));
  const totals = { products: 0, published: 0, variants: 0, priceWindows: 0, events: 0, stockVariants: 0, units: 0 };
  let catalogMs = 0;
  let stockMs = 0;

  const generate = (start: number, count: number) => {
    const batch: ImportProduct[] = [];
    const receipts: StockReceipt[] = [];
    for (let i = 0; i < count; i++) {
      const serial = start + i;
      const sellerId = sellers[serial % sellers.length] as string;
      const { product, stock } = generateProduct({ random, now, sellerId, leaf: categories.leaves[Math.floor(random() * categories.leaves.length)]!, serial, runTag });
      batch.push(product);
      for (const v of product.variants) receipts.push({ variantId: v.id, productId: product.id, sellerId, sku: v.sku, quantity: stock.get(v.id) ?? 0 });
      totals.variants += product.variants.length;
      totals.priceWindows += product.prices.length;
      if (product.status === 'published') totals.published++;
    }
    return { batch, receipts };
  };

  // Products go in through IMPORT_WORKERS concurrent transactions; the stock of each imported batch is
  // received behind them, one batch at a time (another database), with a bounded backlog.
  let stock: Promise<void> = Promise.resolve();
  let stockBacklog = 0;
  let stockError: unknown;
  const receive = ({ receipts, reference }: PendingReceipts) => {
    const inventory = deps.inventory;
    if (!inventory) return;
    stockBacklog++;
    stock = stock.then(async () => {
      try {
        if (stockError) return;
        const t1 = performance.now();
        await inventory.receiveStock(receipts, { reference });
        stockMs += performance.now() - t1;
        totals.stockVariants += receipts.length;
        totals.units += receipts.reduce((sum, r) => sum + r.quantity, 0);
      } catch (error) {
        stockError ??= error;
      } finally {
        stockBacklog--;
      }
    });
  };
  let next = 0;
  const worker = async () => {
    while (next < options.products) {
      const start = next;
      const count = Math.min(batchSize, options.products - start);
      next += count;
      const { batch, receipts } = generate(start, count);
      const pending = { reference: newId(), receipts };
      if (deps.inventory) await options.beforeImport?.(pending);
      const t0 = performance.now();
      const imported = await deps.products.importProducts(batch, { actorId: sellers[0] as string });
      catalogMs += performance.now() - t0;
      totals.products += imported.products;
      totals.events += imported.events;
      receive(pending);
      log(`products: ${totals.products}/${options.products}`);
      if (stockBacklog > STOCK_BACKLOG_MAX) await stock;
    }
  };
  await Promise.all(Array.from({ length: IMPORT_WORKERS }, worker));
  await stock;
  if (stockError) throw stockError;
  if (totals.products > 0) await deps.products.finishImport();
  return {
    categories: { created: categories.created, total: categories.total },
    sellers: sellers.length,
    products: totals.products,
    published: totals.published,
    variants: totals.variants,
    priceWindows: totals.priceWindows,
    events: totals.events,
    stock: deps.inventory ? { variants: totals.stockVariants, units: totals.units } : 'skipped: no inventory API',
    logins: logins ?? 'skipped: no accounts',
    seconds: { total: (performance.now() - started) / 1000, catalog: catalogMs / 1000, stock: stockMs / 1000 },
  };
}

function apiOf<T>(modules: readonly DomainModule[], name: DomainName): T | undefined {
  return (modules.find((m) => m.name === name) as (DomainModule & { api?: T }) | undefined)?.api;
}

/** The seed's dependencies taken from a composed marketplace (its modules' public APIs and HTTP). */
export function seedDepsOf(app: Marketplace): SeedDeps {
  const products = apiOf<ProductsApi>(app.modules, 'products');
  if (!products) throw new Error('the products domain is not part of this marketplace');
  const inventory = apiOf<Pick<InventoryApi, 'receiveStock'>>(app.modules, 'inventory');
  const hasAccounts = app.modules.some((m) => m.name === 'accounts');
  return {
    products,
    ...(inventory?.receiveStock ? { inventory } : {}),
    ...(hasAccounts ? { accounts: accountsOverHttp(app.http) } : {}),
    clock: app.clock,
  };
}

/** Every demo seller is a login: a seller without an account has no address its order notifications can go to. */
export const DEMO_CATALOG = { products: 200, sellers: 5, demoSellers: 5 } as const;

/** Where a demo seed in progress keeps its stock receipts, until they are all received. */
export function pendingDemoStockFile(dataDir: string): string {
  return path.join(dataDir, 'demo-seed-pending.json');
}

async function readPending(file: string): Promise<PendingReceipts[] | undefined> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as PendingReceipts[];
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/**
 * `npm start` on a fresh install: when SEED_DEMO is on (the default) and the catalog is empty,
 * seeds a small demo catalog with demo logins. Returns undefined when it did nothing.
 *
 * The products and their stock live in two databases, so a start stopped in between (Ctrl-C, a
 * crash) would leave the demo catalog without stock, and the next start, finding the catalog not
 * empty, would leave it so. Each batch's stock receipts are written to DATA_DIR before its products
 * are imported and the file is removed once all are received: a start that finds the file finishes
 * the stock (receipts carry a reference, so what was received already is not received twice).
 */
export async function seedDemo(app: Marketplace, options: Partial<SeedOptions> = {}, deps: SeedDeps = seedDepsOf(app)): Promise<SeedResult | undefined> {
  if (!app.config.seedDemo) return undefined;
  // Processes of one marketplace started at once would each find the catalog empty and each seed
  // one: the first to take this lock (on the products database, so across processes) seeds, the
  // others wait and then find the catalog made. The lock ends with its session if a process dies.
  // The lock is tried, not waited for, and the connection given back between tries: a process
  // told to stop meanwhile ends its pool (the next try fails) instead of waiting on the lock.
  const products = app.pools.get('products');
  if (!products) throw new Error('no products database');
  for (;;) {
    const lock = await products.connect();
    let locked = false;
    try {
      locked = (await lock.query<{ locked: boolean }>('SELECT pg_try_advisory_lock(hashtext($1)) AS locked', [DEMO_SEED_LOCK])).rows[0]?.locked === true;
      if (locked) return await seedDemoAlone(app, options, deps);
    } finally {
      if (locked) await lock.query('SELECT pg_advisory_unlock(hashtext($1))', [DEMO_SEED_LOCK]).catch(() => undefined);
      lock.release();
    }
    await new Promise((resolve) => setTimeout(resolve, DEMO_SEED_LOCK_RETRY_MS));
  }
}

const DEMO_SEED_LOCK = 'bazaar.seed_demo';
const DEMO_SEED_LOCK_RETRY_MS = 250;

async function seedDemoAlone(app: Marketplace, options: Partial<SeedOptions>, deps: SeedDeps): Promise<SeedResult | undefined> {
  const file = pendingDemoStockFile(app.config.dataDir);
  const counts = await deps.products.catalogCounts();
  if (counts.products > 0) {
    const pending = await readPending(file);
    if (pending && deps.inventory) {
      for (const batch of pending) await deps.inventory.receiveStock(batch.receipts, { reference: batch.reference });
      await rm(file, { force: true });
      options.log?.(`finished the stock of an interrupted demo seed: ${pending.reduce((n, b) => n + b.receipts.length, 0)} variants`);
    }
    return undefined;
  }
  const written: PendingReceipts[] = [];
  const result = await seedCatalog(deps, {
    ...DEMO_CATALOG,
    ...options,
    beforeImport: async (batch) => {
      written.push(batch);
      await mkdir(app.config.dataDir, { recursive: true });
      await writeFile(file, JSON.stringify(written), { mode: 0o600 });
    },
  });
  await rm(file, { force: true });
  return result;
}

export type { DemoLogin } from './demo-accounts.ts';
export { DEMO_PASSWORD } from './demo-accounts.ts';
export { type SimpleProduct, importSimpleProduct } from './simple-product.ts';
