import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InventoryApi } from '../../src/domains/inventory/index.ts';
import { createProductsModule } from '../../src/domains/products/index.ts';
import { resolveTargets } from '../../src/platform/db/databases.ts';
import { createPool } from '../../src/platform/db/pool.ts';
import { createLogger } from '../../src/platform/logger.ts';
import { newId } from '../../src/platform/ids.ts';
import { Metrics } from '../../src/platform/metrics.ts';
import { eventually } from '../support/eventually.ts';
import { type CatalogFixture, startCatalog, uniqueSku } from './support.ts';

let f: CatalogFixture;
let seller: { sellerId: string; token: string };

beforeAll(async () => {
  f = await startCatalog();
  seller = await f.sellerToken();
});

afterAll(async () => {
  await f?.close();
});

async function published(body: Record<string, unknown> = {}) {
  const p = await f.create(seller.token, body);
  const res = await f.t.request('POST', `/v1/seller/products/${p.id}/publish`, { token: seller.token });
  expect(res.statusCode, res.body).toBe(200);
  return res.json();
}

const get = (url: string, headers: Record<string, string> = {}) => f.t.request('GET', url, { headers });

/**
 * Reads a product page until inventory has reported every variant's stock: until then the page
 * changes (availability unknown, then 0), and so does its ETag.
 */
async function settledPage(productId: string) {
  return eventually(
    async () => {
      const res = await get(`/v1/products/${productId}`);
      expect(res.json().variants.every((v: { availability: { status: string } }) => v.availability.status !== 'unknown')).toBe(true);
      return res;
    },
    { timeoutMs: 20_000 },
  );
}

/**
 * Reads a product page until it is served from memory, once its stock is known (the publish's own
 * notification, or inventory's report, may drop the first copy once).
 */
async function cachedPage(productId: string) {
  return eventually(async () => {
    await settledPage(productId);
    const misses = f.products.cache.misses;
    const res = await get(`/v1/products/${productId}`);
    expect(f.products.cache.misses).toBe(misses);
    return res;
  });
}

describe('what buyers see', () => {
  it('is only published products: a draft and an unlisted product are 404', async () => {
    const p = await f.create(seller.token);
    expect((await get(`/v1/products/${p.id}`)).statusCode).toBe(404);
    await f.t.request('POST', `/v1/seller/products/${p.id}/publish`, { token: seller.token });
    const shown = await get(`/v1/products/${p.id}`);
    expect(shown.statusCode).toBe(200);
    expect(shown.json()).toMatchObject({ id: p.id, title: 'Pocket phone', variants: [{ currentPrices: [{ price: { amount: 49900 } }] }, expect.anything()] });
    expect(shown.json()).not.toHaveProperty('priceWindows');
    await f.t.request('POST', `/v1/seller/products/${p.id}/unlist`, { token: seller.token });
    expect((await get(`/v1/products/${p.id}`)).statusCode).toBe(404);
    const list = await get('/v1/products?limit=100');
    expect(list.json().items.map((i: { id: string }) => i.id)).not.toContain(p.id);
  });

  it('is one product however its id is written: an unlisted product is 404 in capitals too, not a cached page', async () => {
    const p = await f.create(seller.token);
    await f.t.request('POST', `/v1/seller/products/${p.id}/publish`, { token: seller.token });
    const upper = `/v1/products/${p.id.toUpperCase()}`;
    const shown = await get(upper);
    expect(shown.statusCode).toBe(200);
    expect(shown.json().id).toBe(p.id);
    await f.t.request('POST', `/v1/seller/products/${p.id}/unlist`, { token: seller.token });
    expect((await get(upper)).statusCode).toBe(404);
  });

  it('is 404 for an unknown product and 400 for an id that is not a UUID', async () => {
    expect((await get(`/v1/products/${newId()}`)).statusCode).toBe(404);
    expect((await get('/v1/products/not-a-uuid')).statusCode).toBe(400);
  });

  it('carries ETag and Cache-Control, and answers 304 to a current If-None-Match', async () => {
    const p = await published();
    const first = await settledPage(p.id);
    const etag = first.headers.etag as string;
    expect(etag).toMatch(/^"[A-Za-z0-9_-]+"$/);
    expect(first.headers['cache-control']).toBe('public, max-age=30');
    const again = await get(`/v1/products/${p.id}`, { 'if-none-match': etag });
    expect(again.statusCode).toBe(304);
    expect(again.body).toBe('');
    expect(again.headers.etag).toBe(etag);
    expect((await get(`/v1/products/${p.id}`, { 'if-none-match': '"other"' })).statusCode).toBe(200);
  });

  it('shortens max-age to the next price change', async () => {
    const p = await published();
    const from = new Date(f.clock.now().getTime() + 12_000).toISOString();
    await f.t.request('POST', `/v1/seller/products/${p.id}/prices`, { token: seller.token, body: { variantId: p.variants[0]!.id, price: { amount: 1, currency: 'USD' }, effectiveFrom: from } });
    expect((await get(`/v1/products/${p.id}`)).headers['cache-control']).toBe('public, max-age=12');
  });

  it('shows the new title right after an edit (the cached page is dropped), with a new ETag', async () => {
    const p = await published();
    const before = await cachedPage(p.id);
    const edit = await f.t.request('PATCH', `/v1/seller/products/${p.id}`, { token: seller.token, body: { version: p.version, title: 'Renamed phone' } });
    expect(edit.statusCode).toBe(200);
    const after = await get(`/v1/products/${p.id}`, { 'if-none-match': before.headers.etag as string });
    expect(after.statusCode).toBe(200);
    expect(after.json().title).toBe('Renamed phone');
    expect(after.headers.etag).not.toBe(before.headers.etag);
  });

  it('serves repeated reads from memory', async () => {
    const p = await published();
    await cachedPage(p.id);
    const misses = f.products.cache.misses;
    for (let i = 0; i < 5; i++) await get(`/v1/products/${p.id}`);
    expect(f.products.cache.misses).toBe(misses);
  });

  it("drops another process's cached page when the product changes (from the products events, at commit)", async () => {
    const p = await published();
    const config = f.t.app.config;
    const url = resolveTargets(config, config.databaseUrl).find((x) => x.domain === 'products')!.url;
    const pool = createPool(url, 2, 'other-process');
    const other = createProductsModule({ domain: 'products', pool, config, clock: f.clock, log: createLogger('silent'), tokens: f.t.app.tokens, metrics: new Metrics() });
    await other.start?.();
    try {
      const body = async () => JSON.parse((await other.cache.get(p.id))!.body);
      expect((await body()).title).toBe('Pocket phone');
      await eventually(async () => {
        await body();
        const misses = other.cache.misses;
        await body();
        expect(other.cache.misses).toBe(misses);
      });
      await f.t.request('PATCH', `/v1/seller/products/${p.id}`, { token: seller.token, body: { version: p.version, title: 'Seen everywhere' } });
      await eventually(async () => expect((await body()).title).toBe('Seen everywhere'), { timeoutMs: 5000 });
    } finally {
      await other.stop?.();
      await pool.end();
    }
  });

  it('shows availability from inventory, once inventory reports it', async () => {
    const p = await published();
    const first = (await get(`/v1/products/${p.id}`)).json().variants[0].availability;
    // Unknown until inventory reports; inventory may already have made the (empty) stock item from
    // the product's event by now, which it reports as 0.
    if (first.status === 'unknown') expect(first).toEqual({ status: 'unknown', available: null, asOf: null, maxPerBuyer: null });
    else expect(first).toMatchObject({ status: 'out_of_stock', available: 0 });
    const inventory = f.t.app.modules.find((m) => m.name === 'inventory') as unknown as { api: InventoryApi };
    await inventory.api.receiveStock(
      p.variants.map((v: { id: string; sku: string }, i: number) => ({ variantId: v.id, productId: p.id, sellerId: seller.sellerId, sku: v.sku, quantity: i === 0 ? 7 : 0 })),
    );
    await eventually(
      async () => {
        const res = await get(`/v1/products/${p.id}`);
        expect(res.json().variants.map((v: { availability: { status: string; available: number } }) => [v.availability.status, v.availability.available])).toEqual([
          ['in_stock', 7],
          ['out_of_stock', 0],
        ]);
      },
      { timeoutMs: 10_000 },
    );
  });

  it('follows reservations and releases, and is not sent the sales (a confirmation leaves the available units as they were)', async () => {
    const p = await published();
    const variant = p.variants[0] as { id: string; sku: string };
    const inventory = (f.t.app.modules.find((m) => m.name === 'inventory') as unknown as { api: InventoryApi }).api;
    await inventory.receiveStock([{ variantId: variant.id, productId: p.id, sellerId: seller.sellerId, sku: variant.sku, quantity: 7 }]);
    const available = async () => (await get(`/v1/products/${p.id}`)).json().variants[0].availability.available;
    await eventually(async () => expect(await available()).toBe(7), { timeoutMs: 10_000 });
    const hold = (quantity: number) => inventory.reserve({ idempotencyKey: newId(), ownerId: newId(), items: [{ variantId: variant.id, quantity }] });
    const sold = await hold(2);
    const returned = await hold(1);
    await eventually(async () => expect(await available()).toBe(4), { timeoutMs: 10_000 });
    await inventory.confirm(sold.id);
    await inventory.release(returned.id, 'changed my mind');
    await eventually(async () => expect(await available()).toBe(5), { timeoutMs: 10_000 });
    // The products' inbox got the levels each reservation left and the release, never the sale, nor
    // each reservation's own event (a flash sale's batch reports its level once).
    const { rows } = await f.t.app.pools
      .get('products')!
      .query<{ type: string }>(
        `SELECT event_type AS type FROM products_inbox_events WHERE envelope->'data'->'items' @> jsonb_build_array(jsonb_build_object('variantId', $1::text)) ORDER BY seq`,
        [variant.id],
      );
    expect(rows.map((r) => r.type).sort()).toEqual(['inventory.reservation_released.v1', 'inventory.stock_levels_changed.v1', 'inventory.stock_levels_changed.v1']);
  });

  it("takes a burst of reservations as a few levels, while each reservation's own event goes to no inbox (written published)", async () => {
    const p = await published();
    const variant = p.variants[0] as { id: string; sku: string };
    const inventory = (f.t.app.modules.find((m) => m.name === 'inventory') as unknown as { api: InventoryApi }).api;
    await inventory.receiveStock([{ variantId: variant.id, productId: p.id, sellerId: seller.sellerId, sku: variant.sku, quantity: 100 }]);
    const held = await Promise.all(
      Array.from({ length: 40 }, () => inventory.reserve({ idempotencyKey: newId(), ownerId: newId(), items: [{ variantId: variant.id, quantity: 1 }] })),
    );
    await eventually(async () => expect((await get(`/v1/products/${p.id}`)).json().variants[0].availability.available).toBe(60), { timeoutMs: 10_000 });
    const inventoryDb = f.t.app.pools.get('inventory')!;
    const { rows: reserved } = await inventoryDb.query<{ written_published: boolean }>(
      `SELECT published_at = created_at AS written_published FROM inventory_outbox_events WHERE event_type = 'inventory.stock_reserved.v1' AND aggregate_id = ANY($1::uuid[])`,
      [held.map((r) => r.id)],
    );
    expect(reserved).toHaveLength(40);
    expect(reserved.every((r) => r.written_published)).toBe(true);
    const { rows: levels } = await f.t.app.pools
      .get('products')!
      .query<{ n: number }>(
        `SELECT count(*)::int AS n FROM products_inbox_events WHERE event_type = 'inventory.stock_levels_changed.v1' AND envelope->'data'->'items' @> jsonb_build_array(jsonb_build_object('variantId', $1::text))`,
        [variant.id],
      );
    // One per batch transaction: fewer than the reservations (the first buyer's batch runs alone).
    expect(levels[0]!.n).toBeGreaterThanOrEqual(1);
    expect(levels[0]!.n).toBeLessThan(40);
  });
});

describe('the published list', () => {
  it('pages newest first through every product exactly once, ties broken by id', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) ids.push((await published({ categoryId: f.categories.paging, title: `Same instant ${i}` })).id);
    f.clock.advance(1);
    for (let i = 0; i < 5; i++) {
      ids.push((await published({ categoryId: f.categories.paging, title: `Later ${i}` })).id);
      f.clock.advance(1);
    }
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res = await get(`/v1/products?categoryId=${f.categories.paging}&limit=5${cursor ? `&cursor=${cursor}` : ''}`);
      expect(res.statusCode, res.body).toBe(200);
      const page: { items: { id: string }[]; nextCursor: string | null } = res.json();
      expect(page.items.length).toBeLessThanOrEqual(5);
      seen.push(...page.items.map((i) => i.id));
      cursor = page.nextCursor;
      pages++;
    } while (cursor && pages < 10);
    expect(pages).toBe(3);
    expect(new Set(seen).size).toBe(seen.length);
    const expected = [...ids.slice(7).reverse(), ...ids.slice(0, 7).sort().reverse()];
    expect(seen).toEqual(expected);
  });

  it('filters by category including its descendants', async () => {
    const phone = await published({ categoryId: f.categories.smartphones, title: 'Deep phone' });
    const shoe = await published({ categoryId: f.categories.shoes, title: 'Shoe' });
    const idsUnder = async (slug: string) => (await get(`/v1/products?limit=100&categoryId=${f.categories[slug]}`)).json().items.map((i: { id: string }) => i.id);
    for (const slug of ['electronics', 'phones', 'smartphones']) expect(await idsUnder(slug)).toContain(phone.id);
    for (const slug of ['laptops', 'fashion', 'shoes']) expect(await idsUnder(slug)).not.toContain(phone.id);
    expect(await idsUnder('fashion')).toContain(shoe.id);
  });

  it('shows a list item with its image and lowest current price, with ETag and Cache-Control', async () => {
    const p = await published({ categoryId: f.categories.laptops });
    const res = await get(`/v1/products?limit=1&categoryId=${f.categories.laptops}`);
    expect(res.json().items[0]).toMatchObject({ id: p.id, sellerId: seller.sellerId, imageUrl: 'https://img.bazaar.test/p/1.jpg', priceFrom: { amount: 49900, currency: 'USD' } });
    expect(res.headers['cache-control']).toBe('public, max-age=10');
    expect((await get(`/v1/products?limit=1&categoryId=${f.categories.laptops}`, { 'if-none-match': res.headers.etag as string })).statusCode).toBe(304);
  });

  it('shows the lowest price in the list currency, not a smaller number in another currency', async () => {
    const p = await published({ categoryId: f.categories.laptops });
    const priced = await f.t.request('POST', `/v1/seller/products/${p.id}/prices`, {
      token: seller.token,
      body: { variantId: p.variants[0].id, price: { amount: 3000, currency: 'JPY' } },
    });
    expect(priced.statusCode, priced.body).toBe(201);
    const item = (await get(`/v1/products?limit=100&categoryId=${f.categories.laptops}`)).json().items.find((i: { id: string }) => i.id === p.id);
    expect(item.priceFrom).toEqual({ amount: 49900, currency: 'USD' });
  });

  it("shows the price in the product's currency when its variants are listed in different currencies, as search does", async () => {
    const p = await published({
      categoryId: f.categories.laptops,
      variants: [
        { sku: uniqueSku('V'), attributes: { colour: 'red' }, price: { amount: 5000, currency: 'USD' } },
        { sku: uniqueSku('V'), attributes: { colour: 'blue' }, price: { amount: 3000, currency: 'JPY' } },
      ],
    });
    const item = (await get(`/v1/products?limit=100&categoryId=${f.categories.laptops}`)).json().items.find((i: { id: string }) => i.id === p.id);
    expect(item.priceFrom).toEqual({ amount: 5000, currency: 'USD' });
  });

  it('refuses a forged cursor, an unknown parameter and a limit over 100', async () => {
    expect((await get('/v1/products?cursor=bm90LWpzb24')).statusCode).toBe(400);
    expect((await get(`/v1/products?cursor=${Buffer.from(JSON.stringify({ createdAt: 'x', id: 'y' })).toString('base64url')}`)).statusCode).toBe(400);
    // Times JavaScript parses but PostgreSQL does not: a 400 for the cursor, never a 500 from the query.
    for (const createdAt of ['1', 'March 7', '+275760-09-13T00:00:00.000Z', '2026-02-30T00:00:00.000Z']) {
      const forged = Buffer.from(JSON.stringify({ createdAt, id: '01900000-0000-7000-8000-000000000000' })).toString('base64url');
      const res = await get(`/v1/products?cursor=${forged}`);
      expect(res.json(), createdAt).toMatchObject({ status: 400, code: 'INVALID_CURSOR' });
    }
    expect((await get('/v1/products?sort=price')).statusCode).toBe(400);
    expect((await get('/v1/products?limit=101')).statusCode).toBe(400);
  });
});

describe('the category tree', () => {
  it('nests the categories under their parents, with ETag and Cache-Control', async () => {
    const res = await get('/v1/categories');
    expect(res.statusCode).toBe(200);
    const electronics = res.json().items.find((c: { slug: string }) => c.slug === 'electronics');
    expect(electronics.children.map((c: { slug: string }) => c.slug)).toEqual(['phones', 'laptops']);
    expect(electronics.children[0].children[0]).toMatchObject({ slug: 'smartphones', children: [] });
    expect(res.headers['cache-control']).toMatch(/^public, max-age=\d+$/);
    expect((await get('/v1/categories', { 'if-none-match': res.headers.etag as string })).statusCode).toBe(304);
  });
});

describe('the API description', () => {
  it('describes every catalog route', async () => {
    const res = await get('/openapi.json');
    expect(res.statusCode).toBe(200);
    const paths = Object.keys(res.json().paths);
    for (const path of [
      '/v1/categories',
      '/v1/products',
      '/v1/products/{productId}',
      '/v1/seller/products',
      '/v1/seller/products/{productId}',
      '/v1/seller/products/{productId}/prices',
      '/v1/seller/products/{productId}/publish',
      '/v1/seller/products/{productId}/unlist',
    ]) {
      expect(paths).toContain(path);
    }
  });
});

