import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProductSnapshot } from '../../src/contracts/products.ts';
import { sellerDashboardSubscription } from '../../src/domains/search/dashboard-projection.ts';
import { pathFrom, productSearchSubscription } from '../../src/domains/search/product-projection.ts';
import { repriceDue } from '../../src/domains/search/repricing.ts';
import { ManualClock } from '../../src/platform/clock.ts';
import { type Pool, createPool, withTransaction } from '../../src/platform/db/pool.ts';
import { newId } from '../../src/platform/ids.ts';
import { type EventEnvelope, traceOf } from '../../src/platform/messaging/envelope.ts';
import type { Subscription } from '../../src/platform/messaging/subscription.ts';
import { type FreshDatabases, freshDatabases } from '../support/databases.ts';
import { orderOf } from './support.ts';

/** The projections' handlers run directly, with events in an order live delivery would not give. */
let dbs: FreshDatabases;
let db: Pool;

beforeAll(async () => {
  dbs = await freshDatabases();
  const target = dbs.targets.find((t) => t.domain === 'search')!;
  db = createPool(target.url, 2, 'test-search');
});
afterAll(async () => {
  await db?.end();
  await dbs?.drop();
});

function envelope(type: string, subject: string, data: unknown, time: string): EventEnvelope {
  return { specversion: '1.0', id: newId(), type, source: `/bazaar/${type.split('.')[0]}`, subject, time, datacontenttype: 'application/json', correlationid: newId(), causationid: null, aggregatetype: 'x', data };
}

async function apply(subscription: Subscription, ...events: EventEnvelope[]): Promise<void> {
  for (const e of events) await withTransaction(db, (tx) => subscription.handle({ tx, now: new Date(), trace: traceOf(e), emit: async () => undefined }, e));
}

function snapshot(version: number, title: string, status: ProductSnapshot['status'], variantId: string): ProductSnapshot {
  const category = newId();
  return {
    productId: '01a00000-0000-7000-8000-000000000001',
    sellerId: newId(),
    sku: 'SKU-1',
    title,
    description: '',
    categoryId: category,
    categoryPath: [{ id: category, name: 'C', slug: 'c' }],
    status,
    version,
    variants: [{ variantId, sku: 'V-1', attributes: {}, listPrice: { amount: 100 * version, currency: 'USD' }, position: 0 }],
    images: [],
    attributes: [],
    prices: [{ priceId: newId(), variantId, currency: 'USD', basePrice: 100 * version, discount: 0, effectiveFrom: '2026-01-01T00:00:00.000Z', effectiveTo: null }],
    createdAt: '2026-01-01T00:00:00.000Z',
    updatedAt: '2026-01-01T00:00:00.000Z',
  };
}

describe('projections', () => {
  it('keep the newest product snapshot and stock level when older events come after newer ones', async () => {
    const products = productSearchSubscription();
    const variantId = newId();
    const stockItemId = newId();
    const v3 = snapshot(3, 'Third', 'published', variantId);
    await apply(products, envelope('products.product_published.v1', v3.productId, { ...v3, publishedAt: '2026-01-03T00:00:00.000Z' }, '2026-01-03T00:00:00.000Z'));
    const v2 = snapshot(2, 'Second', 'unlisted', variantId);
    await apply(products, envelope('products.product_unlisted.v1', v2.productId, { ...v2, unlistedAt: '2026-01-02T00:00:00.000Z' }, '2026-01-02T00:00:00.000Z'));
    const level = (version: number, available: number) =>
      envelope('inventory.stock_adjusted.v1', stockItemId, {
        stockItemId, variantId, available, reserved: 0, total: available, version, productId: v3.productId, sellerId: v3.sellerId, movementId: newId(),
        change: 1, reason: 'received', note: null, adjustedBy: null, adjustedAt: '2026-01-04T00:00:00.000Z',
      }, '2026-01-04T00:00:00.000Z');
    await apply(products, level(5, 4), level(4, 0));
    const { rows } = await db.query('SELECT title, status, product_version, min_price, in_stock FROM product_search_view');
    expect(rows).toEqual([{ title: 'Third', status: 'published', product_version: 3, min_price: 300, in_stock: true }]);
  });

  it("take a product's late snapshot (replayed after it was parked) over a newer price event, keeping that event's windows (found by a review: the product stayed findable, unlisted)", async () => {
    const products = productSearchSubscription();
    const variantId = newId();
    const productId = newId();
    const published = { ...snapshot(2, 'Kettle', 'published', variantId), productId };
    await apply(products, envelope('products.product_published.v1', productId, { ...published, publishedAt: '2026-01-02T00:00:00.000Z' }, '2026-01-02T00:00:00.000Z'));
    // Version 3, the unlisting, is parked; version 4, a new price from 5 January, is applied.
    const priced = {
      productId, sellerId: published.sellerId, version: 4, variantId, sku: 'V-1', priceId: newId(), currency: 'USD', basePrice: 900, discount: 0,
      effectiveFrom: '2026-01-05T00:00:00.000Z', effectiveTo: null, closedPriceId: published.prices[0]!.priceId, changedAt: '2026-01-05T00:00:00.000Z',
    };
    await apply(products, envelope('products.price_changed.v1', productId, priced, '2026-01-05T00:00:00.000Z'));
    // The unlisting, replayed from the dead letters, still applies; the windows stay those of version 4.
    const unlisted = { ...snapshot(3, 'Kettle', 'unlisted', variantId), productId, sellerId: published.sellerId, prices: published.prices };
    await apply(products, envelope('products.product_unlisted.v1', productId, { ...unlisted, unlistedAt: '2026-01-03T00:00:00.000Z' }, '2026-01-03T00:00:00.000Z'));
    const row = async () =>
      (await db.query('SELECT status, product_version, price_version, min_price, price_windows_json FROM product_search_view WHERE product_id = $1', [productId])).rows[0];
    expect(await row()).toMatchObject({ status: 'unlisted', product_version: 3, price_version: 4, min_price: 900 });
    expect((await row()).price_windows_json.map((w: { priceId: string }) => w.priceId)).toEqual([published.prices[0]!.priceId, priced.priceId]);
    // A price event older than what was applied changes nothing.
    await apply(products, envelope('products.price_changed.v1', productId, { ...priced, version: 3, priceId: newId(), basePrice: 1 }, '2026-01-03T00:00:00.000Z'));
    expect(await row()).toMatchObject({ status: 'unlisted', product_version: 3, price_version: 4, min_price: 900 });
    // A newer snapshot takes over everything, its windows included.
    const relisted = { ...snapshot(5, 'Kettle', 'published', variantId), productId, sellerId: published.sellerId };
    await apply(products, envelope('products.product_published.v1', productId, { ...relisted, publishedAt: '2026-01-06T00:00:00.000Z' }, '2026-01-06T00:00:00.000Z'));
    expect(await row()).toMatchObject({ status: 'published', product_version: 5, min_price: 500 });
  });

  it('take a v2 price event as the snapshot it carries, ignoring one (of either version) that a newer snapshot covers', async () => {
    const products = productSearchSubscription();
    const variantId = newId();
    const productId = newId();
    const published = { ...snapshot(2, 'Kettle', 'published', variantId), productId };
    await apply(products, envelope('products.product_published.v1', productId, { ...published, publishedAt: '2026-01-02T00:00:00.000Z' }, '2026-01-02T00:00:00.000Z'));
    const window = (basePrice: number, from: string) => ({ priceId: newId(), variantId, currency: 'USD', basePrice, discount: 0, effectiveFrom: from, effectiveTo: null });
    const sale = window(150, '2026-01-04T00:00:00.000Z');
    const regular = { ...published.prices[0]!, effectiveTo: sale.effectiveFrom };
    // Version 4 (a sale from now, and the title the product had by then) comes before version 3.
    const v4 = { ...published, version: 4, title: 'Steel kettle', prices: [regular, sale], window: sale, closedPriceId: regular.priceId, changedAt: sale.effectiveFrom };
    await apply(products, envelope('products.price_changed.v2', productId, v4, sale.effectiveFrom));
    const row = async () => (await db.query('SELECT title, product_version, min_price, price_windows_json FROM product_search_view WHERE product_id = $1', [productId])).rows[0];
    expect(await row()).toMatchObject({ title: 'Steel kettle', product_version: 4, min_price: 150 });
    expect((await row()).price_windows_json).toEqual([regular, sale]);
    // Version 3, a withdrawal replayed late, and a v1 price event of version 3: both covered.
    const v3 = { ...published, version: 3, title: 'Old kettle', window: window(1, '2026-01-09T00:00:00.000Z'), extendedPriceId: null, extendedTo: null, withdrawnAt: '2026-01-03T00:00:00.000Z' };
    await apply(products, envelope('products.price_withdrawn.v2', productId, v3, '2026-01-03T00:00:00.000Z'));
    const v1 = { productId, sellerId: published.sellerId, version: 3, variantId, sku: 'V-1', priceId: newId(), currency: 'USD', basePrice: 2, discount: 0,
      effectiveFrom: '2026-01-03T00:00:00.000Z', effectiveTo: null, closedPriceId: null, changedAt: '2026-01-03T00:00:00.000Z' };
    await apply(products, envelope('products.price_changed.v1', productId, v1, '2026-01-03T00:00:00.000Z'));
    expect(await row()).toMatchObject({ title: 'Steel kettle', product_version: 4, min_price: 150 });
    // A newer one's snapshot replaces the windows whole.
    const after = window(180, '2026-01-05T00:00:00.000Z');
    const v5 = { ...v4, version: 5, prices: [{ ...sale, effectiveTo: after.effectiveFrom }, after], window: after, closedPriceId: sale.priceId, changedAt: after.effectiveFrom };
    await apply(products, envelope('products.price_changed.v2', productId, v5, after.effectiveFrom));
    expect(await row()).toMatchObject({ product_version: 5, min_price: 180 });
    expect((await row()).price_windows_json).toEqual(v5.prices);
  });

  it("apply a price event that came before the product's first snapshot (the snapshot parked) once the snapshot comes, and drop an older one", async () => {
    const products = productSearchSubscription();
    const variantId = newId();
    const productId = newId();
    const published = { ...snapshot(2, 'Teapot', 'published', variantId), productId };
    const price = (version: number, basePrice: number, from: string) => ({
      productId, sellerId: published.sellerId, version, variantId, sku: 'V-1', priceId: newId(), currency: 'USD', basePrice, discount: 0,
      effectiveFrom: from, effectiveTo: null, closedPriceId: published.prices[0]!.priceId, changedAt: from,
    });
    // Versions 3 (newer than the snapshot) and 1 (older) come first; the snapshot, version 2, was parked.
    await apply(products, envelope('products.price_changed.v1', productId, price(3, 700, '2026-01-05T00:00:00.000Z'), '2026-01-05T00:00:00.000Z'));
    await apply(products, envelope('products.price_changed.v1', productId, price(1, 1, '2026-01-01T00:00:00.000Z'), '2026-01-01T00:00:00.000Z'));
    expect((await db.query('SELECT 1 FROM product_search_view WHERE product_id = $1', [productId])).rows).toHaveLength(0);
    await apply(products, envelope('products.product_published.v1', productId, { ...published, publishedAt: '2026-01-02T00:00:00.000Z' }, '2026-01-02T00:00:00.000Z'));
    const { rows } = await db.query('SELECT product_version, price_version, min_price, price_windows_json FROM product_search_view WHERE product_id = $1', [productId]);
    expect(rows[0]).toMatchObject({ product_version: 2, price_version: 3, min_price: 700 });
    expect(rows[0].price_windows_json.map((w: { basePrice: number }) => w.basePrice)).toEqual([200, 700]);
    // The older one is covered by the snapshot and let go; the newer one is kept until a snapshot covers it.
    expect((await db.query('SELECT product_version FROM search_early_price_events WHERE product_id = $1', [productId])).rows).toEqual([{ product_version: 3 }]);
  });

  it("work the price range out again from a late snapshot's variants and the newer windows kept", async () => {
    const products = productSearchSubscription();
    const [kept, dropped] = [newId(), newId()];
    const productId = newId();
    const base = snapshot(2, 'Two kettles', 'published', kept);
    const window = (variantId: string, basePrice: number) => ({ priceId: newId(), variantId, currency: 'USD', basePrice, discount: 0, effectiveFrom: '2026-01-01T00:00:00.000Z', effectiveTo: null });
    const published = {
      ...base,
      productId,
      variants: [base.variants[0]!, { variantId: dropped, sku: 'V-2', attributes: {}, listPrice: { amount: 5000, currency: 'USD' }, position: 1 }],
      prices: [window(kept, 200), window(dropped, 5000)],
    };
    await apply(products, envelope('products.product_published.v1', productId, { ...published, publishedAt: '2026-01-02T00:00:00.000Z' }, '2026-01-02T00:00:00.000Z'));
    const priced = {
      productId, sellerId: published.sellerId, version: 4, variantId: kept, sku: 'V-1', priceId: newId(), currency: 'USD', basePrice: 900, discount: 0,
      effectiveFrom: '2026-01-05T00:00:00.000Z', effectiveTo: null, closedPriceId: published.prices[0]!.priceId, changedAt: '2026-01-05T00:00:00.000Z',
    };
    await apply(products, envelope('products.price_changed.v1', productId, priced, '2026-01-05T00:00:00.000Z'));
    // Version 3, parked and replayed late, took the second variant away.
    const late = { ...published, version: 3, variants: [published.variants[0]!], prices: [published.prices[0]!] };
    await apply(products, envelope('products.product_updated.v1', productId, { ...late, changes: ['variants'] }, '2026-01-03T00:00:00.000Z'));
    await repriceDue({ pool: db, clock: new ManualClock('2026-01-06T00:00:00.000Z') });
    const { rows } = await db.query('SELECT min_price, max_price, product_version, price_version FROM product_search_view WHERE product_id = $1', [productId]);
    expect(rows).toEqual([{ min_price: 900, max_price: 900, product_version: 3, price_version: 4 }]);
  });

  it('keep the newest order status when an older orders event comes after a newer one', async () => {
    const dashboard = sellerDashboardSubscription();
    const order = orderOf({ sellerId: newId(), currency: 'USD', placedAt: '2026-01-01T00:00:00.000Z', lines: [{ productId: newId(), title: 'T', unitPrice: 100, quantity: 1 }] });
    const cancelled = { ...order, status: 'cancelled', reason: 'x', wasPaid: false, previousStatus: 'pending_payment', actorType: 'buyer', cancelledBy: order.buyerId, cancelledAt: '2026-01-02T00:00:00.000Z' };
    await apply(dashboard, envelope('orders.order_cancelled.v1', order.orderId, cancelled, cancelled.cancelledAt), envelope('orders.order_placed.v1', order.orderId, order, order.placedAt));
    const { rows } = await db.query('SELECT status, order_version FROM order_list_view');
    expect(rows).toEqual([{ status: 'cancelled', order_version: 1 }]);
  });

  it("keep the order's newest version when two changes of the same instant come in the wrong order", async () => {
    await db.query('TRUNCATE order_list_view');
    const dashboard = sellerDashboardSubscription();
    const at = '2026-01-03T00:00:00.000Z';
    const order = { ...orderOf({ sellerId: newId(), currency: 'USD', placedAt: at, lines: [{ productId: newId(), title: 'T', unitPrice: 100, quantity: 1 }] }), version: 1 };
    const change = (from: string, to: string, version: number) => ({
      ...order,
      status: to,
      version,
      fromStatus: from,
      toStatus: to,
      reason: 'x',
      actorType: 'system',
      changedBy: null,
      changedAt: at,
    });
    await apply(
      dashboard,
      envelope('orders.order_placed.v1', order.orderId, order, at),
      envelope('orders.order_status_changed.v1', order.orderId, change('paid', 'fulfilling', 3), at),
      envelope('orders.order_status_changed.v1', order.orderId, change('pending_payment', 'paid', 2), at),
    );
    const { rows } = await db.query('SELECT status, order_version FROM order_list_view');
    expect(rows).toEqual([{ status: 'fulfilling', order_version: 3 }]);
  });
});

function snap(productId: string, version: number, status: ProductSnapshot['status'], variantId: string, priceId: string, at: string): ProductSnapshot {
  const category = '01a00000-0000-7000-8000-0000000000c1';
  return {
    productId, sellerId: '01a00000-0000-7000-8000-0000000000s1'.replace('s', 'a'), sku: 'SKU-1', title: 'Lamp', description: '', categoryId: category,
    categoryPath: [{ id: category, name: 'C', slug: 'c' }], status, version,
    variants: [{ variantId, sku: 'V-1', attributes: {}, listPrice: { amount: 100, currency: 'USD' }, position: 0 }], images: [], attributes: [],
    prices: [{ priceId, variantId, currency: 'USD', basePrice: 100, discount: 0, effectiveFrom: '2026-01-01T00:00:00.000Z', effectiveTo: null }],
    createdAt: '2026-01-01T00:00:00.000Z', updatedAt: at,
  };
}
const cols = 'status, product_version, price_version, min_price, published_at, updated_at, priced_at, reprice_at';
const row = async (id: string) => (await db.query(`SELECT ${cols} FROM product_search_view WHERE product_id = $1`, [id])).rows[0];

describe('a late event (parked, then replayed) gives the row a rebuild gives (found by a review)', () => {
  it('a republication replayed after a newer snapshot dates the publication, as in a rebuild: newest sorts by the last publication', async () => {
    const products = productSearchSubscription();
    const events = (productId: string) => {
      const v = newId(); const pr = newId();
      return [
        envelope('products.product_created.v1', productId, snap(productId, 1, 'draft', v, pr, '2026-01-01T00:00:00.000Z'), '2026-01-01T00:00:00.000Z'),
        envelope('products.product_published.v1', productId, { ...snap(productId, 2, 'published', v, pr, '2026-01-02T00:00:00.000Z'), publishedAt: '2026-01-02T00:00:00.000Z' }, '2026-01-02T00:00:00.000Z'),
        envelope('products.product_unlisted.v1', productId, { ...snap(productId, 3, 'unlisted', v, pr, '2026-01-03T00:00:00.000Z'), unlistedAt: '2026-01-03T00:00:00.000Z' }, '2026-01-03T00:00:00.000Z'),
        envelope('products.product_published.v1', productId, { ...snap(productId, 4, 'published', v, pr, '2026-01-04T00:00:00.000Z'), publishedAt: '2026-01-04T00:00:00.000Z' }, '2026-01-04T00:00:00.000Z'),
        envelope('products.product_updated.v1', productId, { ...snap(productId, 5, 'published', v, pr, '2026-01-05T00:00:00.000Z'), changedFields: ['title'] }, '2026-01-05T00:00:00.000Z'),
      ];
    };
    const [live, rebuilt] = [newId(), newId()];
    const l = events(live);
    await apply(products, l[0]!, l[1]!, l[2]!, l[4]!, l[3]!); // the republication (v4) parked, replayed after v5
    await apply(products, ...events(rebuilt)); // seq order, as a rebuild replays
    expect((await row(live)).published_at).toEqual((await row(rebuilt)).published_at);
    expect((await row(live)).published_at).toEqual(new Date('2026-01-04T00:00:00.000Z'));
    // The first publication parked: the update after it dated the row meanwhile; the publication, once replayed, dates it.
    const [late, inOrder] = [newId(), newId()];
    const f = events(late);
    await apply(products, f[0]!, f[4]!, f[1]!);
    await apply(products, ...events(inOrder).filter((_, i) => i === 0 || i === 1 || i === 4));
    expect((await row(late)).published_at).toEqual(new Date('2026-01-02T00:00:00.000Z'));
    expect((await row(late)).published_at).toEqual((await row(inOrder)).published_at);
  });

  it('leaves the date of a row projected before search migration 0008 alone when an older publication is replayed, as before (found by a review)', async () => {
    const products = productSearchSubscription();
    const productId = newId();
    const v = newId();
    const pr = newId();
    const at = (day: number) => `2026-01-0${day}T00:00:00.000Z`;
    const e = [
      envelope('products.product_created.v1', productId, snap(productId, 1, 'draft', v, pr, at(1)), at(1)),
      envelope('products.product_published.v1', productId, { ...snap(productId, 2, 'published', v, pr, at(2)), publishedAt: at(2) }, at(2)),
      envelope('products.product_unlisted.v1', productId, { ...snap(productId, 3, 'unlisted', v, pr, at(3)), unlistedAt: at(3) }, at(3)),
      envelope('products.product_published.v1', productId, { ...snap(productId, 4, 'published', v, pr, at(4)), publishedAt: at(4) }, at(4)),
    ];
    await apply(products, e[0]!, e[2]!, e[3]!); // the first publication parked; the row dated by the republication
    // What the column is on a row written before the migration added it.
    await db.query('UPDATE product_search_view SET published_version = NULL WHERE product_id = $1', [productId]);
    await apply(products, e[1]!); // the parked publication replayed after the deploy
    expect((await row(productId)).published_at).toEqual(new Date(at(4)));
  });

  it("dates the row by a newer snapshot even when the sweep had dated it later, as a rebuild does (found by a review of the fix: updated_at never moved back)", async () => {
    const products = productSearchSubscription();
    const sellerId = '01a00000-0000-7000-8000-0000000000a1';
    const events = (productId: string) => {
      const v = newId();
      const base = newId();
      const sale = { priceId: newId(), variantId: v, currency: 'USD', basePrice: 100, discount: 20, effectiveFrom: '2026-01-10T00:00:00.000Z', effectiveTo: '2026-01-20T00:00:00.000Z' };
      const first = snap(productId, 1, 'published', v, base, '2026-01-01T00:00:00.000Z');
      return [
        envelope('products.product_published.v1', productId, { ...first, prices: [...first.prices, sale], publishedAt: '2026-01-01T00:00:00.000Z' }, '2026-01-01T00:00:00.000Z'),
        // The sale withdrawn just before it starts, then an edit carrying the prices without it.
        envelope(
          'products.price_withdrawn.v1',
          productId,
          { productId, sellerId, version: 2, variantId: v, sku: 'V-1', priceId: sale.priceId, currency: 'USD', basePrice: 100, discount: 20, effectiveFrom: sale.effectiveFrom, effectiveTo: sale.effectiveTo, extendedPriceId: null, extendedTo: null, withdrawnAt: '2026-01-09T23:59:00.000Z' },
          '2026-01-09T23:59:00.000Z',
        ),
        envelope('products.product_updated.v1', productId, { ...snap(productId, 3, 'published', v, base, '2026-01-09T23:59:30.000Z'), changedFields: ['title'] }, '2026-01-09T23:59:30.000Z'),
      ];
    };
    const sweep = () => repriceDue({ pool: db, clock: new ManualClock('2026-01-10T00:00:05.000Z') });
    const [live, rebuilt] = [newId(), newId()];
    const l = events(live);
    await apply(products, l[0]!); // the withdrawal parked
    await sweep(); // the sale starts: the sweep prices it, and dates the row at its start
    await apply(products, l[2]!, l[1]!); // the edit a few seconds late, the withdrawal replayed (older: skipped)
    await apply(products, ...events(rebuilt));
    await sweep();
    // price_version only tells which price events were applied (the withdrawal was skipped live).
    const { price_version: _live, ...liveRow } = await row(live);
    const { price_version: _rebuilt, ...rebuiltRow } = await row(rebuilt);
    expect(liveRow).toEqual(rebuiltRow);
  });

  it('a snapshot replayed after a newer price event keeps its updated_at and priced_at, also through the repricing sweep', async () => {
    const products = productSearchSubscription();
    const events = (productId: string) => {
      const v = newId(); const pr = newId();
      const priced = { productId, sellerId: '01a00000-0000-7000-8000-0000000000a1', version: 3, variantId: v, sku: 'V-1', priceId: newId(), currency: 'USD', basePrice: 80, discount: 0,
        effectiveFrom: '2026-02-01T00:00:00.000Z', effectiveTo: null, closedPriceId: pr, changedAt: '2026-01-10T00:00:00.000Z' };
      return [
        envelope('products.product_published.v1', productId, { ...snap(productId, 1, 'published', v, pr, '2026-01-01T00:00:00.000Z'), publishedAt: '2026-01-01T00:00:00.000Z' }, '2026-01-01T00:00:00.000Z'),
        envelope('products.product_updated.v1', productId, { ...snap(productId, 2, 'published', v, pr, '2026-01-05T00:00:00.000Z'), title: 'Lamp 2', changedFields: ['title'] }, '2026-01-05T00:00:00.000Z'),
        envelope('products.price_changed.v1', productId, priced, '2026-01-10T00:00:00.000Z'),
      ];
    };
    const [live, rebuilt] = [newId(), newId()];
    const l = events(live);
    await apply(products, l[0]!, l[2]!, l[1]!); // v2 parked, replayed after the price change v3
    await apply(products, ...events(rebuilt));
    await repriceDue({ pool: db, clock: new ManualClock('2026-01-20T00:00:00.000Z') });
    expect(await row(live)).toEqual(await row(rebuilt));
  });
});

describe('price events are folded in version order onto the snapshot, however late one comes (found by a review)', () => {
  const SELLER = '01a00000-0000-7000-8000-0000000000a2';
  const priceCols = 'status, product_version, price_version, min_price, max_price, currency, price_windows_json, updated_at, priced_at, reprice_at';
  const priced = async (id: string) => {
    const r = (await db.query(`SELECT ${priceCols} FROM product_search_view WHERE product_id = $1`, [id])).rows[0];
    return r && { ...r, price_windows_json: [...r.price_windows_json].sort((a: { priceId: string }, b: { priceId: string }) => (a.priceId < b.priceId ? -1 : 1)) };
  };
  /** One product's history, the same ids under each product id (so two rows compare equal). */
  function history() {
    const [r, b, g] = [newId(), newId(), newId()];
    const [rPrice, bPrice, gPrice, sale, bNew] = [newId(), newId(), newId(), newId(), newId()];
    const window = (priceId: string, variantId: string, basePrice: number) => ({ priceId, variantId, currency: 'EUR', basePrice, discount: 0, effectiveFrom: '2026-03-01T00:00:00.000Z', effectiveTo: null });
    const variant = (variantId: string, amount: number, position: number) => ({ variantId, sku: `V-${position}`, attributes: {}, listPrice: { amount, currency: 'EUR' }, position });
    const base = (productId: string, version: number, at: string): ProductSnapshot => ({
      productId, sellerId: SELLER, sku: 'LAMP', title: 'Lamp', description: '', categoryId: SELLER, categoryPath: [{ id: SELLER, name: 'C', slug: 'c' }],
      status: 'published', version, variants: [variant(r, 3000, 0), variant(b, 3200, 1)], images: [], attributes: [],
      prices: [window(rPrice, r, 3000), window(bPrice, b, 3200)], createdAt: '2026-03-01T00:00:00.000Z', updatedAt: at,
    });
    const change = (productId: string, version: number, variantId: string, priceId: string, basePrice: number, discount: number, from: string, closed: string | null, at: string) =>
      envelope('products.price_changed.v1', productId, { productId, sellerId: SELLER, version, variantId, sku: 'V', priceId, currency: 'EUR', basePrice, discount, effectiveFrom: from, effectiveTo: null, closedPriceId: closed, changedAt: at }, at);
    return {
      published: (id: string) => envelope('products.product_published.v1', id, { ...base(id, 2, '2026-03-02T00:00:00.000Z'), publishedAt: '2026-03-02T00:00:00.000Z' }, '2026-03-02T00:00:00.000Z'),
      /** v3: a sale on R (3000 − 1000) from March 10. */
      sale: (id: string, version = 3) => change(id, version, r, sale, 3000, 1000, '2026-03-10T00:00:00.000Z', rPrice, '2026-03-03T00:00:00.000Z'),
      /** v4: the sale withdrawn before it starts; R's window runs on. */
      withdrawn: (id: string) =>
        envelope('products.price_withdrawn.v1', id, {
          productId: id, sellerId: SELLER, version: 4, variantId: r, sku: 'V', priceId: sale, currency: 'EUR', basePrice: 3000, discount: 1000,
          effectiveFrom: '2026-03-10T00:00:00.000Z', effectiveTo: null, extendedPriceId: rPrice, extendedTo: null, withdrawnAt: '2026-03-04T00:00:00.000Z',
        }, '2026-03-04T00:00:00.000Z'),
      /** v5: B at 3100 from March 5. */
      bNew: (id: string, version = 5) => change(id, version, b, bNew, 3100, 0, '2026-03-05T00:00:00.000Z', bPrice, '2026-03-05T00:00:00.000Z'),
      /** v3 instead of the sale: variant G added, priced 1000. */
      gAdded: (id: string, version = 3) =>
        envelope('products.product_updated.v1', id, {
          ...base(id, version, '2026-03-03T00:00:00.000Z'), variants: [variant(r, 3000, 0), variant(b, 3200, 1), variant(g, 1000, 2)],
          prices: [window(rPrice, r, 3000), window(bPrice, b, 3200), window(gPrice, g, 1000)], changedFields: ['variants'],
        }, '2026-03-03T00:00:00.000Z'),
    };
  }
  const sweep = () => repriceDue({ pool: db, clock: new ManualClock('2026-03-20T00:00:00.000Z') });
  /** The row as search migration 0009 finds it: the price events applied not kept, no snapshot windows. */
  const asBeforeMigration = async (id: string) => {
    await db.query('UPDATE product_search_view SET snapshot_windows_json = NULL WHERE product_id = $1', [id]);
    await db.query('DELETE FROM search_early_price_events WHERE product_id = $1', [id]);
  };

  it('a sale replayed after a newer price change shows, as in a rebuild (it was skipped for good)', async () => {
    const products = productSearchSubscription();
    const h = history();
    const [live, rebuilt] = [newId(), newId()];
    await apply(products, h.published(live), h.bNew(live, 4), h.sale(live)); // the sale (v3) parked, replayed after v4
    await apply(products, h.published(rebuilt), h.sale(rebuilt), h.bNew(rebuilt, 4));
    await sweep();
    expect(await priced(live)).toMatchObject({ min_price: 2000, max_price: 3100, price_version: 4 });
    expect(await priced(live)).toEqual(await priced(rebuilt));
    // Delivered once more (a second replay): nothing changes.
    await apply(products, h.sale(live));
    await sweep();
    expect(await priced(live)).toEqual(await priced(rebuilt));
  });

  it('a withdrawal replayed after a newer price change takes the withdrawn sale away, as in a rebuild (it stayed, and the product was found at 10.00)', async () => {
    const products = productSearchSubscription();
    const h = history();
    const [live, rebuilt] = [newId(), newId()];
    await apply(products, h.published(live), h.sale(live), h.bNew(live), h.withdrawn(live));
    await apply(products, h.published(rebuilt), h.sale(rebuilt), h.withdrawn(rebuilt), h.bNew(rebuilt));
    await sweep();
    expect(await priced(live)).toMatchObject({ min_price: 3000, max_price: 3100, price_version: 5 });
    expect((await priced(live)).price_windows_json).toHaveLength(3);
    expect(await priced(live)).toEqual(await priced(rebuilt));
  });

  it("a snapshot replayed after a newer price change keeps the windows it brought (a new variant's price was lost)", async () => {
    const products = productSearchSubscription();
    const h = history();
    const [live, rebuilt] = [newId(), newId()];
    await apply(products, h.published(live), h.bNew(live, 4), h.gAdded(live));
    await apply(products, h.published(rebuilt), h.gAdded(rebuilt), h.bNew(rebuilt, 4));
    await sweep();
    expect(await priced(live)).toMatchObject({ min_price: 1000, max_price: 3100, product_version: 3, price_version: 4 });
    expect(await priced(live)).toEqual(await priced(rebuilt));
    // The snapshot covers the price events up to its version: only the newer one is kept.
    const kept = await db.query('SELECT product_version FROM search_early_price_events WHERE product_id = $1', [live]);
    expect(kept.rows).toEqual([{ product_version: 4 }]);
  });

  it('a snapshot newer than every price event leaves the price version a rebuild does, whatever order they came in', async () => {
    const products = productSearchSubscription();
    const h = history();
    const [live, rebuilt] = [newId(), newId()];
    await apply(products, h.published(live), h.bNew(live, 3), h.gAdded(live, 4));
    await apply(products, h.gAdded(rebuilt, 4), h.bNew(rebuilt, 3), h.published(rebuilt));
    expect(await priced(live)).toMatchObject({ product_version: 4, price_version: 0 });
    expect(await priced(live)).toEqual(await priced(rebuilt));
  });

  it('a late snapshot on a row from before search migration 0009 whose price events were not kept keeps its windows, and folds nothing from them later (found by a review: the price changes were dropped)', async () => {
    const products = productSearchSubscription();
    const h = history();
    const id = newId();
    await apply(products, h.published(id), h.bNew(id, 4));
    // As before the migration: the price event applied, not kept, no snapshot windows.
    await asBeforeMigration(id);
    const before = await priced(id);
    await apply(products, h.gAdded(id)); // version 3, parked before the upgrade and replayed after it
    const after = (await db.query('SELECT product_version, snapshot_windows_json FROM product_search_view WHERE product_id = $1', [id])).rows[0];
    expect(after).toEqual({ product_version: 3, snapshot_windows_json: null });
    const { updated_at: _u, priced_at: _p, reprice_at: _r, ...windows } = await priced(id);
    const { updated_at: _bu, priced_at: _bp, reprice_at: _br, ...windowsBefore } = before;
    expect(windows).toEqual({ ...windowsBefore, product_version: 3 });
  });

  it('a snapshot on such a row that covers every price event not kept takes its own windows with the kept ones folded on, in order or late (found by a review: the windows it brought were dropped)', async () => {
    const products = productSearchSubscription();
    const h = history();
    type Events = (id: string) => EventEnvelope[];
    /** Live: `before` applied before the migration, `after` after it; rebuilt: `inOrder`. */
    const across = async (before: Events, after: Events, inOrder: Events) => {
      const [id, rebuilt] = [newId(), newId()];
      await apply(products, ...before(id));
      await asBeforeMigration(id);
      await apply(products, ...after(id));
      await apply(products, ...inOrder(rebuilt));
      await sweep();
      expect(await priced(id)).toEqual(await priced(rebuilt));
      return priced(id);
    };
    // Version 5 applied (and kept) after the migration, then version 4, parked before, replayed.
    expect(
      await across((id) => [h.published(id), h.bNew(id, 3)], (id) => [h.sale(id, 5), h.gAdded(id, 4)], (id) => [h.published(id), h.bNew(id, 3), h.gAdded(id, 4), h.sale(id, 5)]),
    ).toMatchObject({ product_version: 4, price_version: 5, min_price: 1000 });
    // A newer snapshot, in order.
    expect(await across((id) => [h.published(id), h.bNew(id, 4)], (id) => [h.gAdded(id, 5)], (id) => [h.published(id), h.bNew(id, 4), h.gAdded(id, 5)])).toMatchObject({
      product_version: 5,
      min_price: 1000,
    });
  });

  it('a row from before search migration 0009 folds from its snapshot once a price event has kept it, and one that cannot keeps its windows as before', async () => {
    const products = productSearchSubscription();
    const h = history();
    const [live, rebuilt, old] = [newId(), newId(), newId()];
    // Written before the migration: no snapshot windows kept.
    await apply(products, h.published(live), h.published(old));
    await db.query('UPDATE product_search_view SET snapshot_windows_json = NULL WHERE product_id = ANY($1::uuid[])', [[live, old]]);
    await apply(products, h.bNew(live, 4), h.sale(live));
    await apply(products, h.published(rebuilt), h.sale(rebuilt), h.bNew(rebuilt, 4));
    await sweep();
    expect(await priced(live)).toEqual(await priced(rebuilt));
    // Price events applied before the migration were not kept: a late one cannot be folded among them, and is skipped as it was.
    await db.query('UPDATE product_search_view SET price_version = 4 WHERE product_id = $1', [old]);
    const before = await priced(old);
    await apply(products, h.sale(old));
    expect(await priced(old)).toEqual(before);
  });
});

describe('category moves replayed late (found by a review: the old ancestors came back)', () => {
  const [X, Y, Z, M, D] = ['01a00000-0000-7000-8000-00000000c0a1', '01a00000-0000-7000-8000-00000000c0a2', '01a00000-0000-7000-8000-00000000c0a3', '01a00000-0000-7000-8000-00000000c0a4', '01a00000-0000-7000-8000-00000000c0a5'];
  const node = (id: string) => ({ id, name: id.slice(-4), slug: id.slice(-4) });
  const move = (categoryId: string, path: string[], previousPath: string[], at: string) =>
    envelope('products.category_updated.v1', '00000000-0000-7000-8000-000000000000', {
      categoryId, parentId: path.at(-2) ?? null, name: 'n', slug: 's', position: 0, path: path.map(node), previousPath: previousPath.map(node), changedFields: ['parentId'], updatedAt: at,
    }, at);
  const categoriesOf = async (id: string) => (await db.query('SELECT category_ids FROM product_search_view WHERE product_id = $1', [id])).rows[0]?.category_ids;
  const filedUnder = async (productId: string, path: string[]) => {
    const products = productSearchSubscription();
    const s = { ...snap(productId, 1, 'published', newId(), newId(), '2026-04-01T00:00:00.000Z'), categoryId: path.at(-1)!, categoryPath: path.map(node) };
    await apply(products, envelope('products.product_published.v1', productId, { ...s, publishedAt: '2026-04-01T00:00:00.000Z' }, '2026-04-01T00:00:00.000Z'));
  };

  it('an older move of the category replayed after a newer one changes nothing, as in a rebuild', async () => {
    const products = productSearchSubscription();
    const [live, rebuilt] = [newId(), newId()];
    await filedUnder(live, [X, M, D]);
    await filedUnder(rebuilt, [X, M, D]);
    const toY = move(M, [Y, M], [X, M], '2026-04-02T00:00:00.000Z');
    const backToX = move(M, [X, M], [Y, M], '2026-04-03T00:00:00.000Z');
    await apply(products, backToX, toY); // toY parked, replayed after the newer move back
    expect(await categoriesOf(live)).toEqual([X, M, D]);
    await db.query('TRUNCATE search_category_parents');
    await apply(products, toY, backToX);
    expect(await categoriesOf(rebuilt)).toEqual([X, M, D]);
  });

  it("a move replayed after a newer move of the new parent gets the parent's newer ancestors", async () => {
    const products = productSearchSubscription();
    const product = newId();
    await filedUnder(product, [X, M, D]);
    const mToY = move(M, [Y, M], [X, M], '2026-04-02T00:00:00.000Z');
    const yToZ = move(Y, [Z, Y], [Y], '2026-04-03T00:00:00.000Z');
    await db.query('TRUNCATE search_category_parents');
    await apply(products, yToZ, mToY); // M's move parked, replayed after Y moved under Z
    expect(await categoriesOf(product)).toEqual([Z, Y, M, D]);
  });

  it('moves in order from servers whose clocks disagree by seconds end as in order (found by a review: the last was taken for older)', async () => {
    const products = productSearchSubscription();
    const product = newId();
    await filedUnder(product, [X, M, D]);
    await db.query('TRUNCATE search_category_parents');
    // Server A, 5 s ahead, moves M under Y; server B, committing after it, moves M back under X.
    await apply(products, move(M, [Y, M], [X, M], '2026-04-05T10:00:06.000Z'), move(M, [X, M], [Y, M], '2026-04-05T10:00:02.000Z'));
    expect(await categoriesOf(product)).toEqual([X, M, D]);
    // X moves under Z later: the products of M follow it (M's parent stays X).
    await apply(products, move(X, [Z, X], [X], '2026-04-05T10:01:00.000Z'));
    expect(await categoriesOf(product)).toEqual([Z, X, M, D]);
  });

  it('pathFrom walks the parents kept, the path given for the rest, and stops at a loop', () => {
    expect(pathFrom([X, M, D], new Map([[M, Y], [Y, null]]))).toEqual([Y, M, D]);
    expect(pathFrom([X, M, D], new Map())).toEqual([X, M, D]);
    expect(pathFrom([X, M, D], new Map([[M, Y], [Y, M]]))).toEqual([Y, M, D]);
    expect(pathFrom([], new Map())).toEqual([]);
  });
});
