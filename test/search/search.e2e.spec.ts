import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repriceDue } from '../../src/domains/search/repricing.ts';
import { newId } from '../../src/platform/ids.ts';
import { eventually } from '../support/eventually.ts';
import { type CatalogFixture, startCatalog, uniqueSku } from '../products/support.ts';

// biome-ignore lint/suspicious/noExplicitAny: JSON answers, as loosely typed as inject's json()
type Json = Record<string, any>;

let f: CatalogFixture;
let seller: { sellerId: string; token: string };

beforeAll(async () => {
  f = await startCatalog();
  seller = await f.sellerToken();
});
afterAll(async () => f?.close());

async function search(query: string): Promise<Json> {
  const res = await f.t.request('GET', `/v1/search/products?${query}`);
  expect(res.statusCode, res.body).toBe(200);
  return res.json();
}

const ids = (answer: Json): string[] => answer.items.map((i: Json) => i.productId);

function variant(price: number, attributes: Record<string, string> = { colour: 'black' }, currency = 'USD') {
  return { sku: uniqueSku('V'), attributes, price: { amount: price, currency } };
}

/** Creates and publishes a product, and waits until search finds it. */
async function published(body: Record<string, unknown>): Promise<Json> {
  const p = await f.create(seller.token, body);
  const res = await f.t.request('POST', `/v1/seller/products/${p.id}/publish`, { token: seller.token });
  expect(res.statusCode, res.body).toBe(200);
  await eventually(async () => expect(ids(await search(`seller=${seller.sellerId}&limit=100`))).toContain(p.id));
  return p;
}

describe('product search', () => {
  it('finds a product once it is published, by words of its title, attributes and description, and loses it once it is unlisted', async () => {
    const p = await f.create(seller.token, { title: 'Walnut kaleidoscope', description: 'Turns light into patterns.', variants: [variant(2500)] });
    // A draft is never found (its events are applied, but drafts are not searchable).
    await eventually(async () => {
      const { rows } = await f.t.app.pools.get('search')!.query('SELECT status FROM product_search_view WHERE product_id = $1', [p.id]);
      expect(rows).toEqual([{ status: 'draft' }]);
    });
    expect(ids(await search('q=kaleidoscope'))).toEqual([]);

    await f.t.request('POST', `/v1/seller/products/${p.id}/publish`, { token: seller.token });
    await eventually(async () => expect(ids(await search('q=kaleidoscope'))).toEqual([p.id]));
    // Stemming and the other fields: "patterns" in the description, "black" in a variant attribute.
    expect(ids(await search('q=pattern'))).toContain(p.id);
    const hit = (await search('q=walnut%20kaleidoscopes')).items[0];
    expect(hit).toMatchObject({
      productId: p.id,
      sellerId: seller.sellerId,
      title: 'Walnut kaleidoscope',
      categoryId: f.categories.smartphones,
      categoryIds: [f.categories.electronics, f.categories.phones, f.categories.smartphones],
      price: { min: { amount: 2500, currency: 'USD' }, max: { amount: 2500, currency: 'USD' } },
      inStock: false,
      imageUrl: 'https://img.bazaar.test/p/1.jpg',
      attributes: { brand: ['Acme'], colour: ['black'] },
    });
    expect(hit.score).toBeGreaterThan(0);

    await f.t.request('POST', `/v1/seller/products/${p.id}/unlist`, { token: seller.token });
    await eventually(async () => expect(ids(await search('q=kaleidoscope'))).toEqual([]));
  });

  it('ranks a title hit above a description hit, also when the query excludes a word', async () => {
    const bear = await published({ title: 'Wooden zorblat bear', description: 'Carved by hand.', variants: [variant(1500)] });
    const game = await published({ title: 'Classic board game', description: 'Comes with a zorblat token.', variants: [variant(2500)] });
    await published({ title: 'Zorblat train', variants: [variant(900)] });
    for (const q of ['zorblat', 'zorblat%20-train']) {
      const hits = (await search(`q=${q}&sort=relevance`)).items.filter((i: Json) => [bear.id, game.id].includes(i.productId));
      expect(hits.map((i: Json) => i.productId), q).toEqual([bear.id, game.id]);
      expect(hits[0].score, q).toBeGreaterThan(hits[1].score);
    }
    expect((await search('q=zorblat%20-train')).total).toBe(2);
  });

  it('filters and sorts by the new price once a price change is applied', async () => {
    const cheap = await published({ title: 'Brass sextant small', variants: [variant(3000)] });
    const dear = await published({ title: 'Brass sextant large', variants: [variant(5000)] });
    expect(ids(await search('q=sextant&currency=USD&sort=price_asc'))).toEqual([cheap.id, dear.id]);
    expect(ids(await search('q=sextant&currency=USD&maxPrice=4000'))).toEqual([cheap.id]);

    // The new open window starts a minute later and closes the one the product was created with.
    f.clock.advance(60_000);
    const res = await f.t.request('POST', `/v1/seller/products/${dear.id}/prices`, {
      token: seller.token,
      body: { variantId: dear.variants[0].id, price: { amount: 2000, currency: 'USD' } },
    });
    expect(res.statusCode, res.body).toBe(201);
    await eventually(async () => expect(ids(await search('q=sextant&currency=USD&maxPrice=2500'))).toEqual([dear.id]));
    expect(ids(await search('q=sextant&currency=USD&sort=price_asc'))).toEqual([dear.id, cheap.id]);
    expect(ids(await search('q=sextant&currency=USD&sort=price_desc'))).toEqual([cheap.id, dear.id]);
    const exactly = await search('q=sextant&currency=USD&minPrice=2000&maxPrice=2000');
    expect(ids(exactly)).toEqual([dear.id]);
    expect(exactly.items[0].price.min).toEqual({ amount: 2000, currency: 'USD' });
    // minPrice alone leaves the cheaper one out (found by a review: no test failed without it).
    expect(ids(await search('q=sextant&currency=USD&minPrice=2500'))).toEqual([cheap.id]);
  });

  it('reprices a product when a scheduled sale starts and ends, with no event at those moments', async () => {
    const sweep = () => repriceDue({ pool: f.t.app.pools.get('search')!, clock: f.clock });
    const lamp = await published({ title: 'Scheduled storm lamp', variants: [variant(1000)] });
    const minPrice = async () => (await search('q=scheduled&currency=USD')).items[0].price.min.amount;
    const start = new Date(f.clock.now().getTime() + 3_600_000);
    const end = new Date(start.getTime() + 3_600_000);
    for (const [amount, from] of [[500, start], [1000, end]] as const) {
      const res = await f.t.request('POST', `/v1/seller/products/${lamp.id}/prices`, {
        token: seller.token,
        body: { variantId: lamp.variants[0].id, price: { amount, currency: 'USD' }, effectiveFrom: from.toISOString() },
      });
      expect(res.statusCode, res.body).toBe(201);
    }
    // Both price changes applied (three windows), each evaluated at its event's time.
    await eventually(async () => {
      const { rows } = await f.t.app.pools
        .get('search')!
        .query('SELECT reprice_at, jsonb_array_length(price_windows_json) AS windows FROM product_search_view WHERE product_id = $1', [lamp.id]);
      expect(rows[0]).toEqual({ reprice_at: start, windows: 3 });
    });
    await sweep();
    expect(await minPrice()).toBe(1000);

    // The clock moves on by hours: the seller's token expires, so the tests after this one get a fresh one.
    try {
      f.clock.advance(90 * 60_000);
      // The running marketplace's own sweep may hold the row (SKIP LOCKED): either pass reprices it.
      await sweep();
      await eventually(async () => expect(await minPrice()).toBe(500));
      expect(ids(await search('q=scheduled&currency=USD&maxPrice=600'))).toEqual([lamp.id]);

      f.clock.advance(60 * 60_000);
      await sweep();
      await eventually(async () => expect(await minPrice()).toBe(1000));
      const { rows } = await f.t.app.pools.get('search')!.query('SELECT priced_at, reprice_at FROM product_search_view WHERE product_id = $1', [lamp.id]);
      // Priced at the sale's end (from the windows, not the clock); no boundary is left.
      expect(rows[0]).toEqual({ priced_at: end, reprice_at: null });
    } finally {
      seller = await f.sellerToken();
    }
  });

  it('leaves out of the price a variant whose first price starts later, as the catalog and the cart do', async () => {
    const later = new Date(f.clock.now().getTime() + 3_600_000).toISOString();
    const teapot = await published({
      title: 'Quasar teapot',
      variants: [variant(8000, { size: 'L' }), { ...variant(200, { size: 'S' }), priceEffectiveFrom: later }],
    });
    const [hit] = (await search('q=quasar&currency=USD')).items;
    expect(hit.price).toEqual({ min: { amount: 8000, currency: 'USD' }, max: { amount: 8000, currency: 'USD' } });
    expect(ids(await search('q=quasar&currency=USD&maxPrice=200'))).toEqual([]);
    // The product page agrees: the small teapot has no price now.
    const page = (await f.t.request('GET', `/v1/products/${teapot.id}`)).json();
    const priced = Object.fromEntries(page.variants.map((v: Json) => [v.attributes.size, v.currentPrices.map((p: Json) => p.price.amount)]));
    expect(priced).toEqual({ L: [8000], S: [] });

  });

  it('drops a withdrawn scheduled window, and the window it closed runs on again', async () => {
    const lantern = await published({ title: 'Withdrawn sale lantern', variants: [variant(1000)] });
    const start = new Date(f.clock.now().getTime() + 3_600_000);
    const end = new Date(start.getTime() + 3_600_000);
    const added: string[] = [];
    for (const [amount, from] of [[500, start], [1000, end]] as const) {
      const res = await f.t.request('POST', `/v1/seller/products/${lantern.id}/prices`, {
        token: seller.token,
        body: { variantId: lantern.variants[0].id, price: { amount, currency: 'USD' }, effectiveFrom: from.toISOString() },
      });
      expect(res.statusCode, res.body).toBe(201);
      added.push(res.json().window.priceId);
    }
    const view = async () =>
      (
        await f.t.app.pools
          .get('search')!
          .query<{ reprice_at: Date | null; price_windows_json: Json[] }>('SELECT reprice_at, price_windows_json FROM product_search_view WHERE product_id = $1', [lantern.id])
      ).rows[0];
    await eventually(async () => expect((await view())?.price_windows_json).toHaveLength(3));
    const windows = async () => (await view())?.price_windows_json.map((w) => [w.basePrice, w.effectiveFrom, w.effectiveTo]);

    const sale = await f.t.request('DELETE', `/v1/seller/products/${lantern.id}/prices/${added[0]}`, { token: seller.token });
    expect(sale.statusCode, sale.body).toBe(200);
    await eventually(async () => expect(await windows()).toHaveLength(2));
    expect(await windows()).toEqual(
      expect.arrayContaining([
        [1000, expect.any(String), end.toISOString()],
        [1000, end.toISOString(), null],
      ]),
    );
    expect((await view())?.reprice_at).toEqual(end);

    const back = await f.t.request('DELETE', `/v1/seller/products/${lantern.id}/prices/${added[1]}`, { token: seller.token });
    expect(back.statusCode, back.body).toBe(200);
    await eventually(async () => expect(await windows()).toEqual([[1000, expect.any(String), null]]));
    expect((await view())?.reprice_at).toBeNull();
    expect((await search('q=lantern&currency=USD')).items[0].price.min.amount).toBe(1000);
  });

  it('tells which products have stock from inventory events', async () => {
    const p = await published({ title: 'Copper astrolabe', variants: [variant(9000), variant(9900, { colour: 'red' })] });
    expect(ids(await search('q=astrolabe&inStock=true'))).toEqual([]);
    const variantId = p.variants[1].id;
    await eventually(async () => {
      const res = await f.t.request('POST', `/v1/seller/stock/${variantId}/adjustments`, { token: seller.token, body: { amount: 3, reason: 'received' } });
      expect(res.statusCode, res.body).toBe(201);
    });
    await eventually(async () => expect(ids(await search('q=astrolabe&inStock=true'))).toEqual([p.id]));
    expect(ids(await search('q=astrolabe&inStock=false'))).toEqual([]);
    const res = await f.t.request('POST', `/v1/seller/stock/${variantId}/adjustments`, { token: seller.token, body: { amount: -3, reason: 'lost' } });
    expect(res.statusCode, res.body).toBe(201);
    await eventually(async () => expect(ids(await search('q=astrolabe&inStock=false'))).toEqual([p.id]));
  });

  it('turns a product out of stock when reservations take the last units and back when one is released, without taking every reservation', async () => {
    const p = await published({ title: 'Pewter orrery', variants: [variant(12000)] });
    const variantId = p.variants[0].id;
    await eventually(async () => {
      const res = await f.t.request('POST', `/v1/seller/stock/${variantId}/adjustments`, { token: seller.token, body: { amount: 2, reason: 'received' } });
      expect(res.statusCode, res.body).toBe(201);
    });
    await eventually(async () => expect(ids(await search('q=orrery&inStock=true'))).toEqual([p.id]));
    const buyer = (await f.t.app.tokens.sign({ userId: newId(), roles: ['buyer'] }, f.clock.now())).token;
    const reserve = async (quantity: number) => {
      const res = await f.t.request('POST', '/v1/reservations', { token: buyer, headers: { 'idempotency-key': newId() }, body: { items: [{ variantId, quantity }] } });
      expect(res.statusCode, res.body).toBe(201);
      return res.json() as Json;
    };
    // The first reservation leaves a unit: nothing for search. The second takes the last: sold out.
    await reserve(1);
    const last = await reserve(1);
    await eventually(async () => expect(ids(await search('q=orrery&inStock=false'))).toEqual([p.id]));
    const released = await f.t.request('POST', `/v1/reservations/${last.id}/release`, { token: buyer });
    expect(released.statusCode, released.body).toBe(200);
    await eventually(async () => expect(ids(await search('q=orrery&inStock=true'))).toEqual([p.id]));
    // Search's inbox never held a reservation: only the events that can turn the item.
    const { rows } = await f.t.app.pools
      .get('search')!
      .query<{ type: string }>("SELECT DISTINCT event_type AS type FROM search_inbox_events WHERE consumer = 'search.product_search' AND aggregate_id = ANY($1::uuid[]) ORDER BY 1", [
        [last.id],
      ]);
    expect(rows).toEqual([{ type: 'inventory.reservation_released.v1' }]);
  });

  it('filters by a category with its subcategories, by attributes and by seller', async () => {
    const shoe = await published({ title: 'Felt slipper', categoryId: f.categories.shoes, variants: [variant(1500, { size: '42', colour: 'grey' })] });
    const phone = await published({ title: 'Felt phone sleeve', variants: [variant(1500, { colour: 'grey' })] });
    expect(ids(await search(`q=felt&category=${f.categories.fashion}`))).toEqual([shoe.id]);
    expect(ids(await search(`q=felt&category=${f.categories.electronics}`))).toEqual([phone.id]);
    expect(ids(await search('q=felt&attr=size:42')).sort()).toEqual([shoe.id]);
    expect(ids(await search('q=felt&attr=colour:grey&attr=brand:Acme')).sort()).toEqual([shoe.id, phone.id].sort());
    expect(ids(await search('q=felt&attr=colour:grey&attr=size:43'))).toEqual([]);
    // The same filters in another order are the same search: its cursor goes on (found by an audit: a 400).
    const firstOfTwo = await search('q=felt&attr=colour:grey&attr=brand:Acme&limit=1');
    expect(firstOfTwo.nextCursor).not.toBeNull();
    const second = await search(`q=felt&attr=brand:Acme&attr=colour:grey&limit=1&cursor=${firstOfTwo.nextCursor}`);
    expect([...ids(firstOfTwo), ...ids(second)].sort()).toEqual([shoe.id, phone.id].sort());
    const other = await f.sellerToken();
    expect(ids(await search(`q=felt&seller=${other.sellerId}`))).toEqual([]);
  });

  it('filters by an attribute whatever its name, also one an object has built in (constructor, toString, __proto__)', async () => {
    const odd = await published({ title: 'Velvet curio', variants: [variant(1500, { constructor: 'red', toString: 'loud' })] });
    expect(ids(await search('q=curio&attr=constructor:red'))).toEqual([odd.id]);
    expect(ids(await search('q=curio&attr=toString:loud&attr=constructor:red'))).toEqual([odd.id]);
    for (const attr of ['__proto__:x', 'hasOwnProperty:x', 'constructor:blue']) expect(ids(await search(`q=curio&attr=${attr}`)), attr).toEqual([]);
  });

  it('follows a category moved under another parent, with the categories below it, and ignores a rename', async () => {
    const admin = (await f.t.app.tokens.sign({ userId: newId(), roles: ['admin'] }, f.clock.now())).token;
    const category = async (body: Record<string, unknown>): Promise<string> => {
      const res = await f.t.request('POST', '/v1/admin/categories', { token: admin, body });
      expect(res.statusCode, res.body).toBe(201);
      return res.json().id;
    };
    const patch = async (id: string, body: Record<string, unknown>) => {
      const res = await f.t.request('PATCH', `/v1/admin/categories/${id}`, { token: admin, body });
      expect(res.statusCode, res.body).toBe(200);
    };
    const outdoors = await category({ name: 'Outdoors' });
    const tents = await category({ name: 'Tents', parentId: outdoors });
    const domes = await category({ name: 'Dome tents', parentId: tents });
    const camping = await category({ name: 'Camping' });
    const tent = await published({ title: 'Wandering dome tent', categoryId: domes, variants: [variant(9900)] });
    const hat = await published({ title: 'Wandering sun hat', categoryId: outdoors, variants: [variant(900)] });
    expect(ids(await search(`q=wandering&category=${outdoors}`)).sort()).toEqual([tent.id, hat.id].sort());

    await patch(tents, { parentId: camping });
    await eventually(async () => expect(ids(await search(`q=wandering&category=${camping}`))).toEqual([tent.id]));
    expect(ids(await search(`q=wandering&category=${outdoors}`))).toEqual([hat.id]);
    expect(ids(await search(`q=wandering&category=${tents}`))).toEqual([tent.id]);
    const hit = (await search(`q=wandering&category=${domes}`)).items[0];
    expect(hit.categoryIds).toEqual([camping, tents, domes]);

    await patch(tents, { name: 'Tents and shelters' });
    await patch(camping, { parentId: outdoors });
    await eventually(async () => expect((await search(`q=wandering&category=${domes}`)).items[0].categoryIds).toEqual([outdoors, camping, tents, domes]));
    expect(ids(await search(`q=wandering&category=${outdoors}`)).sort()).toEqual([tent.id, hat.id].sort());
  });

  it('gives facets over every hit that add up to the total', async () => {
    await published({ title: 'Facet lamp one', categoryId: f.categories.laptops, variants: [variant(800)] });
    await published({ title: 'Facet lamp two', variants: [variant(3000, { colour: 'white' })] });
    await published({ title: 'Facet lamp three', variants: [variant(300000, { colour: 'white' }, 'EUR')] });
    const answer = await search('q=facet%20lamp&limit=1');
    expect(answer.items).toHaveLength(1);
    expect(answer.total).toBe(3);
    const sum = (list: Json[]) => list.reduce((n, x) => n + x.count, 0);
    expect(sum(answer.facets.categories)).toBe(3);
    expect(answer.facets.categories).toContainEqual({ categoryId: f.categories.laptops, count: 1 });
    expect(answer.facets.categories).toContainEqual({ categoryId: f.categories.smartphones, count: 2 });
    expect(sum(answer.facets.prices)).toBe(3);
    expect(answer.facets.prices).toEqual([
      { currency: 'EUR', min: 100000, max: null, count: 1 },
      { currency: 'USD', min: 0, max: 1000, count: 1 },
      { currency: 'USD', min: 2500, max: 5000, count: 1 },
    ]);
    expect(answer.facets.stock).toEqual({ inStock: 0, outOfStock: 3 });
    expect(answer.facets.attributes).toContainEqual({ name: 'colour', value: 'white', count: 2 });
    // Later pages carry neither facets nor the total.
    const next = await search(`q=facet%20lamp&limit=1&cursor=${answer.nextCursor}`);
    expect(next).toMatchObject({ total: null, facets: null });
  });

  it('sorts newest first by publication, by default without a query and with sort=newest (found by a review: no test checked the order)', async () => {
    const made: string[] = [];
    for (let i = 0; i < 3; i++) {
      f.clock.advance(1000);
      made.push((await published({ title: `Chronicle inkwell ${i}`, variants: [variant(1000)] })).id);
    }
    const newestFirst = made.slice().reverse();
    expect(ids(await search('q=chronicle%20inkwell&sort=newest'))).toEqual(newestFirst);
    const all = ids(await search(`seller=${seller.sellerId}&limit=100`));
    expect(all.filter((id) => made.includes(id))).toEqual(newestFirst);
    expect(all.slice(0, 3)).toEqual(newestFirst);
  });

  it('keeps to the currency asked: a product priced in another is left out (found by a review: no test failed without the filter)', async () => {
    const usd = await published({ title: 'Tide clock dollars', variants: [variant(1200)] });
    const eur = await published({ title: 'Tide clock euros', variants: [variant(1200, { colour: 'black' }, 'EUR')] });
    expect(ids(await search('q=tide%20clock')).sort()).toEqual([usd.id, eur.id].sort());
    expect(ids(await search('q=tide%20clock&currency=USD'))).toEqual([usd.id]);
    expect(ids(await search('q=tide%20clock&currency=EUR'))).toEqual([eur.id]);
  });

  it('pages through every hit exactly once under each sort, ties included', async () => {
    // Same prices and (the clock stands still) the same publication instant: ties everywhere.
    const made: string[] = [];
    for (let i = 0; i < 7; i++) made.push((await published({ title: `Pager globe ${i % 2 ? 'tin' : 'tin tin'}`, variants: [variant(1000 + (i % 3) * 100)] })).id);
    for (const sort of ['relevance', 'newest', 'price_asc', 'price_desc']) {
      const seen: string[] = [];
      const keys: Json[] = [];
      let cursor: string | null = null;
      do {
        const answer: Json = await search(`q=pager%20globe&currency=USD&sort=${sort}&limit=2${cursor ? `&cursor=${cursor}` : ''}`);
        seen.push(...ids(answer));
        keys.push(...answer.items);
        cursor = answer.nextCursor;
      } while (cursor);
      expect(seen.slice().sort(), sort).toEqual(made.slice().sort());
      if (sort === 'price_asc') expect(keys.map((k) => k.price.min.amount)).toEqual(keys.map((k) => k.price.min.amount).sort());
      if (sort === 'relevance') expect(keys.map((k) => k.score)).toEqual(keys.map((k) => k.score).sort((a, b) => b - a));
    }
  });

  it('refuses bad query input with 400 and a stable code', async () => {
    const bad = async (query: string, code: string) => {
      const res = await f.t.request('GET', `/v1/search/products?${query}`);
      expect(res.statusCode, query).toBe(400);
      expect(res.headers['content-type']).toMatch(/application\/problem\+json/);
      expect(res.json().code, query).toBe(code);
    };
    await bad('sort=price_asc', 'VALIDATION_FAILED');
    await bad('minPrice=5', 'VALIDATION_FAILED');
    await bad('currency=USD&minPrice=9&maxPrice=5', 'VALIDATION_FAILED');
    await bad('sort=relevance', 'VALIDATION_FAILED');
    await bad('sort=cheapest', 'VALIDATION_FAILED');
    await bad('limit=1000', 'VALIDATION_FAILED');
    await bad('category=not-a-uuid', 'VALIDATION_FAILED');
    await bad('attr=nocolon', 'VALIDATION_FAILED');
    await bad(`q=${'x'.repeat(201)}`, 'VALIDATION_FAILED');
    // Exclusions nested past what PostgreSQL's text search takes (found by a helper: a 500).
    await bad(`q=${'-'.repeat(33)}pager`, 'VALIDATION_FAILED');
    await bad(`q=${encodeURIComponent(`pager ${'-('.repeat(32)}globe`)}`, 'VALIDATION_FAILED');
    // A few, or dashes inside words, are searched.
    for (const q of ['bear -plush -toy', 't-shirt x-ray', '-'.repeat(16) + 'bear']) expect((await f.t.request('GET', `/v1/search/products?q=${encodeURIComponent(q)}`)).statusCode, q).toBe(200);
    await bad('colour=red', 'VALIDATION_FAILED');
    await bad('cursor=garbage', 'INVALID_CURSOR');
    // A cursor of one sort is refused by another.
    const first = await search('limit=1&sort=newest');
    expect(first.nextCursor).not.toBeNull();
    await bad(`currency=USD&sort=price_asc&cursor=${first.nextCursor}`, 'INVALID_CURSOR');
    // A cursor of one search is refused by another: its position means nothing in another list.
    const usd = await search('limit=1&currency=USD&sort=price_asc');
    expect(usd.nextCursor).not.toBeNull();
    await bad(`currency=EUR&sort=price_asc&cursor=${usd.nextCursor}`, 'INVALID_CURSOR');
    await bad(`currency=USD&sort=price_asc&q=globe&cursor=${usd.nextCursor}`, 'INVALID_CURSOR');
    expect((await search(`currency=USD&sort=price_asc&limit=5&cursor=${usd.nextCursor}`)).items.length).toBeGreaterThan(0);
    const forged = Buffer.from(JSON.stringify({ s: 'newest', t: '0000-01-01T00:00:00.000Z', id: f.categories.shoes })).toString('base64url');
    await bad(`sort=newest&cursor=${forged}`, 'INVALID_CURSOR');
    // A real cursor whose position was edited (a valid time, its signature kept) is not the API's.
    const page = await search('limit=1&sort=newest&facets=false');
    expect(page.nextCursor).not.toBeNull();
    const cursor = page.nextCursor as string;
    const dot = cursor.includes('.') ? cursor.lastIndexOf('.') : cursor.length;
    const key = JSON.parse(Buffer.from(cursor.slice(0, dot), 'base64url').toString('utf8'));
    const edited = Buffer.from(JSON.stringify({ ...key, t: '2099-12-06T00:12:52.064Z' })).toString('base64url');
    await bad(`limit=1&sort=newest&facets=false&cursor=${edited}${cursor.slice(dot)}`, 'INVALID_CURSOR');
    expect((await search(`limit=1&sort=newest&facets=false&cursor=${page.nextCursor}`)).items).toHaveLength(1);
  });
});
