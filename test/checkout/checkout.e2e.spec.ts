import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { PaymentsApi } from '../../src/domains/payments/index.ts';
import type { ProductsApi } from '../../src/domains/products/index.ts';
import { newId } from '../../src/platform/ids.ts';
import type { TestApp } from '../support/app.ts';
import { eventually } from '../support/eventually.ts';
import { expectLedgerBalanced } from '../support/ledger.ts';
import {
  type Account,
  type Http,
  type HttpAnswer,
  type Listed,
  categoryFixture,
  checkout,
  checkoutBody,
  createCoupon,
  expectStatus,
  fillCart,
  listProduct,
  signUp,
  stockOf,
} from './fixtures/market.ts';
import { startTestMarket, waitFor } from './fixtures/test-market.ts';

/**
 * Buying end to end, through HTTP only: a buyer and two sellers; the buyer carts items of both,
 * applies a coupon and checks out. Every scenario ends with the ledger balanced.
 */
let t: TestApp;
let http: Http;
let sellerA: Account;
let sellerB: Account;
let categoryId: string;

beforeAll(async () => {
  ({ t, http, categoryId } = await startTestMarket({ CHECKOUT_WAIT_MS: '8000', PAYMENTS_TEST_WEBHOOK_DELAY_MS: '50' }));
  [sellerA, sellerB] = await Promise.all([signUp(http, 'seller', 'seller-a'), signUp(http, 'seller', 'seller-b')]);
});

afterEach(async () => {
  await expectLedgerBalanced(t.app.pools.get('payments')!);
});

afterAll(async () => {
  await t?.close();
});

interface Shop {
  buyer: Account;
  mug: Listed;
  poster: Listed;
  code: string;
}

/** Seller A sells mugs (25.00) and a 10 % coupon, seller B posters (10.00); the buyer carts 2 mugs and 3 posters with the coupon. */
async function shop(label: string): Promise<Shop> {
  const buyer = await signUp(http, 'buyer', `buyer-${label}`);
  const mug = await listProduct(http, sellerA, { categoryId, title: `Mug ${label}`, price: 2500, stock: 10 }, waitFor);
  const poster = await listProduct(http, sellerB, { categoryId, title: `Poster ${label}`, price: 1000, stock: 5 }, waitFor);
  const { code } = await createCoupon(http, sellerA, { code: `TEN-${label.toUpperCase()}`, type: 'percentage', discount: 1000, maxUses: 5 });
  await fillCart(
    http,
    buyer,
    [
      { variantId: mug.variantId, quantity: 2 },
      { variantId: poster.variantId, quantity: 3 },
    ],
    [code],
  );
  return { buyer, mug, poster, code };
}

async function ordersOf(buyer: Account): Promise<{ id: string; status: string; sellerId: string; total: { amount: number } }[]> {
  const page = (await expectStatus('orders', http('GET', '/v1/orders?limit=50', { token: buyer.token }), 200)).json();
  return page.items;
}

async function usesOf(seller: Account, code: string): Promise<number> {
  const page = (await expectStatus('coupons', http('GET', '/v1/seller/coupons?limit=100', { token: seller.token }), 200)).json();
  return page.items.find((c: { code: string }) => c.code === code).usesCount;
}

describe('checkout through HTTP', () => {
  it('turns a cart of two sellers with a coupon into two paid orders, confirms the stock and redeems the coupon once', async () => {
    const { buyer, mug, poster, code } = await shop('happy');

    const answer = await expectStatus('checkout', checkout(http, buyer), 201);
    const session = answer.json();
    expect(answer.headers.location).toBe(`/v1/checkout/${session.id}`);
    expect(session.status).toBe('completed');
    expect(session.failure).toBeNull();
    expect(session.orderIds).toHaveLength(2);
    expect(session.steps.map((s: { status: string }) => s.status)).toEqual(Array(9).fill('succeeded'));
    // 2 × 25.00 + 3 × 10.00, less 10 % of seller A's mugs.
    expect(session.totals).toEqual({
      subtotal: { amount: 8000, currency: 'USD' },
      discount: { amount: 500, currency: 'USD' },
      shipping: { amount: 0, currency: 'USD' },
      total: { amount: 7500, currency: 'USD' },
    });

    await eventually(async () => {
      const orders = await ordersOf(buyer);
      expect(orders.map((o) => o.id).sort()).toEqual([...session.orderIds].sort());
      expect(orders.map((o) => o.status)).toEqual(['paid', 'paid']);
      const bySeller = Object.fromEntries(orders.map((o) => [o.sellerId, o.total.amount]));
      expect(bySeller).toEqual({ [sellerA.userId]: 4500, [sellerB.userId]: 3000 });
    });
    expect(await stockOf(http, sellerA, mug.variantId)).toEqual({ total: 8, available: 8, reserved: 0 });
    expect(await stockOf(http, sellerB, poster.variantId)).toEqual({ total: 2, available: 2, reserved: 0 });
    expect(await usesOf(sellerA, code)).toBe(1);

    const read = (await expectStatus('read session', http('GET', `/v1/checkout/${session.id}`, { token: buyer.token }), 200)).json();
    expect(read).toEqual(session);
    // The cart was checked out: a new checkout finds nothing to buy.
    expect((await checkout(http, buyer)).json().code).toBe('CART_EMPTY');
  });

  it('redeems a coupon for a category on the items of the categories under it, at the checkout too', async () => {
    const products = t.app.modules.find((m) => m.name === 'products') as unknown as { api: ProductsApi };
    const child = { ...categoryFixture(), parentId: categoryId };
    await products.api.importCategories([child]);
    const buyer = await signUp(http, 'buyer', 'buyer-subcategory');
    const lamp = await listProduct(http, sellerA, { categoryId: child.id, title: 'Lamp in a subcategory', price: 4000, stock: 3 }, waitFor);
    const { code } = await createCoupon(http, sellerA, { code: 'WHOLE-TREE', type: 'percentage', discount: 2500, rules: { categoryIds: [categoryId] } });
    await fillCart(http, buyer, [{ variantId: lamp.variantId, quantity: 1 }], [code]);
    const session = (await expectStatus('checkout', checkout(http, buyer), 201)).json();
    expect([session.status, session.totals.discount.amount, session.totals.total.amount]).toEqual(['completed', 1000, 3000]);
    expect(await usesOf(sellerA, code)).toBe(1);
  });

  it("gives a first-order coupon to a buyer whose only checkout, without coupons, was declined", async () => {
    const buyer = await signUp(http, 'buyer', 'buyer-first-order');
    const mug = await listProduct(http, sellerA, { categoryId, title: 'Mug first order', price: 2500, stock: 10 }, waitFor);
    const { code } = await createCoupon(http, sellerA, { code: 'FIRST-ORDER', type: 'percentage', discount: 1000, rules: { firstOrderOnly: true } });
    await fillCart(http, buyer, [{ variantId: mug.variantId, quantity: 1 }]);
    // The declined checkout was noted by coupons at its coupon step (an order on its way) and let go
    // by its compensation; its orders, placed then cancelled, reach coupons by events shortly after
    // (until the cancellation arrives, the placed order counts).
    expect((await expectStatus('declined', checkout(http, buyer, newId(), 'tok_decline'), 201)).json().status).toBe('compensated');
    await waitFor(() => expectStatus('apply first-order coupon', http('POST', '/v1/cart/coupons', { token: buyer.token, body: { code } }), 200, 201));
    const paid = (await expectStatus('checkout', checkout(http, buyer), 201)).json();
    expect(paid).toMatchObject({ status: 'completed', totals: { discount: { amount: 250 } } });
  });

  it('leaves nothing taken when the payment is declined: stock and coupon come back, orders are cancelled', async () => {
    const { buyer, mug, poster, code } = await shop('decline');

    const session = (await expectStatus('checkout', checkout(http, buyer, newId(), 'tok_decline'), 201)).json();
    expect(session.status).toBe('compensated');
    expect(session.failure).toMatchObject({ code: 'PAYMENT_DECLINED', step: 'authorize_payment' });
    // A finished session is at the step it stopped at, not at the last step its compensation undid.
    expect(session.currentStep).toBe('authorize_payment');
    const steps = Object.fromEntries(session.steps.map((s: { step: string; status: string }) => [s.step, s.status]));
    expect(steps).toMatchObject({
      price_snapshot: 'succeeded',
      reserve_stock: 'compensated',
      redeem_coupons: 'compensated',
      create_orders: 'compensated',
      authorize_payment: 'failed',
      capture_payment: 'not_started',
    });
    // The declined payment is named, as a paid one is, also when the session is read again.
    const payments = t.app.modules.find((m) => m.name === 'payments') as unknown as { api: PaymentsApi };
    expect((await payments.api.getIntent(session.paymentIntentId))?.status).toBe('failed');
    const reread = (await expectStatus('read session', http('GET', `/v1/checkout/${session.id}`, { token: buyer.token }), 200)).json();
    expect(reread.paymentIntentId).toBe(session.paymentIntentId);
    // The POST's answer is the session as recorded (found by a review: the undone steps' attempts
    // and times differed from a GET's).
    expect(session.steps).toEqual(reread.steps);

    expect(await stockOf(http, sellerA, mug.variantId)).toEqual({ total: 10, available: 10, reserved: 0 });
    expect(await stockOf(http, sellerB, poster.variantId)).toEqual({ total: 5, available: 5, reserved: 0 });
    expect(await usesOf(sellerA, code)).toBe(0);
    const orders = await ordersOf(buyer);
    expect(orders.map((o) => o.status)).toEqual(['cancelled', 'cancelled']);

    // The cart is still there: the buyer can pay with another card under a new key.
    const retried = (await expectStatus('retry', checkout(http, buyer), 201)).json();
    expect(retried.status).toBe('completed');
  });

  it('names the variant that is no longer for sale in the failure details (found by a review: they were empty)', async () => {
    const buyer = await signUp(http, 'buyer', 'unlisted-buyer');
    const lamp = await listProduct(http, sellerA, { categoryId, title: 'Lamp unlisted', price: 2500, stock: 10 }, waitFor);
    await fillCart(http, buyer, [{ variantId: lamp.variantId, quantity: 1 }]);
    await expectStatus('unlist', http('POST', `/v1/seller/products/${lamp.productId}/unlist`, { token: sellerA.token }), 200);
    const session = (await expectStatus('checkout', checkout(http, buyer), 201)).json();
    expect(session.failure).toMatchObject({ code: 'VARIANT_NOT_AVAILABLE', step: 'price_snapshot', details: { variantId: lamp.variantId } });
  });

  it('makes one set of orders for a repeated and for concurrent POSTs with the same key, and refuses the key with another body', async () => {
    const { buyer } = await shop('dup');
    const key = newId();

    const [first, second] = await Promise.all([checkout(http, buyer, key), checkout(http, buyer, key)]);
    for (const a of [first, second]) expect([201, 202, 409]).toContain(a.statusCode);
    // The request that made the session answers plainly; its twin, unless refused, is a replay.
    const winner = [first, second].find((a) => a.statusCode !== 409 && a.headers['idempotent-replayed'] === undefined) as HttpAnswer;
    expect(winner?.statusCode).toBe(201);
    const twin = winner === first ? second : first;
    if (twin.statusCode !== 409) expect(twin.headers['idempotent-replayed']).toBe('true');
    // A replay answers the first answer's status (201: the session had finished) and the session as it is.
    const again = await expectStatus('replay', checkout(http, buyer, key), 201);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.headers.location).toBe(winner.headers.location);
    expect(again.json().id).toBe(winner.json().id);
    expect(again.json().status).toBe('completed');
    for (const a of [first, second]) if (a.statusCode !== 409) expect(a.json().id).toBe(winner.json().id);

    await eventually(async () => expect((await ordersOf(buyer)).map((o) => o.status)).toEqual(['paid', 'paid']));

    const reused = await http('POST', '/v1/checkout', { token: buyer.token, headers: { 'idempotency-key': key }, body: checkoutBody('tok_decline') });
    expect(reused.statusCode).toBe(422);
    expect(reused.json().code).toBe('IDEMPOTENCY_KEY_REUSED');
  });

  it('requires an Idempotency-Key, and shows a session to its buyer only', async () => {
    const { buyer } = await shop('key');
    const missing = await http('POST', '/v1/checkout', { token: buyer.token, body: checkoutBody() });
    expect(missing.statusCode).toBe(400);
    expect(missing.json().code).toBe('IDEMPOTENCY_KEY_REQUIRED');
    // Keys are printable ASCII without spaces, as on every other route: two keys sent at once (joined by ", ") are refused too.
    // And a card number is no key: it would be stored with the session (found by a review).
    for (const key of ['my key', 'clé-1', `${newId()}, ${newId()}`, 'k'.repeat(256), '4111111111111111', 'checkout-4242-4242-4242-4242']) {
      const refused = await http('POST', '/v1/checkout', { token: buyer.token, headers: { 'idempotency-key': key }, body: checkoutBody() });
      expect([refused.statusCode, refused.json().code], key).toEqual([400, 'VALIDATION_FAILED']);
    }
    const cardNumber = await http('POST', '/v1/checkout', {
      token: buyer.token,
      headers: { 'idempotency-key': newId() },
      body: { ...checkoutBody(), paymentMethod: { token: 'tok_visa', number: '4242424242424242' } },
    });
    expect(cardNumber.statusCode).toBe(400);
    // A card number inside a token or pasted into the address is refused too, and nothing is opened.
    for (const body of [
      { ...checkoutBody(), paymentMethod: { token: 'tok_4242424242424242' } },
      { ...checkoutBody(), shippingAddress: { ...checkoutBody().shippingAddress, name: 'Ada 4111 1111 1111 1111' } },
      // An address no parcel can go to: blank lines, or no country (ZZ is user-assigned, UK reserved).
      { ...checkoutBody(), shippingAddress: { ...checkoutBody().shippingAddress, name: ' ', line1: '   ', city: '\t' } },
      { ...checkoutBody(), shippingAddress: { ...checkoutBody().shippingAddress, postalCode: '  ' } },
      // Control characters (a terminal escape, a C1 one) and a bidirectional override, which the order and the label would show.
      { ...checkoutBody(), shippingAddress: { ...checkoutBody().shippingAddress, name: 'Bo\u001b[2J\u0007' } },
      { ...checkoutBody(), shippingAddress: { ...checkoutBody().shippingAddress, line2: 'Flat 2\u009b' } },
      { ...checkoutBody(), shippingAddress: { ...checkoutBody().shippingAddress, city: 'Town\u202e' } },
      { ...checkoutBody(), shippingAddress: { ...checkoutBody().shippingAddress, country: 'ZZ' } },
      { ...checkoutBody(), shippingAddress: { ...checkoutBody().shippingAddress, country: 'UK' } },
      // A currency no money is in: made up, or ISO 4217's testing code.
      { ...checkoutBody(), currency: 'XYZ' },
      { ...checkoutBody(), currency: 'XTS' },
    ]) {
      const refused = await http('POST', '/v1/checkout', { token: buyer.token, headers: { 'idempotency-key': newId() }, body });
      expect(refused.statusCode, JSON.stringify(body.shippingAddress)).toBe(400);
      expect(refused.json()).toMatchObject({ code: 'VALIDATION_FAILED' });
    }
    const { rows: opened } = await t.app.pools.get('checkout')!.query('SELECT count(*)::int AS n FROM checkout_sessions WHERE user_id = $1', [buyer.userId]);
    expect(opened).toEqual([{ n: 0 }]);

    const session = (await expectStatus('checkout', checkout(http, buyer), 201)).json();
    const stranger = await signUp(http, 'buyer', 'stranger');
    expect((await http('GET', `/v1/checkout/${session.id}`, { token: stranger.token })).statusCode).toBe(404);
    expect((await http('GET', `/v1/checkout/${session.id}`, { token: sellerA.token })).statusCode).toBe(403);
  });

  it('waits for a payment whose outcome is unknown and completes it when the gateway answers, charging once', async () => {
    const { buyer } = await shop('timeout');
    const answer = await checkout(http, buyer, newId(), 'tok_timeout');
    expect([201, 202]).toContain(answer.statusCode);
    const id = answer.json().id;
    const done = await eventually(
      async () => {
        const s = (await expectStatus('read', http('GET', `/v1/checkout/${id}`, { token: buyer.token }), 200)).json();
        expect(s.status).toBe('completed');
        return s;
      },
      { timeoutMs: 15_000, intervalMs: 100 },
    );
    const intents = await t.app.pools
      .get('payments')!
      .query<{ n: number }>('SELECT count(*)::int AS n FROM payment_intents WHERE checkout_session_id = $1', [id]);
    expect(intents.rows[0]!.n).toBe(1);
    expect(done.paymentIntentId).not.toBeNull();
    // It did wait: the authorization was asked again (same key) once its outcome was known.
    expect(done.steps.find((s: { step: string }) => s.step === 'authorize_payment').attempts).toBeGreaterThan(1);
  });

  it('refunds and restocks an order the buyer cancels before shipment', async () => {
    const { buyer, mug } = await shop('cancel');
    const session = (await expectStatus('checkout', checkout(http, buyer), 201)).json();
    await eventually(async () => expect((await ordersOf(buyer)).map((o) => o.status)).toEqual(['paid', 'paid']));
    const mugOrder = (await ordersOf(buyer)).find((o) => o.sellerId === sellerA.userId)!;
    expect(session.orderIds).toContain(mugOrder.id);

    await expectStatus('cancel', http('POST', `/v1/orders/${mugOrder.id}/cancel`, { token: buyer.token, body: { reason: 'changed my mind' } }), 200);

    await eventually(async () => {
      const order = (await expectStatus('order', http('GET', `/v1/orders/${mugOrder.id}`, { token: buyer.token }), 200)).json();
      expect(['cancelled', 'refunded']).toContain(order.status);
      expect(order.refunds.map((r: { amount: { amount: number } }) => r.amount.amount)).toEqual([4500]);
    });
    // The poster order is untouched, and the mugs are back on sale (inventory restocks a cancelled sale).
    expect((await ordersOf(buyer)).find((o) => o.sellerId === sellerB.userId)?.status).toBe('paid');
    await eventually(async () => expect(await stockOf(http, sellerA, mug.variantId)).toEqual({ total: 10, available: 10, reserved: 0 }));
  });

  it('lets a seller cancel an order they cannot fulfil: the buyer is refunded and told why, stock and coupon come back, the other order stays', async () => {
    const { buyer, mug, code } = await shop('seller-cancel');
    await expectStatus('checkout', checkout(http, buyer), 201);
    await eventually(async () => expect((await ordersOf(buyer)).map((o) => o.status)).toEqual(['paid', 'paid']));
    const mugOrder = (await ordersOf(buyer)).find((o) => o.sellerId === sellerA.userId)!;
    const posterOrder = (await ordersOf(buyer)).find((o) => o.sellerId === sellerB.userId)!;
    const cancel = (seller: Account, orderId: string, body: unknown = { reason: 'the last mug broke in the warehouse' }) =>
      http('POST', `/v1/seller/orders/${orderId}/cancel`, { token: seller.token, body });

    // Not another seller's order, and a reason is required.
    expect((await cancel(sellerB, mugOrder.id)).statusCode).toBe(404);
    expect((await cancel(sellerA, mugOrder.id, {})).statusCode).toBe(400);
    const cancelled = await expectStatus('cancel', cancel(sellerA, mugOrder.id), 200);
    expect(cancelled.json()).toMatchObject({ id: mugOrder.id, status: 'cancelled' });
    expect((await expectStatus('again', cancel(sellerA, mugOrder.id), 200)).json().status).toBe('cancelled');

    await eventually(async () => {
      const order = (await expectStatus('order', http('GET', `/v1/orders/${mugOrder.id}`, { token: buyer.token }), 200)).json();
      expect(order.refunds.map((r: { amount: { amount: number } }) => r.amount.amount)).toEqual([mugOrder.total.amount]);
      expect(await stockOf(http, sellerA, mug.variantId)).toEqual({ total: 10, available: 10, reserved: 0 });
      expect(await usesOf(sellerA, code)).toBe(0);
      const notices = (await expectStatus('notifications', http('GET', '/v1/me/notifications', { token: buyer.token }), 200)).json().items as { type: string; body: string }[];
      expect(notices.find((n) => n.type === 'order_cancelled')?.body).toContain('by the seller, who cannot fulfil it (the last mug broke in the warehouse)');
    });
    expect((await ordersOf(buyer)).find((o) => o.id === posterOrder.id)?.status).toBe('paid');
  });

  it('cancels an order its seller refunded in full before shipping: stock and coupon come back, nothing more is refunded', async () => {
    const { buyer, mug, code } = await shop('refunded');
    await expectStatus('checkout', checkout(http, buyer), 201);
    await eventually(async () => expect((await ordersOf(buyer)).map((o) => o.status)).toEqual(['paid', 'paid']));
    const mugOrder = (await ordersOf(buyer)).find((o) => o.sellerId === sellerA.userId)!;
    expect(await usesOf(sellerA, code)).toBe(1);
    const readOrder = async () => (await expectStatus('order', http('GET', `/v1/orders/${mugOrder.id}`, { token: buyer.token }), 200)).json();

    // The seller cannot fulfil it and gives all the money back.
    const refund = { amount: { amount: mugOrder.total.amount, currency: 'USD' }, reason: 'out of stock at the warehouse' };
    await expectStatus('refund', http('POST', `/v1/seller/orders/${mugOrder.id}/refunds`, { token: sellerA.token, headers: { 'idempotency-key': newId() }, body: refund }), 201);
    await eventually(async () => expect(await readOrder()).toMatchObject({ status: 'refunded', fulfilmentStatus: 'paid' }));

    await expectStatus('cancel', http('POST', `/v1/orders/${mugOrder.id}/cancel`, { token: buyer.token, body: { reason: 'the seller cannot send it' } }), 200);
    expect(await readOrder()).toMatchObject({ status: 'cancelled', refunded: { amount: mugOrder.total.amount } });
    await eventually(async () => {
      expect(await stockOf(http, sellerA, mug.variantId)).toEqual({ total: 10, available: 10, reserved: 0 });
      expect(await usesOf(sellerA, code)).toBe(0);
    });
    // Payments had nothing left to refund: the seller's refund is the only one.
    expect((await readOrder()).refunds.map((r: { amount: { amount: number } }) => r.amount.amount)).toEqual([mugOrder.total.amount]);
  });
});
