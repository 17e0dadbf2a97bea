import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertContract } from '../../src/platform/messaging/outbox.ts';
import type { Pool } from '../../src/platform/db/pool.ts';
import { DEMO_PASSWORD, type PendingReceipts, type SeedResult, pendingDemoStockFile, seedCatalog, seedDemo, seedDepsOf } from '../../src/seed/index.ts';
import { type TestApp, startTestApp } from '../support/app.ts';

let t: TestApp;
let db: Pool;
let result: SeedResult;

beforeAll(async () => {
  t = await startTestApp({}, { runMessaging: false });
  db = t.app.pools.get('products') as Pool;
  result = await seedCatalog(seedDepsOf(t.app), { products: 300, sellers: 7 });
});

afterAll(async () => {
  await t?.close();
});

async function count(sql: string): Promise<number> {
  const { rows } = await db.query<{ n: number }>(sql);
  return rows[0]!.n;
}

describe('seeding a small catalog', () => {
  it('makes the counts it reports', async () => {
    expect(result).toMatchObject({ products: 300, sellers: 7, categories: { created: 126, total: 126 } });
    expect(await count('SELECT count(*)::int AS n FROM products')).toBe(300);
    expect(await count('SELECT count(DISTINCT seller_id)::int AS n FROM products')).toBe(7);
    expect(await count('SELECT count(*)::int AS n FROM categories')).toBe(126);
    expect(await count('SELECT count(*)::int AS n FROM categories WHERE parent_id IS NULL')).toBe(6);
    expect(await count('SELECT count(*)::int AS n FROM product_variants')).toBe(result.variants);
    expect(await count('SELECT count(*)::int AS n FROM product_pricing')).toBe(result.priceWindows);
    expect(await count(`SELECT count(*)::int AS n FROM products WHERE status = 'published'`)).toBe(result.published);
    expect(await count('SELECT count(*)::int AS n FROM product_publications')).toBe(result.published);
    expect(result.published).toBeGreaterThan(250);
  });

  it('gives every product 1–4 variants and images, attributes, and a price in effect now for every variant', async () => {
    const bad = await count(`
      SELECT count(*)::int AS n FROM products p
       WHERE (SELECT count(*) FROM product_variants v WHERE v.product_id = p.id) NOT BETWEEN 1 AND 4
          OR (SELECT count(*) FROM product_images i WHERE i.product_id = p.id) NOT BETWEEN 1 AND 4
          OR NOT EXISTS (SELECT 1 FROM product_attributes a WHERE a.product_id = p.id AND a.searchable)
          OR EXISTS (SELECT 1 FROM product_variants v WHERE v.product_id = p.id AND NOT EXISTS (
               SELECT 1 FROM product_pricing pr WHERE pr.variant_id = v.id AND pr.effective_from <= now() AND (pr.effective_to IS NULL OR pr.effective_to > now())))`);
    expect(bad).toBe(0);
    expect(await count('SELECT count(DISTINCT variant_id)::int AS n FROM product_pricing WHERE discount > 0 AND effective_from > now()')).toBeGreaterThan(0);
  });

  it('files products only under leaves of a three-level tree', async () => {
    expect(await count('SELECT count(*)::int AS n FROM products p WHERE EXISTS (SELECT 1 FROM categories c WHERE c.parent_id = p.category_id)')).toBe(0);
    const deep = await count(`SELECT count(*)::int AS n FROM categories c JOIN categories p ON p.id = c.parent_id JOIN categories r ON r.id = p.parent_id WHERE r.parent_id IS NULL`);
    expect(deep).toBe(96);
  });

  it('writes a valid product_created event for every product, product_published for every published one, and category_created for every category', async () => {
    const { rows } = await db.query<{ event_type: string; aggregate_id: string; payload: unknown }>('SELECT event_type, aggregate_id, payload FROM products_outbox_events ORDER BY seq');
    expect(rows.filter((r) => r.event_type === 'products.product_created.v1')).toHaveLength(300);
    expect(rows.filter((r) => r.event_type === 'products.product_published.v1')).toHaveLength(result.published);
    expect(rows.filter((r) => r.event_type === 'products.category_created.v1')).toHaveLength(result.categories.created);
    expect(result.categories.created).toBeGreaterThan(0);
    expect(rows).toHaveLength(result.events + result.categories.created);
    for (const r of rows) expect(() => assertContract(r.event_type, r.payload)).not.toThrow();
    const published = rows.find((r) => r.event_type === 'products.product_published.v1')!.payload as { status: string; version: number; variants: unknown[]; prices: unknown[] };
    expect(published).toMatchObject({ status: 'published', version: 2 });
    expect(published.variants.length).toBeGreaterThan(0);
    expect(published.prices.length).toBeGreaterThanOrEqual(published.variants.length);
  });

  it('receives stock for every variant through the inventory API', () => {
    expect(result.stock).toEqual({ variants: result.variants, units: expect.any(Number) });
    expect((result.stock as { units: number }).units).toBeGreaterThan(0);
  });

  it('makes demo logins that own seeded products', async () => {
    expect(result.logins).toEqual([
      expect.objectContaining({ email: 'seller1@bazaar.test', role: 'seller', password: DEMO_PASSWORD }),
      expect.objectContaining({ email: 'seller2@bazaar.test', role: 'seller' }),
      expect.objectContaining({ email: 'seller3@bazaar.test', role: 'seller' }),
      expect.objectContaining({ email: 'buyer1@bazaar.test', role: 'buyer' }),
      expect.objectContaining({ email: 'buyer2@bazaar.test', role: 'buyer' }),
    ]);
    const login = await t.request('POST', '/v1/auth/login', { body: { email: 'seller1@bazaar.test', password: DEMO_PASSWORD } });
    expect(login.statusCode).toBe(200);
    const own = await t.request('GET', '/v1/seller/products?limit=5', { token: login.json().accessToken });
    expect(own.json().items).toHaveLength(5);
  });

  it('serves a seeded product to buyers', async () => {
    const list = await t.request('GET', '/v1/products?limit=1');
    const [item] = list.json().items;
    const page = await t.request('GET', `/v1/products/${item.id}`);
    expect(page.statusCode).toBe(200);
    expect(page.json().variants[0].currentPrices).toHaveLength(1);
  });

  it('runs again on the same catalog, reusing the category tree and the demo logins', async () => {
    const again = await seedCatalog(seedDepsOf(t.app), { products: 20, sellers: 4 });
    expect(again).toMatchObject({ products: 20, categories: { created: 0, total: 126 } });
    expect((again.logins as { userId: string }[])[0]?.userId).toBe((result.logins as { userId: string }[])[0]?.userId);
    expect(await count('SELECT count(*)::int AS n FROM products')).toBe(320);
  });

  it('leaves a catalog that is not empty alone on start (seedDemo)', async () => {
    expect(await seedDemo({ ...t.app, config: { ...t.app.config, seedDemo: true } })).toBeUndefined();
  });

  it('schedules sales as a seller would: withdrawing one before it starts leaves the regular price running, with no gap', async () => {
    const { rows } = await db.query<{ id: string; product_id: string; variant_id: string; seller_id: string; effective_to: Date }>(
      `SELECT pr.id, pr.product_id, pr.variant_id, p.seller_id, pr.effective_to FROM product_pricing pr JOIN products p ON p.id = pr.product_id
        WHERE pr.discount > 0 AND pr.effective_from > now() ORDER BY pr.id LIMIT 1`,
    );
    const sale = rows[0]!;
    const seller = (await t.app.tokens.sign({ userId: sale.seller_id, roles: ['seller'] })).token;
    const withdrawn = await t.request('DELETE', `/v1/seller/products/${sale.product_id}/prices/${sale.id}`, { token: seller });
    expect(withdrawn.statusCode, withdrawn.body).toBe(200);
    expect(withdrawn.json().extendedPriceId).toEqual(expect.any(String));
    // Regular price until the sale's end, then the regular price that followed it: one price at every instant.
    const { rows: windows } = await db.query<{ from: Date; to: Date | null; discount: string }>(
      'SELECT effective_from AS "from", effective_to AS "to", discount FROM product_pricing WHERE variant_id = $1 ORDER BY effective_from',
      [sale.variant_id],
    );
    expect(windows.map((w) => Number(w.discount))).toEqual([0, 0]);
    expect(windows[0]!.to).toEqual(sale.effective_to);
    expect(windows[1]).toMatchObject({ from: sale.effective_to, to: null });
  });
});

describe('seeding on start (seedDemo)', () => {
  let started: TestApp;
  let dataDir: string;
  let fresh: { app: TestApp['app'] };

  beforeAll(async () => {
    started = await startTestApp({ SEED_DEMO: 'true' }, { runMessaging: false });
    // Its own DATA_DIR (the seed keeps its pending stock there), not the working directory's.
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'bazaar-seed-'));
    fresh = { app: { ...started.app, config: { ...started.app.config, dataDir } } };
  });

  afterAll(async () => {
    await started?.close();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('does nothing when SEED_DEMO is off', async () => {
    expect(await seedDemo({ ...fresh.app, config: { ...fresh.app.config, seedDemo: false } })).toBeUndefined();
    expect(await seedDepsOf(fresh.app).products.catalogCounts()).toEqual({ products: 0, categories: 0 });
  });

  it('seeds a small catalog with demo logins on an empty catalog once, also when two processes start at once, and nothing on the next start', async () => {
    // Two at once (found by a helper: two processes started together each seeded a catalog).
    const both = await Promise.all([seedDemo(fresh.app, { products: 12 }), seedDemo(fresh.app, { products: 12 })]);
    expect(both.filter((r) => r === undefined)).toHaveLength(1);
    const first = both.find((r) => r !== undefined);
    expect(first).toMatchObject({ products: 12, categories: { created: 126 } });
    // Five sellers and two buyers, every seller of the demo catalog a login (notifications of its
    // orders need the seller's account).
    expect(first?.logins).toHaveLength(7);
    const { rows } = await fresh.app.pools.get('products')!.query<{ seller_id: string }>('SELECT DISTINCT seller_id FROM products');
    const logins = first?.logins;
    if (!Array.isArray(logins)) throw new Error('no demo logins were made');
    const sellerLogins = logins.filter((l) => l.role === 'seller').map((l) => l.userId);
    expect(rows.map((r) => r.seller_id).sort()).toEqual([...sellerLogins].sort());
    expect(await seedDemo(fresh.app)).toBeUndefined();
    expect((await seedDepsOf(fresh.app).products.catalogCounts()).products).toBe(12);
    expect(existsSync(pendingDemoStockFile(dataDir))).toBe(false);
  });
});


describe('seeding again within the hour (registrations are limited per address, accepted or not)', () => {
  let limited: TestApp;

  beforeAll(async () => {
    limited = await startTestApp({ REGISTRATIONS_PER_ADDRESS_PER_HOUR: '8' }, { runMessaging: false });
  });

  afterAll(async () => {
    await limited?.close();
  });

  it('signs the existing demo logins in instead of registering them again', async () => {
    // Five logins a run (three sellers, two buyers) against eight registrations an hour: the second
    // run registered them again (each a 409) and was refused with 429.
    const first = await seedCatalog(seedDepsOf(limited.app), { products: 2, sellers: 3 });
    for (let run = 0; run < 3; run++) {
      const again = await seedCatalog(seedDepsOf(limited.app), { products: 1, sellers: 3 });
      expect(again.logins).toEqual(first.logins);
    }
    // Registration is still limited: the seed used five of the address's eight.
    const statuses = [];
    for (let i = 0; i < 4; i++) {
      const r = await limited.request('POST', '/v1/auth/register', { body: { email: `late${i}@bazaar.test`, password: DEMO_PASSWORD, role: 'buyer' } });
      statuses.push(r.statusCode);
    }
    expect(statuses).toEqual([201, 201, 201, 429]);
  });
});

describe('seeding with the smallest pool (found by a helper: the products cache held one of two connections for good, and the seed starved)', () => {
  let small: TestApp;
  let dataDir: string;

  beforeAll(async () => {
    small = await startTestApp({ SEED_DEMO: 'true', DATABASE_POOL_SIZE_MAX: '2' });
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'bazaar-seed-'));
  });

  afterAll(async () => {
    await small?.close();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('seeds the demo catalog on two connections per database, and the catalog then answers', async () => {
    const app = { ...small.app, config: { ...small.app.config, dataDir } };
    expect(await seedDemo(app, { products: 6 })).toMatchObject({ products: 6 });
    const list = await small.request('GET', '/v1/products?limit=10');
    expect(list.statusCode, list.body).toBe(200);
    expect(list.json().items.length).toBeGreaterThan(0);
  });
});

describe('a demo seed stopped between the products and their stock', () => {
  let fresh: TestApp;
  let dataDir: string;
  let app: TestApp['app'];

  beforeAll(async () => {
    fresh = await startTestApp({ SEED_DEMO: 'true' }, { runMessaging: false });
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'bazaar-seed-'));
    app = { ...fresh.app, config: { ...fresh.app.config, dataDir } };
  });

  afterAll(async () => {
    await fresh?.close();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  async function stock(): Promise<{ items: number; units: number; movements: number }> {
    const inventory = app.pools.get('inventory') as Pool;
    const { rows } = await inventory.query<{ items: number; units: number; movements: number }>(
      `SELECT (SELECT count(*)::int FROM stock_items) AS items, (SELECT coalesce(sum(total_quantity), 0)::int FROM stock_items) AS units,
              (SELECT count(*)::int FROM stock_movements) AS movements`,
    );
    return rows[0]!;
  }

  it('gets its stock on the next start, once, however often that start is repeated', async () => {
    // The process stops after the products' commit, before the stock is received.
    const stopped = { ...seedDepsOf(app), inventory: { receiveStock: async () => Promise.reject(new Error('the process stopped')) } };
    await expect(seedDemo(app, { products: 12 }, stopped)).rejects.toThrow('the process stopped');
    expect((await seedDepsOf(app).products.catalogCounts()).products).toBe(12);
    expect(await stock()).toEqual({ items: 0, units: 0, movements: 0 });
    const file = pendingDemoStockFile(dataDir);
    const pending = JSON.parse(await readFile(file, 'utf8')) as PendingReceipts[];
    const variants = pending.flatMap((b) => b.receipts);
    const units = variants.reduce((n, r) => n + r.quantity, 0);
    // One movement per receipt of some units (a variant seeded out of stock has its item and no movement).
    const movements = variants.filter((r) => r.quantity > 0).length;
    expect(variants.length).toBeGreaterThanOrEqual(12);

    // The next start: the catalog is not empty, so nothing is seeded, but the stock is finished.
    expect(await seedDemo(app)).toBeUndefined();
    expect(await stock()).toEqual({ items: variants.length, units, movements });
    expect(existsSync(file)).toBe(false);

    // Stopped again after receiving but before the file was removed: receiving again adds nothing.
    await writeFile(file, JSON.stringify(pending));
    expect(await seedDemo(app)).toBeUndefined();
    expect(await stock()).toEqual({ items: variants.length, units, movements });
    expect(existsSync(file)).toBe(false);
    expect((await seedDepsOf(app).products.catalogCounts()).products).toBe(12);
  });
});
