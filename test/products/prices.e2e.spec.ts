import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PriceChangedV2, PriceWithdrawnV2, ProductUpdatedV1, SNAPSHOT_PRICES_MAX } from '../../src/contracts/products.ts';
import { mapDatabaseError } from '../../src/domains/products/db-errors.ts';
import { PurchaseCatalog } from '../../src/domains/products/purchase.ts';
import { AppError } from '../../src/platform/http/errors.ts';
import { newId } from '../../src/platform/ids.ts';
import { eventually } from '../support/eventually.ts';
import { type CatalogFixture, type ProductsModule, startCatalog } from './support.ts';

const T0 = new Date('2026-03-01T00:00:00.000Z');
const at = (minutes: number, ms = 0) => new Date(T0.getTime() + minutes * 60_000 + ms);

let f: CatalogFixture;
let sellerId: string;
/** Tokens expire by the injected clock, so each request signs one at the current instant. */
const token = async () => (await f.sellerToken(sellerId)).token;

beforeAll(async () => {
  f = await startCatalog(T0.toISOString());
  sellerId = newId();
});

afterAll(async () => {
  await f?.close();
});

async function newPublishedProduct(): Promise<{ id: string; variantId: string; firstPriceId: string }> {
  const p = await f.create(await token(), { variants: [{ sku: `V-${newId()}`, price: { amount: 1000, currency: 'USD' } }] });
  const published = await f.t.request('POST', `/v1/seller/products/${p.id}/publish`, { token: await token() });
  expect(published.statusCode).toBe(200);
  return { id: p.id, variantId: p.variants[0]!.id, firstPriceId: published.json().priceWindows[0].priceId };
}

async function addPrice(productId: string, body: Record<string, unknown>) {
  return f.t.request('POST', `/v1/seller/products/${productId}/prices`, { token: await token(), body });
}

async function publicPrice(productId: string): Promise<{ amount: number; currency: string }[]> {
  const res = await f.t.request('GET', `/v1/products/${productId}`);
  expect(res.statusCode, res.body).toBe(200);
  return res.json().variants[0].currentPrices.map((p: { price: { amount: number; currency: string } }) => p.price);
}

/**
 * Sends `request` while another transaction holds the product's row, waits until the request is
 * blocked on that lock, moves the clock to `until`, then lets it through; answers its response.
 */
async function whileProductLocked<R>(productId: string, request: () => Promise<R>, until: Date): Promise<{ answer: R }> {
  const holder = await f.db.connect();
  try {
    await holder.query('BEGIN');
    await holder.query('SELECT 1 FROM products WHERE id = $1 FOR UPDATE', [productId]);
    const pending = request();
    await eventually(async () => {
      const { rows } = await f.db.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%FROM products%'",
      );
      expect(rows[0]!.n).toBe(1);
    });
    f.clock.set(until);
    await holder.query('COMMIT');
    return { answer: await pending };
  } catch (error) {
    await holder.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    holder.release();
  }
}

async function pricingRows(variantId: string) {
  const { rows } = await f.db.query<Record<string, unknown>>('SELECT * FROM product_pricing WHERE variant_id = $1 ORDER BY effective_from, id', [variantId]);
  return rows;
}

/** The one event of this type the product's outbox holds, checked against its contract. */
async function theOnlyEvent(productId: string, contract: { type: string; problems(value: unknown): unknown[] }): Promise<unknown> {
  const { rows } = await f.db.query<{ payload: unknown }>('SELECT payload FROM products_outbox_events WHERE aggregate_id = $1 AND event_type = $2', [productId, contract.type]);
  expect(rows).toHaveLength(1);
  expect(contract.problems(rows[0]?.payload)).toEqual([]);
  return rows[0]?.payload;
}

describe('price windows over time', () => {
  it("keeps every variant's current price in reads and events, however long another variant's history", async () => {
    f.clock.set(at(20_000));
    const p = await f.create(await token(), {
      variants: [
        { sku: `A-${newId()}`, price: { amount: 1111, currency: 'USD' } },
        { sku: `B-${newId()}`, price: { amount: 2222, currency: 'USD' } },
      ],
    });
    const [a, b] = [p.variants[0]!.id, p.variants[1]!.id];
    // Variant B was repriced every minute for 250 minutes since (history, written as the service would: closed windows).
    await f.db.query('UPDATE product_pricing SET effective_to = $2 WHERE variant_id = $1', [b, at(20_001)]);
    await f.db.query(
      `INSERT INTO product_pricing (id, product_id, variant_id, base_price, discount, currency, effective_from, effective_to, created_at, created_by)
       SELECT gen_random_uuid(), $1, $2, 2000 + k, 0, 'USD', $3::timestamptz + make_interval(mins => k), $3::timestamptz + make_interval(mins => k + 1), $3, $4
         FROM generate_series(1, 250) k`,
      [p.id, b, at(20_000), sellerId],
    );
    await f.db.query(`INSERT INTO product_pricing (id, product_id, variant_id, base_price, discount, currency, effective_from, created_at, created_by)
       VALUES (gen_random_uuid(), $1, $2, 3333, 0, 'USD', $3, $3, $4)`,
      [p.id, b, at(20_251), sellerId],
    );
    f.clock.set(at(20_300));
    const published = await f.t.request('POST', `/v1/seller/products/${p.id}/publish`, { token: await token() });
    expect(published.statusCode, published.body).toBe(200);
    const current = (body: { priceWindows: { variantId: string; current: boolean; basePrice: { amount: number } }[] }) =>
      body.priceWindows.filter((w) => w.current).map((w) => [w.variantId, w.basePrice.amount]);
    expect(current(published.json()).sort()).toEqual([[a, 1111], [b, 3333]].sort());
    const own = await f.t.request('GET', `/v1/seller/products/${p.id}`, { token: await token() });
    expect(current(own.json()).sort()).toEqual([[a, 1111], [b, 3333]].sort());
    const page = (await f.t.request('GET', `/v1/products/${p.id}`)).json();
    expect(page.variants.map((v: { id: string; currentPrices: { price: { amount: number } }[] }) => [v.id, v.currentPrices.map((c) => c.price.amount)])).toEqual([
      [a, [1111]],
      [b, [3333]],
    ]);
    // The published event's snapshot carries variant A's window too.
    const { rows } = await f.db.query<{ payload: { prices: { variantId: string; basePrice: number }[] } }>(
      `SELECT payload FROM products_outbox_events WHERE aggregate_id = $1 AND event_type = 'products.product_published.v1'`,
      [p.id],
    );
    expect(rows[0]!.payload.prices.map((w) => [w.variantId, w.basePrice]).sort()).toEqual([[a, 1111], [b, 3333]].sort());
  });

  it(`carries every window in effect or ahead in its events, and refuses one more than ${SNAPSHOT_PRICES_MAX} (found by a helper: events dropped the latest after 200 ahead, and search lost the price)`, async () => {
    f.clock.set(at(30_000));
    const { id, variantId } = await newPublishedProduct();
    // With its current USD window, all but one of the bound: scheduled a minute each from an hour on (as the service writes them).
    await f.db.query(
      `INSERT INTO product_pricing (id, product_id, variant_id, base_price, discount, currency, effective_from, effective_to, created_at, created_by)
       SELECT gen_random_uuid(), $1, $2, 5000 + k, 0, 'EUR', $3::timestamptz + make_interval(mins => k), $3::timestamptz + make_interval(mins => k + 1), $4, $5
         FROM generate_series(1, ${SNAPSHOT_PRICES_MAX - 2}) k`,
      [id, variantId, at(30_060), at(30_000), sellerId],
    );
    const last = await addPrice(id, { variantId, price: { amount: 9999, currency: 'EUR' }, effectiveFrom: at(30_060 + SNAPSHOT_PRICES_MAX).toISOString() });
    expect(last.statusCode, last.body).toBe(201);
    const own = await f.t.request('GET', `/v1/seller/products/${id}`, { token: await token() });
    expect(own.json().priceWindows).toHaveLength(SNAPSHOT_PRICES_MAX);
    // An edit's event carries the product's snapshot: every window in effect or ahead, the last added among them.
    const edited = await f.t.request('PATCH', `/v1/seller/products/${id}`, { token: await token(), body: { version: own.json().version, description: 'now with a schedule' } });
    expect(edited.statusCode, edited.body).toBe(200);
    const snapshot = (await theOnlyEvent(id, ProductUpdatedV1)) as { prices: { basePrice: number }[] };
    expect(snapshot.prices).toHaveLength(SNAPSHOT_PRICES_MAX);
    expect(snapshot.prices.map((w) => w.basePrice)).toContain(9999);
    for (const body of [
      { variantId, price: { amount: 1, currency: 'GBP' }, effectiveFrom: at(30_070).toISOString() },
      { variantId, price: { amount: 1, currency: 'GBP' } },
    ]) {
      const over = await addPrice(id, body);
      expect([over.statusCode, over.json().code]).toEqual([409, 'CONFLICT']);
      expect(over.json().detail).toContain(`at most ${SNAPSHOT_PRICES_MAX} price windows in effect or scheduled`);
    }
    // A new price of a currency that has one replaces it (the old one ends now): still taken.
    f.clock.set(at(30_001));
    const replaced = await addPrice(id, { variantId, price: { amount: 1500, currency: 'USD' } });
    expect(replaced.statusCode, replaced.body).toBe(201);
    expect(await pricingRows(variantId)).toHaveLength(SNAPSHOT_PRICES_MAX + 1);
  });

  it('closes the open window at the start of a new open window, and never rewrites anything else', async () => {
    f.clock.set(T0);
    const p = await newPublishedProduct();
    const [before] = await pricingRows(p.variantId);
    const res = await addPrice(p.id, { variantId: p.variantId, price: { amount: 800, currency: 'USD' }, effectiveFrom: at(10).toISOString() });
    expect(res.statusCode, res.body).toBe(201);
    expect(res.json()).toMatchObject({ closedPriceId: p.firstPriceId, window: { basePrice: { amount: 800, currency: 'USD' }, effectiveFrom: at(10).toISOString(), effectiveTo: null, current: false } });
    const [old, added] = await pricingRows(p.variantId);
    expect(old).toEqual({ ...before, effective_to: at(10), closed_by_price_id: res.json().window.priceId });
    expect(added).toMatchObject({ base_price: 800, effective_from: at(10), effective_to: null });
  });

  it('charges the start of a window inclusive and its end exclusive, as the clock moves', async () => {
    f.clock.set(T0);
    const p = await newPublishedProduct();
    await addPrice(p.id, { variantId: p.variantId, price: { amount: 800, currency: 'USD' }, effectiveFrom: at(10).toISOString() });
    expect(await publicPrice(p.id)).toEqual([{ amount: 1000, currency: 'USD' }]);
    f.clock.set(at(10, -1));
    expect(await publicPrice(p.id)).toEqual([{ amount: 1000, currency: 'USD' }]);
    f.clock.set(at(10));
    expect(await publicPrice(p.id)).toEqual([{ amount: 800, currency: 'USD' }]);
    f.clock.set(at(60 * 24 * 365));
    expect(await publicPrice(p.id)).toEqual([{ amount: 800, currency: 'USD' }]);
  });

  it('schedules a discount by two open windows: the discount, then the regular price again', async () => {
    f.clock.set(T0);
    const p = await newPublishedProduct();
    const promo = await addPrice(p.id, { variantId: p.variantId, price: { amount: 1000, currency: 'USD' }, discount: { amount: 250, currency: 'USD' }, effectiveFrom: at(5).toISOString() });
    expect(promo.statusCode).toBe(201);
    const back = await addPrice(p.id, { variantId: p.variantId, price: { amount: 1000, currency: 'USD' }, effectiveFrom: at(8).toISOString() });
    expect(back.json().closedPriceId).toBe(promo.json().window.priceId);
    f.clock.set(at(5));
    const res = await f.t.request('GET', `/v1/products/${p.id}`);
    expect(res.json().variants[0].currentPrices[0]).toMatchObject({
      price: { amount: 750, currency: 'USD' },
      basePrice: { amount: 1000, currency: 'USD' },
      discount: { amount: 250, currency: 'USD' },
      effectiveTo: at(8).toISOString(),
    });
    f.clock.set(at(8));
    expect(await publicPrice(p.id)).toEqual([{ amount: 1000, currency: 'USD' }]);
  });

  it('refuses an overlapping window with PRICE_WINDOW_OVERLAP and leaves the windows as they were', async () => {
    f.clock.set(T0);
    const p = await newPublishedProduct();
    const before = await pricingRows(p.variantId);
    const res = await addPrice(p.id, { variantId: p.variantId, price: { amount: 500, currency: 'USD' }, effectiveFrom: at(1).toISOString(), effectiveTo: at(2).toISOString() });
    expect(res.statusCode).toBe(409);
    expect(res.json().code).toBe('PRICE_WINDOW_OVERLAP');
    expect(await pricingRows(p.variantId)).toEqual(before);
  });

  it('refuses a window that starts in the past, or ends before it starts', async () => {
    f.clock.set(at(3));
    const p = await newPublishedProduct();
    const past = await addPrice(p.id, { variantId: p.variantId, price: { amount: 1, currency: 'USD' }, effectiveFrom: at(2).toISOString() });
    expect(past.statusCode).toBe(400);
    const backwards = await addPrice(p.id, { variantId: p.variantId, price: { amount: 1, currency: 'EUR' }, effectiveFrom: at(5).toISOString(), effectiveTo: at(4).toISOString() });
    expect(backwards.statusCode).toBe(400);
    const mixed = await addPrice(p.id, { variantId: p.variantId, price: { amount: 10, currency: 'USD' }, discount: { amount: 1, currency: 'EUR' }, effectiveFrom: at(9).toISOString() });
    expect(mixed.statusCode).toBe(400);
    // A leap second is RFC 3339 but no JavaScript instant: refused as input, changing nothing.
    const before = await pricingRows(p.variantId);
    const leap = await addPrice(p.id, { variantId: p.variantId, price: { amount: 1, currency: 'GBP' }, effectiveFrom: '2030-12-31T23:59:60Z' });
    expect(leap.json()).toMatchObject({ status: 400, code: 'VALIDATION_FAILED' });
    // A currency must be one in circulation: XYZ is none, XAU is gold.
    for (const currency of ['XYZ', 'XAU']) {
      const made = await addPrice(p.id, { variantId: p.variantId, price: { amount: 1, currency }, effectiveFrom: at(9).toISOString() });
      expect(made.json(), currency).toMatchObject({ status: 400, code: 'VALIDATION_FAILED' });
    }
    expect(await pricingRows(p.variantId)).toEqual(before);
  });

  it('keeps currencies apart: a window in another currency closes nothing', async () => {
    f.clock.set(T0);
    const p = await newPublishedProduct();
    const eur = await addPrice(p.id, { variantId: p.variantId, price: { amount: 900, currency: 'EUR' } });
    expect(eur.statusCode).toBe(201);
    expect(eur.json()).toMatchObject({ closedPriceId: null, window: { current: true } });
    expect(await publicPrice(p.id)).toEqual([
      { amount: 900, currency: 'EUR' },
      { amount: 1000, currency: 'USD' },
    ]);
  });

  it("announces each window with products.price_changed.v2, the product's snapshot after the change, and moves the product version on", async () => {
    f.clock.set(T0);
    const p = await newPublishedProduct();
    const res = await addPrice(p.id, { variantId: p.variantId, price: { amount: 700, currency: 'USD' }, discount: { amount: 50, currency: 'USD' }, effectiveFrom: at(1).toISOString() });
    const priceId = res.json().window.priceId;
    const added = { priceId, variantId: p.variantId, currency: 'USD', basePrice: 700, discount: 50, effectiveFrom: at(1).toISOString(), effectiveTo: null };
    const event = (await theOnlyEvent(p.id, PriceChangedV2)) as PriceChangedV2;
    expect(event).toMatchObject({
      productId: p.id,
      sellerId,
      status: 'published',
      version: 3,
      window: added,
      closedPriceId: p.firstPriceId,
      changedAt: T0.toISOString(),
    });
    // The whole product, as the other snapshot events carry it: a consumer needs no call back.
    expect(event.variants.map((v) => v.variantId)).toEqual([p.variantId]);
    expect(event.categoryPath.length).toBeGreaterThan(0);
    expect(event.prices).toEqual([
      { priceId: p.firstPriceId, variantId: p.variantId, currency: 'USD', basePrice: 1000, discount: 0, effectiveFrom: T0.toISOString(), effectiveTo: at(1).toISOString() },
      added,
    ]);
    const seller = await f.t.request('GET', `/v1/seller/products/${p.id}`, { token: await token() });
    expect(seller.json().version).toBe(3);
    expect(seller.json().priceWindows.map((w: { basePrice: { amount: number }; current: boolean }) => [w.basePrice.amount, w.current])).toEqual([
      [700, false],
      [1000, true],
    ]);
    // Money as everywhere in the API: { amount, currency }, and the price a buyer pays.
    expect(res.json().window).toMatchObject({
      price: { amount: 650, currency: 'USD' },
      basePrice: { amount: 700, currency: 'USD' },
      discount: { amount: 50, currency: 'USD' },
    });
  });

  it('refuses a variant of another product', async () => {
    f.clock.set(T0);
    const a = await newPublishedProduct();
    const b = await newPublishedProduct();
    const res = await addPrice(a.id, { variantId: b.variantId, price: { amount: 1, currency: 'USD' }, effectiveFrom: at(30).toISOString() });
    expect(res.statusCode).toBe(422);
  });
});

describe('withdrawing a scheduled price window', () => {
  const withdraw = async (productId: string, priceId: string, as = token) =>
    f.t.request('DELETE', `/v1/seller/products/${productId}/prices/${priceId}`, { token: await as() });

  it('takes a window out before it starts, as if never added: the window it closed runs on to where it ended', async () => {
    f.clock.set(T0);
    const p = await newPublishedProduct();
    // A sale from minute 10 (a typo: 8 cents) and the regular price again from minute 20.
    const sale = (await addPrice(p.id, { variantId: p.variantId, price: { amount: 8, currency: 'USD' }, effectiveFrom: at(10).toISOString() })).json();
    const back = (await addPrice(p.id, { variantId: p.variantId, price: { amount: 1000, currency: 'USD' }, effectiveFrom: at(20).toISOString() })).json();
    const saleRow = (await pricingRows(p.variantId))[1];
    f.clock.set(at(5));
    // Cart views read through this process's purchase cache: warm, it holds the sale.
    const cached = await f.products.api.getVariantsForPurchase([p.variantId], at(15));
    expect(cached.get(p.variantId)?.price).toMatchObject({ basePrice: 8, priceId: sale.window.priceId });
    const res = await withdraw(p.id, sale.window.priceId);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toEqual({ priceId: sale.window.priceId, withdrawnAt: at(5).toISOString(), extendedPriceId: p.firstPriceId, extendedTo: at(20).toISOString(), version: 5 });
    expect((await pricingRows(p.variantId)).map((r) => [r.id, r.base_price, r.effective_from, r.effective_to])).toEqual([
      [p.firstPriceId, 1000, T0, at(20)],
      [back.window.priceId, 1000, at(20), null],
    ]);
    // The window is kept, as it was, with who withdrew it and when.
    const { rows: kept } = await f.db.query('SELECT * FROM product_price_withdrawals WHERE price_id = $1', [sale.window.priceId]);
    expect(kept).toEqual([
      {
        price_id: saleRow?.id,
        product_id: p.id,
        variant_id: p.variantId,
        base_price: 8,
        discount: 0,
        currency: 'USD',
        effective_from: at(10),
        effective_to: at(20),
        created_at: saleRow?.created_at,
        created_by: sellerId,
        withdrawn_at: at(5),
        withdrawn_by: sellerId,
        extended_price_id: p.firstPriceId,
      },
    ]);
    const event = (await theOnlyEvent(p.id, PriceWithdrawnV2)) as PriceWithdrawnV2;
    expect(event).toMatchObject({
      productId: p.id,
      sellerId,
      version: 5,
      window: { priceId: sale.window.priceId, variantId: p.variantId, basePrice: 8, effectiveFrom: at(10).toISOString(), effectiveTo: at(20).toISOString() },
      extendedPriceId: p.firstPriceId,
      extendedTo: at(20).toISOString(),
      withdrawnAt: at(5).toISOString(),
    });
    // The snapshot's windows are the variant's after the withdrawal: the sale is gone, the window it closed runs on.
    expect(event.prices.map((w) => [w.priceId, w.basePrice, w.effectiveFrom, w.effectiveTo])).toEqual([
      [p.firstPriceId, 1000, T0.toISOString(), at(20).toISOString()],
      [back.window.priceId, 1000, at(20).toISOString(), null],
    ]);
    // The withdrawal dropped the cached row; the sale never applies.
    const purchase = await f.products.api.getVariantsForPurchase([p.variantId], at(15));
    expect(purchase.get(p.variantId)?.price).toMatchObject({ basePrice: 1000, priceId: p.firstPriceId });
    f.clock.set(at(10));
    expect(await publicPrice(p.id)).toEqual([{ amount: 1000, currency: 'USD' }]);

    // Withdrawing the last open window opens the one it closed again.
    const again = await withdraw(p.id, back.window.priceId);
    expect(again.json()).toMatchObject({ extendedPriceId: p.firstPriceId, extendedTo: null, version: 6 });
    expect((await pricingRows(p.variantId)).map((r) => [r.id, r.effective_to])).toEqual([[p.firstPriceId, null]]);
  });

  it('keeps the end of a window the seller bounded when the window after it is withdrawn (found by a helper: the sale ran on for ever)', async () => {
    f.clock.set(T0);
    const p = await newPublishedProduct();
    const sale = (await addPrice(p.id, { variantId: p.variantId, price: { amount: 500, currency: 'EUR' }, effectiveFrom: at(10).toISOString(), effectiveTo: at(20).toISOString() })).json();
    const after = (await addPrice(p.id, { variantId: p.variantId, price: { amount: 900, currency: 'EUR' }, effectiveFrom: at(20).toISOString() })).json();
    expect(after.closedPriceId).toBeNull();
    const res = await withdraw(p.id, after.window.priceId);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ extendedPriceId: null, extendedTo: null });
    const eur = (await pricingRows(p.variantId)).filter((r) => r.currency === 'EUR');
    expect(eur.map((r) => [r.id, r.effective_from, r.effective_to])).toEqual([[sale.window.priceId, at(10), at(20)]]);
  });

  it('refuses a window that has started (it is history), and changes nothing', async () => {
    f.clock.set(T0);
    const p = await newPublishedProduct();
    const next = (await addPrice(p.id, { variantId: p.variantId, price: { amount: 900, currency: 'USD' }, effectiveFrom: at(10).toISOString() })).json();
    const before = await pricingRows(p.variantId);
    for (const [instant, priceId] of [[T0, p.firstPriceId], [at(10), next.window.priceId], [at(11), next.window.priceId]] as const) {
      f.clock.set(instant);
      const res = await withdraw(p.id, priceId);
      expect(res.statusCode, `${instant.toISOString()} ${res.body}`).toBe(409);
      expect(res.json()).toMatchObject({ code: 'INVALID_STATE_TRANSITION' });
    }
    expect(await pricingRows(p.variantId)).toEqual(before);
    const { rows } = await f.db.query('SELECT count(*)::int AS n FROM product_price_withdrawals WHERE product_id = $1', [p.id]);
    expect(rows[0]).toEqual({ n: 0 });
  });

  it('judges a change at the time it holds the product, not when it was asked: a window that started while the change waited is history (found by a review)', async () => {
    f.clock.set(T0);
    const p = await newPublishedProduct();
    const next = (await addPrice(p.id, { variantId: p.variantId, price: { amount: 900, currency: 'USD' }, effectiveFrom: at(10).toISOString() })).json();
    const before = await pricingRows(p.variantId);
    // Another transaction holds the product (the seller's concurrent edit); the withdrawal, asked
    // before the window starts, waits for it until after the start.
    const { answer } = await whileProductLocked(p.id, () => withdraw(p.id, next.window.priceId), at(11));
    expect(answer.statusCode, answer.body).toBe(409);
    expect(answer.json()).toMatchObject({ code: 'INVALID_STATE_TRANSITION' });
    expect(await pricingRows(p.variantId)).toEqual(before);

    // A new open window asked at minute 12 and let through at minute 20 starts at minute 20: the
    // eight minutes between were priced by the window before it, and stay so.
    f.clock.set(at(12));
    const added = await whileProductLocked(p.id, async () => addPrice(p.id, { variantId: p.variantId, price: { amount: 800, currency: 'USD' } }), at(20));
    expect(added.answer.statusCode, added.answer.body).toBe(201);
    expect(added.answer.json().window).toMatchObject({ effectiveFrom: at(20).toISOString(), effectiveTo: null });
    const closed = (await pricingRows(p.variantId)).find((r) => r.id === next.window.priceId);
    expect(closed?.effective_to).toEqual(at(20));
  });

  it('publishes by the time it holds the product: a product whose last window ended while the publish waited is refused (no current price)', async () => {
    f.clock.set(at(30));
    const p = await f.create(await token(), { variants: [{ sku: `V-${newId()}`, price: { amount: 1000, currency: 'USD' } }] });
    // Its only window ends at minute 35 (closing an open window is the one change the table allows).
    await f.db.query('UPDATE product_pricing SET effective_to = $2 WHERE variant_id = $1', [p.variants[0]!.id, at(35)]);
    const publish = async () => f.t.request('POST', `/v1/seller/products/${p.id}/publish`, { token: await token() });
    const { answer } = await whileProductLocked(p.id, publish, at(36));
    expect(answer.statusCode, answer.body).toBe(409);
    expect(answer.json()).toMatchObject({ code: 'INVALID_STATE_TRANSITION' });
    const { rows } = await f.db.query<{ status: string }>('SELECT status FROM products WHERE id = $1', [p.id]);
    expect(rows[0]?.status).toBe('draft');
  });

  it('takes the ids of the price routes in capitals, and answers and announces them in lowercase', async () => {
    f.clock.set(T0);
    const p = await newPublishedProduct();
    const added = await addPrice(p.id.toUpperCase(), { variantId: p.variantId.toUpperCase(), price: { amount: 900, currency: 'USD' }, effectiveFrom: at(10).toISOString() });
    expect(added.statusCode, added.body).toBe(201);
    expect(added.json().window.variantId).toBe(p.variantId);
    const gone = await withdraw(p.id.toUpperCase(), added.json().window.priceId.toUpperCase());
    expect(gone.statusCode, gone.body).toBe(200);
    expect(gone.json()).toMatchObject({ priceId: added.json().window.priceId, extendedPriceId: p.firstPriceId });
    expect(await theOnlyEvent(p.id, PriceWithdrawnV2)).toMatchObject({ productId: p.id, window: { priceId: added.json().window.priceId } });
  });

  it("answers 404 for another seller's window, a window of another product and an unknown one", async () => {
    f.clock.set(T0);
    const p = await newPublishedProduct();
    const other = await newPublishedProduct();
    const next = (await addPrice(p.id, { variantId: p.variantId, price: { amount: 900, currency: 'USD' }, effectiveFrom: at(10).toISOString() })).json();
    const stranger = async () => (await f.sellerToken()).token;
    expect((await withdraw(p.id, next.window.priceId, stranger)).statusCode).toBe(404);
    expect((await withdraw(other.id, next.window.priceId)).statusCode).toBe(404);
    expect((await withdraw(p.id, newId())).statusCode).toBe(404);
    expect((await withdraw(p.id, 'not-a-uuid')).json()).toMatchObject({ status: 400, code: 'VALIDATION_FAILED' });
    expect((await pricingRows(p.variantId)).map((r) => r.id)).toEqual([p.firstPriceId, next.window.priceId]);
  });
});

describe('the pricing table', () => {
  it('rejects overlapping windows in the database itself, which the service reports as PRICE_WINDOW_OVERLAP', async () => {
    f.clock.set(T0);
    const p = await newPublishedProduct();
    const error = await f.db
      .query(
        `INSERT INTO product_pricing (id, product_id, variant_id, base_price, currency, effective_from, effective_to, created_by)
         VALUES ($1, $2, $3, 1, 'USD', $4, $5, $6)`,
        [newId(), p.id, p.variantId, at(100), at(200), sellerId],
      )
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ code: '23P01', constraint: 'product_pricing_no_overlap' });
    const mapped = mapDatabaseError(error);
    expect(mapped).toBeInstanceOf(AppError);
    expect((mapped as AppError).code).toBe('PRICE_WINDOW_OVERLAP');
  });

  it('refuses to rewrite or delete a window: only closing it is allowed', async () => {
    f.clock.set(T0);
    const p = await newPublishedProduct();
    await expect(f.db.query('UPDATE product_pricing SET base_price = 1 WHERE id = $1', [p.firstPriceId])).rejects.toThrow(/history/);
    await expect(f.db.query('UPDATE product_pricing SET effective_from = $2 WHERE id = $1', [p.firstPriceId, at(1)])).rejects.toThrow(/history/);
    await expect(f.db.query('DELETE FROM product_pricing WHERE id = $1', [p.firstPriceId])).rejects.toThrow(/history/);
  });

  it('lets a window go only when its withdrawal, before its start, was recorded first; and keeps withdrawals as written', async () => {
    f.clock.set(T0);
    const p = await newPublishedProduct();
    const next = (await addPrice(p.id, { variantId: p.variantId, price: { amount: 900, currency: 'USD' }, effectiveFrom: at(10).toISOString() })).json();
    const record = (priceId: string, amount: number, withdrawnAt: Date) =>
      f.db.query(
        `INSERT INTO product_price_withdrawals (price_id, product_id, variant_id, base_price, discount, currency, effective_from, effective_to, created_at, created_by, withdrawn_at, withdrawn_by)
         VALUES ($1, $2, $3, $4, 0, 'USD', $5, NULL, $6, $7, $6, $7)`,
        [priceId, p.id, p.variantId, amount, at(10), withdrawnAt, sellerId],
      );
    // A record that does not match the window (another amount) lets nothing go.
    await record(next.window.priceId, 1, at(1));
    await expect(f.db.query('DELETE FROM product_pricing WHERE id = $1', [next.window.priceId])).rejects.toThrow(/history/);
    // A withdrawal at or after the start is not one.
    await expect(record(newId(), 900, at(10))).rejects.toThrow(/before_start/);
    await expect(f.db.query('UPDATE product_price_withdrawals SET base_price = 900 WHERE price_id = $1', [next.window.priceId])).rejects.toThrow(/append-only/);
    await expect(f.db.query('DELETE FROM product_price_withdrawals WHERE price_id = $1', [next.window.priceId])).rejects.toThrow(/append-only/);
  });
});

describe('prices for purchase (the API for cart and checkout)', () => {
  it('gives each variant its snapshot and the price in effect at the instant asked', async () => {
    f.clock.set(T0);
    const p = await newPublishedProduct();
    await addPrice(p.id, { variantId: p.variantId, price: { amount: 1000, currency: 'USD' }, discount: { amount: 100, currency: 'USD' }, effectiveFrom: at(10).toISOString() });
    const unknown = newId();
    const before = await f.api.getVariantsForPurchase([p.variantId, unknown], at(10, -1));
    expect(before.has(unknown)).toBe(false);
    expect(before.get(p.variantId)).toMatchObject({
      productId: p.id,
      sellerId,
      title: 'Pocket phone',
      categoryId: f.categories.smartphones,
      categoryPath: [f.categories.electronics, f.categories.phones, f.categories.smartphones],
      status: 'published',
      published: true,
      price: { basePrice: 1000, discount: 0, amount: 1000, currency: 'USD', priceId: p.firstPriceId },
    });
    const after = await f.api.getVariantsForPurchase([p.variantId], at(10));
    expect(after.get(p.variantId)?.price).toMatchObject({ basePrice: 1000, discount: 100, amount: 900 });
    expect((await f.api.getVariantsForPurchase([p.variantId], at(10), { currency: 'EUR' })).get(p.variantId)?.price).toBeNull();
  });

  it('says when a variant is not purchasable because its product is not published', async () => {
    f.clock.set(T0);
    const p = await f.create(await token());
    const found = await f.api.getVariantsForPurchase([p.variants[0]!.id], T0);
    expect(found.get(p.variants[0]!.id)).toMatchObject({ status: 'draft', published: false });
  });
});

describe('the purchase read cache (cart views ask the catalog on every request)', () => {
  const purchases = () => (f.t.app.modules.find((m) => m.name === 'products') as ProductsModule).purchases;
  /** Reads one variant as of now; returns its unit price and whether the read came from the cache. */
  async function read(variantId: string, options: { fresh?: boolean } = {}) {
    const misses = purchases().misses;
    const found = await f.api.getVariantsForPurchase([variantId], f.clock.now(), options);
    return { amount: found.get(variantId)?.price?.amount, cached: purchases().misses === misses };
  }

  it('keeps its product index within bounds as rows are evicted, still dropping what it holds when a product changes', async () => {
    f.clock.set(at(150));
    const small = new PurchaseCatalog(f.db, f.clock, { entriesMax: 2, ttlMs: 60_000 });
    small.coherent = true;
    const products = [];
    for (let i = 0; i < 10; i++) products.push(await newPublishedProduct());
    for (const p of products) await small.get([p.variantId], f.clock.now());
    expect(small.indexedProducts).toBeLessThanOrEqual(4);
    const last = products[products.length - 1]!;
    expect(small.cachedVariant(last.variantId)).toBe(true);
    small.invalidate([last.id]);
    expect(small.cachedVariant(last.variantId)).toBe(false);
  });

  it('shares one read among callers missing the same variant at once, but never a read started before an invalidation', async () => {
    f.clock.set(at(160));
    const p = await newPublishedProduct();
    let reads = 0;
    /** Marks the rows of the read numbered `staleRead` as stale (as if read before a change). */
    let staleRead = 0;
    const counting = {
      query: (async (...args: Parameters<typeof f.db.query>) => {
        const n = ++reads;
        const result = (await f.db.query(...args)) as unknown as { rows: Record<string, unknown>[] };
        if (n === staleRead) result.rows = result.rows.map((row) => ({ ...row, title: 'stale' }));
        return result;
      }) as typeof f.db.query,
    };
    const catalog = new PurchaseCatalog(counting, f.clock, { entriesMax: 100, ttlMs: 60_000 });
    catalog.coherent = true;
    // A flash sale's opening: many buyers of a variant nobody asked for yet, at once.
    const answers = await Promise.all(Array.from({ length: 20 }, () => catalog.get([p.variantId], f.clock.now())));
    expect(reads).toBe(1);
    for (const answer of answers) expect(answer.get(p.variantId)?.price?.amount).toBe(1000);
    expect(catalog.cachedVariant(p.variantId)).toBe(true);
    // An id in capitals is a miss (the cache keys are the database's spelling), answered under that spelling.
    catalog.invalidate([p.id]);
    expect([...(await catalog.get([p.variantId.toUpperCase()], f.clock.now())).keys()]).toEqual([p.variantId]);

    // A change announced while a read is in flight: a caller after it reads again.
    catalog.invalidate([p.id]);
    reads = 0;
    staleRead = 1;
    const before = catalog.get([p.variantId], f.clock.now());
    catalog.invalidate([p.id]);
    const after = catalog.get([p.variantId], f.clock.now());
    const [early, late] = await Promise.all([before, after]);
    expect(reads).toBe(2);
    expect(early.get(p.variantId)?.title).toBe('stale');
    expect(late.get(p.variantId)?.title).not.toBe('stale');
    // Only the read that started after the change is kept.
    expect((await catalog.get([p.variantId], f.clock.now())).get(p.variantId)?.title).not.toBe('stale');
    expect(reads).toBe(2);
  });

  it('answers an instant just before a price boundary from a row read just after it (found by a review: "no price" at a sale\'s start)', async () => {
    f.clock.set(at(1000));
    const p = await newPublishedProduct();
    expect((await addPrice(p.id, { variantId: p.variantId, price: { amount: 800, currency: 'USD' }, effectiveFrom: at(1010).toISOString() })).statusCode).toBe(201);
    f.clock.set(at(1010));
    const catalog = new PurchaseCatalog(f.db, f.clock, { entriesMax: 100, ttlMs: 60_000 });
    catalog.coherent = true;
    // The row is read for the boundary's instant; a caller whose clock was read a millisecond earlier
    // (or who joined that read) is answered from it.
    expect((await catalog.get([p.variantId], at(1010))).get(p.variantId)?.price?.amount).toBe(800);
    const misses = catalog.misses;
    expect((await catalog.get([p.variantId], at(1010, -1))).get(p.variantId)?.price?.amount).toBe(1000);
    expect((await catalog.get([p.variantId], at(1010, -999))).get(p.variantId)?.price?.amount).toBe(1000);
    expect(catalog.misses).toBe(misses);
    expect((await f.api.getVariantsForPurchase([p.variantId], at(1010, -1), { fresh: true })).get(p.variantId)?.price?.amount).toBe(1000);
  });

  it('answers a repeated read from memory, and reads again after a price change made here', async () => {
    f.clock.set(at(100));
    const p = await newPublishedProduct();
    // The product's own notifications (created, published) may still be on their way: they drop it once.
    await eventually(async () => expect(await read(p.variantId)).toEqual({ amount: 1000, cached: true }));
    expect(await read(p.variantId, { fresh: true })).toEqual({ amount: 1000, cached: false });
    f.clock.set(at(100, 30_000));
    expect(await read(p.variantId)).toEqual({ amount: 1000, cached: true });
    const changed = await addPrice(p.id, { variantId: p.variantId, price: { amount: 800, currency: 'USD' }, effectiveFrom: f.clock.now().toISOString() });
    expect(changed.statusCode, changed.body).toBe(201);
    expect(await read(p.variantId)).toEqual({ amount: 800, cached: false });
  });

  it('drops a product when another process announces a change of it, but not for a change of its stock alone', async () => {
    f.clock.set(at(200));
    const [p, marker] = [await newPublishedProduct(), await newPublishedProduct()];
    await eventually(async () => expect((await read(p.variantId)).cached && (await read(marker.variantId)).cached).toBe(true));
    await f.db.query(`SELECT pg_notify('products_cache', $1)`, [`stock:${p.id}`]);
    await f.db.query(`SELECT pg_notify('products_cache', $1)`, [marker.id]);
    // Notifications arrive in order: once the marker's has dropped it, the stock one was seen too.
    await eventually(async () => expect(purchases().cachedVariant(marker.variantId)).toBe(false));
    expect(await read(p.variantId)).toEqual({ amount: 1000, cached: true });
    await f.db.query(`SELECT pg_notify('products_cache', $1)`, [p.id]);
    await eventually(async () => expect(purchases().cachedVariant(p.variantId)).toBe(false));
  });

  it('keeps a row only until the next price window starts, so the new price shows on time', async () => {
    f.clock.set(at(300));
    const p = await newPublishedProduct();
    const upcoming = await addPrice(p.id, { variantId: p.variantId, price: { amount: 700, currency: 'USD' }, effectiveFrom: at(310).toISOString() });
    expect(upcoming.statusCode, upcoming.body).toBe(201);
    await eventually(async () => expect(await read(p.variantId)).toEqual({ amount: 1000, cached: true }));
    f.clock.set(at(310));
    expect(await read(p.variantId)).toEqual({ amount: 700, cached: false });
  });

  it('tells from memory whether a variant can be bought now, and asks again once its first price starts', async () => {
    f.clock.set(at(400));
    const p = await f.create(await token(), {
      variants: [
        { sku: `V-${newId()}`, price: { amount: 1000, currency: 'USD' } },
        { sku: `V-${newId()}`, price: { amount: 900, currency: 'USD' }, priceEffectiveFrom: at(410).toISOString() },
      ],
    });
    expect((await f.t.request('POST', `/v1/seller/products/${p.id}/publish`, { token: await token() })).statusCode).toBe(200);
    const [now, later] = [p.variants[0].id as string, p.variants[1].id as string];
    await eventually(async () => expect(await read(later)).toEqual({ amount: undefined, cached: true }));
    await read(now);
    expect(purchases().saleStateNow([now, later])).toEqual(new Map([[now, 'for_sale'], [later, 'no_price']]));
    // Its first price starts: the row is no longer held, and read again it is for sale.
    f.clock.set(at(410));
    expect(purchases().saleStateNow([later])).toBeUndefined();
    expect(await read(later)).toEqual({ amount: 900, cached: false });
    expect(purchases().saleStateNow([later])).toEqual(new Map([[later, 'for_sale']]));
  });
});
