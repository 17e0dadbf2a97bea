import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestApp } from '../support/app.ts';
import { type Account, type Http, type Listed, checkout, createCoupon, expectStatus, fillCart, listProduct, signUp, stockOf } from './fixtures/market.ts';
import { startTestMarket, waitFor } from './fixtures/test-market.ts';

/**
 * A checkout takes a payment of at least 1 minor unit: a cart that costs nothing, or coupons that
 * leave nothing to pay, fail with a reason a buyer can act on, before any order is made, and give
 * back what was taken. Free orders are not supported.
 */
let t: TestApp;
let http: Http;
let seller: Account;
let otherSeller: Account;
let lamp: Listed;
let vase: Listed;
let freebie: Listed;

beforeAll(async () => {
  let categoryId: string;
  ({ t, http, categoryId } = await startTestMarket({ CHECKOUT_WAIT_MS: '8000', PAYMENTS_TEST_WEBHOOK_DELAY_MS: '50' }));
  seller = await signUp(http, 'seller', 'seller-free');
  lamp = await listProduct(http, seller, { categoryId, title: 'Lamp', price: 2500, stock: 10 }, waitFor);
  freebie = await listProduct(http, seller, { categoryId, title: 'Sticker', price: 0, stock: 10 }, waitFor);
  otherSeller = await signUp(http, 'seller', 'seller-not-free');
  vase = await listProduct(http, otherSeller, { categoryId, title: 'Vase', price: 4000, stock: 10 }, waitFor);
});

afterAll(async () => {
  await t?.close();
});

async function usesOf(code: string): Promise<number> {
  const page = (await expectStatus('coupons', http('GET', '/v1/seller/coupons?limit=100', { token: seller.token }), 200)).json();
  return page.items.find((c: { code: string }) => c.code === code).usesCount;
}

describe('a checkout with nothing to pay', () => {
  it('fails before any order when coupons take the whole total, and gives the coupon and the stock back', async () => {
    const { code } = await createCoupon(http, seller, { code: 'ALL-OFF', type: 'percentage', discount: 10000 });
    const buyer = await signUp(http, 'buyer', 'buyer-free');
    await fillCart(http, buyer, [{ variantId: lamp.variantId, quantity: 2 }]);
    await expectStatus('apply coupon', http('POST', '/v1/cart/coupons', { token: buyer.token, body: { code } }), 200, 201);

    const session = (await expectStatus('checkout', checkout(http, buyer), 201)).json();
    expect(session.status).toBe('compensated');
    expect(session.failure).toMatchObject({ code: 'UNPROCESSABLE', step: 'create_orders' });
    expect(session.failure.reason).toContain('nothing to pay');
    expect(session.orderIds).toEqual([]);
    expect(session.paymentIntentId).toBeNull();
    expect(await usesOf(code)).toBe(0);
    expect(await stockOf(http, seller, lamp.variantId)).toMatchObject({ total: 10, available: 10, reserved: 0 });
    const orders = (await expectStatus('orders', http('GET', '/v1/orders', { token: buyer.token }), 200)).json();
    expect(orders.items).toEqual([]);
  });

  it('fails at the price snapshot, taking nothing, when the cart costs nothing', async () => {
    const buyer = await signUp(http, 'buyer', 'buyer-sticker');
    await fillCart(http, buyer, [{ variantId: freebie.variantId, quantity: 3 }]);
    const session = (await expectStatus('checkout', checkout(http, buyer), 201)).json();
    expect(session.status).toBe('failed');
    expect(session.failure).toMatchObject({ code: 'UNPROCESSABLE', step: 'price_snapshot' });
    expect(session.failure.reason).toContain('costs nothing');
    expect(await stockOf(http, seller, freebie.variantId)).toMatchObject({ available: 10, reserved: 0 });
  });

  it('fails before any order when a seller’s coupon makes that seller’s order free, in a cart with another seller’s items too', async () => {
    const { code } = await createCoupon(http, seller, { code: 'SELLER-ALL-OFF', type: 'percentage', discount: 10000 });
    const buyer = await signUp(http, 'buyer', 'buyer-two-sellers');
    await fillCart(http, buyer, [
      { variantId: lamp.variantId, quantity: 1 },
      { variantId: vase.variantId, quantity: 1 },
    ]);
    await expectStatus('apply coupon', http('POST', '/v1/cart/coupons', { token: buyer.token, body: { code } }), 200, 201);
    const session = (await expectStatus('checkout', checkout(http, buyer), 201)).json();
    expect(session.status).toBe('compensated');
    expect(session.failure).toMatchObject({ code: 'UNPROCESSABLE', step: 'create_orders' });
    expect(session.failure.reason).toContain(`seller ${seller.userId}`);
    expect(session.orderIds).toEqual([]);
    expect(await usesOf(code)).toBe(0);
    expect(await stockOf(http, otherSeller, vase.variantId)).toMatchObject({ available: 10, reserved: 0 });
  });
});
