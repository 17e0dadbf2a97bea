import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { expectLedgerBalanced } from '../support/ledger.ts';
import { newId } from '../../src/platform/ids.ts';
import type { TestApp } from '../support/app.ts';
import { type Account, type Http, type HttpAnswer, type Listed, checkoutBody, createCoupon, expectStatus, fillCart, listProduct, signUp } from './fixtures/market.ts';
import { startTestMarket, waitFor } from './fixtures/test-market.ts';

/**
 * A cart is priced in one currency, its earliest item's list currency, in the cart's view and at
 * checkout alike: an item listed in another currency is bought at its price window in the cart's
 * currency, and an item without one is refused by name. A buyer may name the currency instead
 * (`currency` in the checkout body, as GET /v1/cart?currency= shows the cart in it).
 */
let t: TestApp;
let http: Http;
let seller: Account;
let mug: Listed;
let poster: Listed;
let lamp: Listed;
let categoryId: string;

beforeAll(async () => {
  ({ t, http, categoryId } = await startTestMarket({ CHECKOUT_WAIT_MS: '8000', PAYMENTS_TEST_WEBHOOK_DELAY_MS: '50' }));
  seller = await signUp(http, 'seller', 'seller-currencies');
  mug = await listProduct(http, seller, { categoryId, title: 'Dollar mug', price: 1200, stock: 20 }, waitFor);
  poster = await listProduct(http, seller, { categoryId, title: 'Euro poster', price: 1000, currency: 'EUR', stock: 20 }, waitFor);
  lamp = await listProduct(http, seller, { categoryId, title: 'Euro lamp', price: 5000, currency: 'EUR', stock: 20 }, waitFor);
  // The poster is also sold in dollars; the lamp is not.
  await expectStatus(
    'dollar price',
    http('POST', `/v1/seller/products/${poster.productId}/prices`, { token: seller.token, body: { variantId: poster.variantId, price: { amount: 1100, currency: 'USD' } } }),
    201,
  );
});

afterAll(async () => {
  await t?.close();
});

// Money moved in these tests: the ledger balances after each (test/support/ledger.ts).
afterEach(async () => {
  await expectLedgerBalanced(t.app.pools.get('payments')!);
});

function checkout(buyer: Account, currency?: string, key: string = newId()): Promise<HttpAnswer> {
  return http('POST', '/v1/checkout', { token: buyer.token, headers: { 'idempotency-key': key }, body: { ...checkoutBody(), ...(currency ? { currency } : {}) } });
}

describe('a cart of items listed in different currencies', () => {
  it('is checked out in its earliest item’s currency, each item at its window in that currency, as the cart showed it', async () => {
    const buyer = await signUp(http, 'buyer', 'buyer-dollars');
    await fillCart(http, buyer, [
      { variantId: mug.variantId, quantity: 1 },
      { variantId: poster.variantId, quantity: 2 },
    ]);
    const cart = (await expectStatus('cart', http('GET', '/v1/cart', { token: buyer.token }), 200)).json();
    expect(cart.total).toEqual({ amount: 1200 + 2 * 1100, currency: 'USD' });

    const session = (await expectStatus('checkout', checkout(buyer), 201)).json();
    expect(session.status, JSON.stringify(session.failure)).toBe('completed');
    const order = (await expectStatus('order', http('GET', `/v1/orders/${session.orderIds[0]}`, { token: buyer.token }), 200)).json();
    expect(order.total).toEqual(cart.total);
  });

  it('fails at the price snapshot, naming the item without a price in the cart’s currency, and takes nothing', async () => {
    const buyer = await signUp(http, 'buyer', 'buyer-mixed');
    await fillCart(http, buyer, [
      { variantId: mug.variantId, quantity: 1 },
      { variantId: lamp.variantId, quantity: 1 },
    ]);
    const session = (await expectStatus('checkout', checkout(buyer), 201)).json();
    expect(session.status).toBe('failed');
    expect(session.failure).toMatchObject({ code: 'UNPROCESSABLE', step: 'price_snapshot' });
    expect(session.failure.reason).toContain(`variant ${lamp.variantId} has no price in USD`);
    expect(session.orderIds).toEqual([]);
  });
});

describe('an item listed in another currency, with no price in its own at the moment', () => {
  it('is priced and bought at its window in the cart’s currency, as the cart shows it (found by a review: it was asked in its list currency only)', async () => {
    // Listed in dollars from an hour from now; sold in euros now.
    const sku = `SKU-LATER-${newId().slice(-8)}`;
    const later = new Date(Date.now() + 3_600_000).toISOString();
    const created = (
      await expectStatus(
        'create',
        http('POST', '/v1/seller/products', {
          token: seller.token,
          body: { sku, title: 'Later dollar vase', categoryId, variants: [{ sku: `${sku}-1`, price: { amount: 900, currency: 'USD' }, priceEffectiveFrom: later }] },
        }),
        201,
      )
    ).json();
    const vase: string = created.variants[0].id;
    await expectStatus('euro price', http('POST', `/v1/seller/products/${created.id}/prices`, { token: seller.token, body: { variantId: vase, price: { amount: 700, currency: 'EUR' } } }), 201);
    await expectStatus('publish', http('POST', `/v1/seller/products/${created.id}/publish`, { token: seller.token }), 200);
    await waitFor(() => expectStatus('stock', http('POST', `/v1/seller/stock/${vase}/adjustments`, { token: seller.token, body: { amount: 5, reason: 'received' } }), 201));

    const buyer = await signUp(http, 'buyer', 'buyer-euro-vase');
    // The poster, listed in euros, comes first: the cart is in euros.
    await fillCart(http, buyer, [
      { variantId: poster.variantId, quantity: 1 },
      { variantId: vase, quantity: 1 },
    ]);
    // Raising the line, like adding it, takes the cart's currency when the buyer names none.
    const line = (await expectStatus('cart', http('GET', '/v1/cart', { token: buyer.token }), 200)).json().items[1];
    await expectStatus('raise', http('PATCH', `/v1/cart/items/${line.itemId}`, { token: buyer.token, body: { quantity: 2 } }), 200);
    const cart = (await expectStatus('cart', http('GET', '/v1/cart', { token: buyer.token }), 200)).json();
    expect(cart.items.map((i: { purchasable: boolean }) => i.purchasable)).toEqual([true, true]);
    expect(cart.total).toEqual({ amount: 1000 + 2 * 700, currency: 'EUR' });
    const session = (await expectStatus('checkout', checkout(buyer), 201)).json();
    expect(session.status, JSON.stringify(session.failure)).toBe('completed');
    expect(session.totals.total).toEqual(cart.total);
  });
});

describe('a checkout in the currency the buyer names', () => {
  it('buys every item at its window in that currency, as GET /v1/cart?currency= showed, and charges in it', async () => {
    const buyer = await signUp(http, 'buyer', 'buyer-asks-dollars');
    await fillCart(http, buyer, [{ variantId: poster.variantId, quantity: 2 }]);
    // Listed in euros: the cart's own currency is EUR; the buyer pays in dollars.
    const ownCart = (await expectStatus('cart', http('GET', '/v1/cart', { token: buyer.token }), 200)).json();
    expect(ownCart.total).toEqual({ amount: 2000, currency: 'EUR' });
    const cart = (await expectStatus('cart in USD', http('GET', '/v1/cart?currency=USD', { token: buyer.token }), 200)).json();
    expect(cart.total).toEqual({ amount: 2200, currency: 'USD' });

    const session = (await expectStatus('checkout', checkout(buyer, 'USD'), 201)).json();
    expect(session.status, JSON.stringify(session.failure)).toBe('completed');
    expect(session.totals.total).toEqual(cart.total);
    const order = (await expectStatus('order', http('GET', `/v1/orders/${session.orderIds[0]}`, { token: buyer.token }), 200)).json();
    expect(order.total).toEqual(cart.total);
    expect(order.items[0].unitPrice).toEqual({ amount: 1100, currency: 'USD' });
  });

  it('takes a fixed-amount coupon in the currency the buyer pays in, checked as ?currency= names it (found by a helper: only the cart currency was tried)', async () => {
    const buyer = await signUp(http, 'buyer', 'buyer-dollar-coupon');
    await fillCart(http, buyer, [{ variantId: poster.variantId, quantity: 2 }]);
    const { code } = await createCoupon(http, seller, { code: `USD-OFF-${newId().slice(-6).toUpperCase()}`, type: 'fixed_amount', amountOff: { amount: 300, currency: 'USD' } });
    const inEuros = await http('POST', '/v1/cart/coupons', { token: buyer.token, body: { code } });
    expect([inEuros.statusCode, inEuros.json().code, inEuros.json().reason]).toEqual([422, 'COUPON_NOT_APPLICABLE', 'currency_mismatch']);
    const inDollars = await expectStatus('coupon in USD', http('POST', '/v1/cart/coupons?currency=USD', { token: buyer.token, body: { code } }), 201);
    expect(inDollars.json().total).toEqual({ amount: 2200 - 300, currency: 'USD' });
    // Every other change of the cart answers it in the paying currency too, when asked.
    const itemId = inDollars.json().items[0].itemId;
    const changed = await expectStatus('quantity in USD', http('PATCH', `/v1/cart/items/${itemId}?currency=USD`, { token: buyer.token, body: { quantity: 3 } }), 200);
    expect(changed.json().coupons).toMatchObject([{ code, valid: true }]);
    expect(changed.json().total).toEqual({ amount: 3300 - 300, currency: 'USD' });
    const added = await expectStatus('add in USD', http('POST', '/v1/cart/items?currency=USD', { token: buyer.token, body: { variantId: poster.variantId, quantity: 1 } }), 200);
    expect(added.json().total).toEqual({ amount: 4400 - 300, currency: 'USD' });
    await expectStatus('back to 2', http('PATCH', `/v1/cart/items/${itemId}`, { token: buyer.token, body: { quantity: 2 } }), 200);
    const session = (await expectStatus('checkout', checkout(buyer, 'USD'), 201)).json();
    expect(session.status, JSON.stringify(session.failure)).toBe('completed');
    expect(session.totals.total).toEqual({ amount: 1900, currency: 'USD' });
  });

  it('fails at the price snapshot, naming the item without a price in that currency, and takes nothing', async () => {
    const buyer = await signUp(http, 'buyer', 'buyer-asks-euros');
    await fillCart(http, buyer, [
      { variantId: poster.variantId, quantity: 1 },
      { variantId: mug.variantId, quantity: 1 },
    ]);
    const session = (await expectStatus('checkout', checkout(buyer, 'EUR'), 201)).json();
    expect(session.status).toBe('failed');
    expect(session.failure).toMatchObject({ code: 'UNPROCESSABLE', step: 'price_snapshot' });
    expect(session.failure.reason).toContain(`variant ${mug.variantId} has no price in EUR, the currency asked for`);
    expect(session.orderIds).toEqual([]);
    const cart = (await expectStatus('cart', http('GET', '/v1/cart', { token: buyer.token }), 200)).json();
    expect(cart.items).toHaveLength(2);
  });

  it('is part of the request an Idempotency-Key stands for: another currency under the same key is 422', async () => {
    const buyer = await signUp(http, 'buyer', 'buyer-changes-mind');
    await fillCart(http, buyer, [{ variantId: poster.variantId, quantity: 1 }]);
    const key = newId();
    const first = (await expectStatus('checkout', checkout(buyer, 'EUR', key), 201)).json();
    expect(first.totals.total).toEqual({ amount: 1000, currency: 'EUR' });
    const again = await checkout(buyer, 'USD', key);
    expect(again.statusCode).toBe(422);
    expect(again.json().code).toBe('IDEMPOTENCY_KEY_REUSED');
    const replay = await expectStatus('replay', checkout(buyer, 'EUR', key), 201);
    expect(replay.json().id).toBe(first.id);
  });

  it('buys in euros a variant priced now only in euros, its list price in dollars not started, carted with ?currency=EUR', async () => {
    const sku = `LATE-USD-${newId().slice(-8)}`;
    const later = new Date(Date.now() + 3_600_000).toISOString();
    const body = { sku, title: 'Euro-first clock', categoryId, variants: [{ sku: `${sku}-1`, price: { amount: 1000, currency: 'USD' }, priceEffectiveFrom: later }] };
    const created = (await expectStatus('create', http('POST', '/v1/seller/products', { token: seller.token, body }), 201)).json();
    const variantId: string = created.variants[0].id;
    const euros = { variantId, price: { amount: 800, currency: 'EUR' } };
    await expectStatus('euro price', http('POST', `/v1/seller/products/${created.id}/prices`, { token: seller.token, body: euros }), 201);
    await expectStatus('publish', http('POST', `/v1/seller/products/${created.id}/publish`, { token: seller.token }), 200);
    await waitFor(() => expectStatus('stock', http('POST', `/v1/seller/stock/${variantId}/adjustments`, { token: seller.token, body: { amount: 5, reason: 'received' } }), 201));
    const buyer = await signUp(http, 'buyer', 'buyer-euro-first');
    await expectStatus('add', http('POST', '/v1/cart/items?currency=EUR', { token: buyer.token, body: { variantId, quantity: 2 } }), 201);
    const session = (await expectStatus('checkout', checkout(buyer, 'EUR'), 201)).json();
    expect(session.status, JSON.stringify(session.failure)).toBe('completed');
    expect(session.totals.total).toEqual({ amount: 1600, currency: 'EUR' });
  });

  it('refuses a currency that is not an ISO 4217 code, and starts nothing', async () => {
    const buyer = await signUp(http, 'buyer', 'buyer-lowercase');
    await fillCart(http, buyer, [{ variantId: poster.variantId, quantity: 1 }]);
    const answer = await checkout(buyer, 'usd');
    expect(answer.statusCode).toBe(400);
    expect(answer.json().code).toBe('VALIDATION_FAILED');
    const cart = (await expectStatus('cart', http('GET', '/v1/cart', { token: buyer.token }), 200)).json();
    expect(cart.items).toHaveLength(1);
  });
});
