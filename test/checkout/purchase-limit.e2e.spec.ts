import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newId } from '../../src/platform/ids.ts';
import type { TestApp } from '../support/app.ts';
import { type Account, type Http, type Listed, checkout, expectStatus, fillCart, listProduct, signUp, stockOf } from './fixtures/market.ts';
import { startTestMarket, waitFor } from './fixtures/test-market.ts';

/**
 * A seller's limit of units per buyer (inventory's PATCH /v1/seller/stock/{variantId}), over HTTP:
 * set and read by the seller, held by the cart, the buyers' own holds and the checkout.
 */
let t: TestApp;
let http: Http;
let seller: Account;
let gadget: Listed;

beforeAll(async () => {
  let categoryId: string;
  ({ t, http, categoryId } = await startTestMarket({ CHECKOUT_WAIT_MS: '8000', PAYMENTS_TEST_WEBHOOK_DELAY_MS: '50' }));
  seller = await signUp(http, 'seller', 'seller-limit');
  gadget = await listProduct(http, seller, { categoryId, title: 'Flash gadget', price: 1999, stock: 50 }, waitFor);
});

afterAll(async () => {
  await t?.close();
});

const limit = (maxPerBuyer: unknown, token = seller.token, variantId = gadget.variantId) =>
  http('PATCH', `/v1/seller/stock/${variantId}`, { token, body: { maxPerBuyer } });
const hold = (buyer: Account, quantity: number) =>
  http('POST', '/v1/reservations', { token: buyer.token, headers: { 'idempotency-key': newId() }, body: { items: [{ variantId: gadget.variantId, quantity }] } });

describe("a seller's limit of units per buyer over HTTP", () => {
  it('is set, shown and cleared by its seller only, with clear refusals of bad values', async () => {
    const set = await expectStatus('limit', limit(2), 200);
    expect(set.json()).toMatchObject({ variantId: gadget.variantId, maxPerBuyer: 2, purchaseLimitSince: expect.any(String) });
    const page = (await expectStatus('stock', http('GET', '/v1/seller/stock?limit=100', { token: seller.token }), 200)).json();
    expect(page.items.find((i: { variantId: string }) => i.variantId === gadget.variantId)).toMatchObject({ maxPerBuyer: 2 });

    const other = await signUp(http, 'seller', 'seller-other');
    expect((await limit(5, other.token)).statusCode).toBe(404);
    const buyer = await signUp(http, 'buyer', 'buyer-not-seller');
    expect((await limit(5, buyer.token)).statusCode).toBe(403);
    expect((await limit(5, seller.token, newId())).statusCode).toBe(404);
    for (const bad of [0, -3, 2.5, '2', true, 1_000_001]) {
      const answer = await limit(bad);
      expect(answer.statusCode, JSON.stringify(bad)).toBe(400);
      expect(answer.json()).toMatchObject({ code: 'VALIDATION_FAILED' });
    }
    const extra = await http('PATCH', `/v1/seller/stock/${gadget.variantId}`, { token: seller.token, body: { maxPerBuyer: 2, perOrder: 1 } });
    expect(extra.statusCode).toBe(400);
    // Nothing of the refused changed the limit.
    expect((await expectStatus('same', limit(2), 200)).json()).toMatchObject({ maxPerBuyer: 2, purchaseLimitSince: set.json().purchaseLimitSince });

    expect((await expectStatus('clear', limit(null), 200)).json()).toMatchObject({ maxPerBuyer: null, purchaseLimitSince: null });
  });

  it('tells a buyer past the limit so, also right after the item sold out, and others that it sold out', async () => {
    const categoryId = (await expectStatus('product', http('GET', `/v1/products/${gadget.productId}`), 200)).json().category.id;
    const scarce = await listProduct(http, seller, { categoryId, title: 'Scarce gadget', price: 999, stock: 2 }, waitFor);
    await expectStatus('limit', limit(2, seller.token, scarce.variantId), 200);
    const [first, second] = [await signUp(http, 'buyer', 'buyer-scarce-1'), await signUp(http, 'buyer', 'buyer-scarce-2')];
    const holdOf = (buyer: Account, quantity: number) =>
      http('POST', '/v1/reservations', { token: buyer.token, headers: { 'idempotency-key': newId() }, body: { items: [{ variantId: scarce.variantId, quantity }] } });
    await expectStatus('all of it', holdOf(first, 2), 201);
    // At once, as when the sell-out is remembered: the limit comes before any question of stock.
    for (let i = 0; i < 3; i++) expect((await holdOf(first, 1)).json()).toMatchObject({ status: 409, code: 'PURCHASE_LIMIT_EXCEEDED', held: 2, maxPerBuyer: 2 });
    expect((await holdOf(second, 1)).json()).toMatchObject({ status: 409, code: 'OUT_OF_STOCK' });
  });

  it('reaches the product page also when it was set before the page kept limits (inventory migration 0004 announces them again)', async () => {
    const shown = async () =>
      (await expectStatus('product', http('GET', `/v1/products/${gadget.productId}`), 200)).json().variants.find((v: { id: string }) => v.id === gadget.variantId).availability
        .maxPerBuyer;
    await expectStatus('limit', limit(6), 200);
    await waitFor(async () => expect(await shown()).toBe(6));
    // As before products migration 0005: the copy knows no limit.
    await t.app.pools.get('products')!.query('UPDATE variant_availability SET max_per_buyer = NULL WHERE variant_id = $1', [gadget.variantId]);
    const migration = await readFile(new URL('../../src/domains/inventory/migrations/0004_announce_purchase_limits.sql', import.meta.url), 'utf8');
    await t.app.pools.get('inventory')!.query(migration);
    const copied = async () =>
      (await t.app.pools.get('products')!.query('SELECT max_per_buyer FROM variant_availability WHERE variant_id = $1', [gadget.variantId])).rows[0]?.max_per_buyer;
    await waitFor(async () => expect(await copied()).toBe(6));
    await waitFor(async () => expect(await shown()).toBe(6));
    await expectStatus('clear', limit(null), 200);
    await waitFor(async () => expect(await shown()).toBeNull());
  });

  it("is shown to buyers on the product page, and gone from it once cleared", async () => {
    const shown = async () => {
      const page = (await expectStatus('product', http('GET', `/v1/products/${gadget.productId}`), 200)).json();
      return page.variants.find((v: { id: string }) => v.id === gadget.variantId).availability.maxPerBuyer;
    };
    await expectStatus('limit', limit(4), 200);
    await waitFor(async () => expect(await shown()).toBe(4));
    await expectStatus('clear', limit(null), 200);
    await waitFor(async () => expect(await shown()).toBeNull());
  });

  it("refuses a buyer's hold, cart line or checkout past the limit, and the checkout gives back what it took", async () => {
    await expectStatus('limit', limit(3), 200);
    const buyer = await signUp(http, 'buyer', 'buyer-limited');

    // A cart line over the limit is refused at once.
    const over = await http('POST', '/v1/cart/items', { token: buyer.token, body: { variantId: gadget.variantId, quantity: 4 } });
    expect(over.statusCode).toBe(409);
    expect(over.json()).toMatchObject({ code: 'PURCHASE_LIMIT_EXCEEDED', maxPerBuyer: 3, requested: 4 });

    // Two units held through the buyers' route; a hold of two more is refused.
    await expectStatus('hold', hold(buyer, 2), 201);
    const refused = await hold(buyer, 2);
    expect(refused.statusCode).toBe(409);
    expect(refused.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(refused.json()).toMatchObject({ code: 'PURCHASE_LIMIT_EXCEEDED', status: 409, variantId: gadget.variantId, maxPerBuyer: 3, held: 2, requested: 2 });

    // The cart takes two (within the limit), but the checkout finds the buyer's hold: refused, nothing kept.
    await fillCart(http, buyer, [{ variantId: gadget.variantId, quantity: 2 }]);
    const before = await stockOf(http, seller, gadget.variantId);
    const session = (await expectStatus('checkout', checkout(http, buyer), 201, 202)).json();
    const failed = await waitFor(async () => {
      const s = (await expectStatus('session', http('GET', `/v1/checkout/${session.id}`, { token: buyer.token }), 200)).json();
      expect(s.status).toBe('failed');
      return s;
    });
    // The failure names the variant and the limit, as the reservation's refusal did (they were in its text only).
    expect(failed.failure).toMatchObject({
      code: 'PURCHASE_LIMIT_EXCEEDED',
      step: 'reserve_stock',
      details: { variantId: gadget.variantId, maxPerBuyer: 3, held: 2, requested: 2 },
    });
    expect(failed.orderIds).toEqual([]);
    expect(await stockOf(http, seller, gadget.variantId)).toEqual(before);

    // Within the limit (one more unit), the checkout goes through.
    await expectStatus('lower line', http('PATCH', `/v1/cart/items/${(await cartLine(buyer)).itemId}`, { token: buyer.token, body: { quantity: 1 } }), 200);
    const done = (await expectStatus('checkout again', checkout(http, buyer), 201)).json();
    expect(done).toMatchObject({ status: 'completed' });
    expect(await stockOf(http, seller, gadget.variantId)).toMatchObject({ reserved: before.reserved, total: before.total - 1 });
  });
});

async function cartLine(buyer: Account): Promise<{ itemId: string }> {
  const cart = (await expectStatus('cart', http('GET', '/v1/cart', { token: buyer.token }), 200)).json();
  return cart.items[0];
}
