import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { expectLedgerBalanced } from '../support/ledger.ts';
import type { TestApp } from '../support/app.ts';
import { type Account, type Http, type Listed, checkout, createCoupon, expectStatus, fillCart, listProduct, signUp } from './fixtures/market.ts';
import { startTestMarket, waitFor } from './fixtures/test-market.ts';

/**
 * A checkout buys the cart as it was when the checkout began. What the buyer puts in the cart while
 * it runs (the payment may take a while) is not bought, and is not lost either: it is carried into
 * the buyer's next cart when the checkout closes the old one.
 */
let t: TestApp;
let http: Http;
let seller: Account;
let mug: Listed;
let lamp: Listed;

beforeAll(async () => {
  let categoryId: string;
  // The POST answers at once (202); the payment is authorized by a webhook 1.5 s later.
  ({ t, http, categoryId } = await startTestMarket({ CHECKOUT_WAIT_MS: '0', PAYMENTS_TEST_WEBHOOK_DELAY_MS: '1500' }));
  seller = await signUp(http, 'seller', 'seller-running');
  mug = await listProduct(http, seller, { categoryId, title: 'Mug', price: 1200, stock: 20 }, waitFor);
  lamp = await listProduct(http, seller, { categoryId, title: 'Lamp', price: 5000, stock: 20 }, waitFor);
});

afterAll(async () => {
  await t?.close();
});

// Money moved in these tests: the ledger balances after each (test/support/ledger.ts).
afterEach(async () => {
  await expectLedgerBalanced(t.app.pools.get('payments')!);
});

/** Once the session completed: it, the lines of its (one) order, and the buyer's cart. */
async function afterCompletion(buyer: Account, sessionId: string) {
  const session = await waitFor(async () => {
    const s = (await expectStatus('session', http('GET', `/v1/checkout/${sessionId}`, { token: buyer.token }), 200)).json();
    expect(s.status).toBe('completed');
    return s;
  });
  const order = (await expectStatus('order', http('GET', `/v1/orders/${session.orderIds[0]}`, { token: buyer.token }), 200)).json();
  const orderLines = order.items.map((i: { variantId: string; quantity: number }) => [i.variantId, i.quantity]);
  const cart = (await expectStatus('cart', http('GET', '/v1/cart', { token: buyer.token }), 200)).json();
  return { session, orderLines, cart };
}

describe('the cart while its checkout runs', () => {
  it('keeps what the buyer added meanwhile (items and coupons) for the next cart, and the order holds only what was bought', async () => {
    const buyer = await signUp(http, 'buyer', 'buyer-running');
    await fillCart(http, buyer, [{ variantId: mug.variantId, quantity: 2 }]);
    const started = await expectStatus('checkout', checkout(http, buyer, undefined, 'tok_delayed_webhook'), 202);
    const sessionId = started.json().id;

    // While the payment is pending: one more mug, a lamp, and a coupon.
    const { code } = await createCoupon(http, seller, { code: 'WHILE-RUNNING', type: 'percentage', discount: 1000 });
    await expectStatus('more mugs', http('POST', '/v1/cart/items', { token: buyer.token, body: { variantId: mug.variantId, quantity: 1 } }), 200, 201);
    await expectStatus('a lamp', http('POST', '/v1/cart/items', { token: buyer.token, body: { variantId: lamp.variantId, quantity: 1 } }), 200, 201);
    await expectStatus('a coupon', http('POST', '/v1/cart/coupons', { token: buyer.token, body: { code } }), 200, 201);

    const { session, orderLines, cart } = await afterCompletion(buyer, sessionId);
    expect(orderLines).toEqual([[mug.variantId, 2]]);
    expect(cart.cartId).not.toBe(session.cartId);
    expect(cart.items.map((i: { variantId: string; quantity: number }) => [i.variantId, i.quantity])).toEqual([
      [mug.variantId, 1],
      [lamp.variantId, 1],
    ]);
    // The coupon was applied after the checkout began: not used by it, it goes with the items.
    expect(session.totals.discount.amount).toBe(0);
    expect(cart.coupons.map((c: { code: string; valid: boolean }) => [c.code, c.valid])).toEqual([[code, true]]);
  });

  it('keeps a line the buyer removed and added again meanwhile: it was not bought (found by a helper: the unit was lost with the closed cart)', async () => {
    const buyer = await signUp(http, 'buyer', 'buyer-again');
    await fillCart(http, buyer, [{ variantId: mug.variantId, quantity: 2 }]);
    const itemId = (await expectStatus('cart', http('GET', '/v1/cart', { token: buyer.token }), 200)).json().items[0].itemId;
    const started = await expectStatus('checkout', checkout(http, buyer, undefined, 'tok_delayed_webhook'), 202);
    const sessionId = started.json().id;
    await expectStatus('remove', http('DELETE', `/v1/cart/items/${itemId}`, { token: buyer.token }), 200, 204);
    await expectStatus('add again', http('POST', '/v1/cart/items', { token: buyer.token, body: { variantId: mug.variantId, quantity: 1 } }), 200, 201);
    const { session, orderLines, cart } = await afterCompletion(buyer, sessionId);
    expect(orderLines).toEqual([[mug.variantId, 2]]);
    expect(cart.cartId).not.toBe(session.cartId);
    expect(cart.items.map((i: { variantId: string; quantity: number }) => [i.variantId, i.quantity])).toEqual([[mug.variantId, 1]]);
  });

  it('closes the cart without a new one when nothing was added', async () => {
    const buyer = await signUp(http, 'buyer', 'buyer-quiet');
    await fillCart(http, buyer, [{ variantId: lamp.variantId, quantity: 1 }]);
    const sessionId = (await expectStatus('checkout', checkout(http, buyer, undefined, 'tok_delayed_webhook'), 202)).json().id;
    await waitFor(async () => {
      expect((await expectStatus('session', http('GET', `/v1/checkout/${sessionId}`, { token: buyer.token }), 200)).json().status).toBe('completed');
    });
    const cart = (await expectStatus('cart', http('GET', '/v1/cart', { token: buyer.token }), 200)).json();
    expect([cart.cartId, cart.items]).toEqual([null, []]);
  });
});
