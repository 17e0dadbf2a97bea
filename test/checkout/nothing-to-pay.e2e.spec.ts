import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { expectLedgerBalanced } from '../support/ledger.ts';
import type { PaymentsApi } from '../../src/domains/payments/index.ts';
import { eventually } from '../support/eventually.ts';
import type { TestApp } from '../support/app.ts';
import { type Account, type Http, type Listed, checkout, createCoupon, expectStatus, fillCart, listProduct, signUp, stockOf } from './fixtures/market.ts';
import { startTestMarket, waitFor } from './fixtures/test-market.ts';

/**
 * Free orders (ADR 0015): an order that comes to 0 (a 100 % coupon, items priced 0) is created like
 * any other, has no share in the payment, and is paid without one once the payment step is done.
 * A checkout whose orders all owe nothing makes no payment at all; with other sellers' orders, the
 * payment covers those alone, and a decline cancels the free order with the rest.
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

// Money moved in these tests: the ledger balances after each (test/support/ledger.ts).
afterEach(async () => {
  await expectLedgerBalanced(t.app.pools.get('payments')!);
});

async function usesOf(code: string): Promise<number> {
  const page = (await expectStatus('coupons', http('GET', '/v1/seller/coupons?limit=100', { token: seller.token }), 200)).json();
  return page.items.find((c: { code: string }) => c.code === code).usesCount;
}

type OrderView = { id: string; status: string; sellerId: string; total: { amount: number }; payments: unknown[]; refunds: unknown[] };

async function orderOf(buyer: Account, orderId: string): Promise<OrderView> {
  return (await expectStatus('order', http('GET', `/v1/orders/${orderId}`, { token: buyer.token }), 200)).json();
}

/** Payments made for a checkout session, and ledger journals posted for them, read from payments' own database. */
async function moneyOf(sessionId: string): Promise<{ intents: number; journals: number }> {
  const pool = t.app.pools.get('payments')!;
  const { rows } = await pool.query<{ intents: number; journals: number }>(
    `SELECT (SELECT count(*)::int FROM payment_intents WHERE checkout_session_id = $1) AS intents,
            (SELECT count(*)::int FROM ledger_journals j JOIN payment_intents i ON i.id = j.reference_id WHERE i.checkout_session_id = $1) AS journals`,
    [sessionId],
  );
  return rows[0]!;
}

describe('a checkout with nothing to pay', () => {
  it('completes without a payment when coupons take the whole total: the order is paid, the stock confirmed, the coupon used once', async () => {
    const { code } = await createCoupon(http, seller, { code: 'ALL-OFF', type: 'percentage', discount: 10000 });
    const buyer = await signUp(http, 'buyer', 'buyer-free');
    await fillCart(http, buyer, [{ variantId: lamp.variantId, quantity: 2 }]);
    await expectStatus('apply coupon', http('POST', '/v1/cart/coupons', { token: buyer.token, body: { code } }), 200, 201);

    const session = (await expectStatus('checkout', checkout(http, buyer), 201)).json();
    expect(session).toMatchObject({ status: 'completed', failure: null, paymentIntentId: null, totals: { subtotal: { amount: 5000 }, discount: { amount: 5000 }, total: { amount: 0 } } });
    expect(session.orderIds).toHaveLength(1);
    const steps = Object.fromEntries(session.steps.map((s: { step: string; status: string }) => [s.step, s.status]));
    expect(steps).toMatchObject({ authorize_payment: 'succeeded', capture_payment: 'succeeded', complete: 'succeeded' });

    const order = await orderOf(buyer, session.orderIds[0]);
    expect(order).toMatchObject({ status: 'paid', total: { amount: 0 }, payments: [] });
    expect(await moneyOf(session.id)).toEqual({ intents: 0, journals: 0 });
    expect(await usesOf(code)).toBe(1);
    expect(await stockOf(http, seller, lamp.variantId)).toMatchObject({ total: 8, available: 8, reserved: 0 });

    // Its seller has nothing to refund: payments knows no charge for it.
    const refund = await http('POST', `/v1/seller/orders/${order.id}/refunds`, {
      token: seller.token,
      headers: { 'idempotency-key': 'free-refund' },
      body: { amount: { amount: 1, currency: 'USD' }, reason: 'goodwill' },
    });
    expect(refund.json()).toMatchObject({ status: 404, code: 'NOT_FOUND' });
    expect(refund.json().detail).toContain('nothing was charged');

    // Cancelled before shipment, it gives the stock and the coupon back, with nothing to refund.
    await expectStatus('cancel', http('POST', `/v1/orders/${order.id}/cancel`, { token: buyer.token, body: { reason: 'changed my mind' } }), 200);
    expect(await orderOf(buyer, order.id)).toMatchObject({ status: 'cancelled', refunds: [] });
    await eventually(async () => expect(await stockOf(http, seller, lamp.variantId)).toMatchObject({ total: 10, available: 10, reserved: 0 }));
    await eventually(async () => expect(await usesOf(code)).toBe(0));
    expect(await moneyOf(session.id)).toEqual({ intents: 0, journals: 0 });
  });

  it('completes without a payment when the items cost nothing', async () => {
    const buyer = await signUp(http, 'buyer', 'buyer-sticker');
    await fillCart(http, buyer, [{ variantId: freebie.variantId, quantity: 3 }]);
    const session = (await expectStatus('checkout', checkout(http, buyer), 201)).json();
    expect(session).toMatchObject({ status: 'completed', paymentIntentId: null, totals: { total: { amount: 0 } } });
    expect(await orderOf(buyer, session.orderIds[0])).toMatchObject({ status: 'paid', payments: [] });
    expect(await moneyOf(session.id)).toEqual({ intents: 0, journals: 0 });
    expect(await stockOf(http, seller, freebie.variantId)).toMatchObject({ total: 7, available: 7, reserved: 0 });
  });

  it('charges only the orders that owe money when one seller’s order is free', async () => {
    const { code } = await createCoupon(http, seller, { code: 'SELLER-ALL-OFF', type: 'percentage', discount: 10000 });
    const buyer = await signUp(http, 'buyer', 'buyer-two-sellers');
    await fillCart(http, buyer, [
      { variantId: lamp.variantId, quantity: 1 },
      { variantId: vase.variantId, quantity: 1 },
    ]);
    await expectStatus('apply coupon', http('POST', '/v1/cart/coupons', { token: buyer.token, body: { code } }), 200, 201);
    const session = (await expectStatus('checkout', checkout(http, buyer), 201)).json();
    expect(session).toMatchObject({ status: 'completed', totals: { total: { amount: 4000 } } });
    expect(session.orderIds).toHaveLength(2);

    const orders = await Promise.all(session.orderIds.map((id: string) => orderOf(buyer, id)));
    const free = orders.find((o) => o.sellerId === seller.userId)!;
    const paid = orders.find((o) => o.sellerId === otherSeller.userId)!;
    const payments = t.app.modules.find((m) => m.name === 'payments') as unknown as { api: PaymentsApi };
    const intent = await payments.api.getIntent(session.paymentIntentId);
    expect(intent).toMatchObject({ status: 'captured', amount: 4000, capturedAmount: 4000 });
    expect(intent?.allocations).toEqual([expect.objectContaining({ orderId: paid.id, sellerId: otherSeller.userId, amount: 4000 })]);
    expect(free).toMatchObject({ status: 'paid', total: { amount: 0 }, payments: [] });
    // The paid order learns of its capture from payments' event.
    await eventually(async () => expect(await orderOf(buyer, paid.id)).toMatchObject({ status: 'paid', total: { amount: 4000 } }));
    expect(await moneyOf(session.id)).toEqual({ intents: 1, journals: 1 });
    expect(await usesOf(code)).toBe(1);
  });

  it('cancels the free order with the others when the payment for the rest is declined, and gives everything back', async () => {
    const { code } = await createCoupon(http, seller, { code: 'SELLER-FREE-DECLINED', type: 'percentage', discount: 10000 });
    const buyer = await signUp(http, 'buyer', 'buyer-declined');
    const lampBefore = await stockOf(http, seller, lamp.variantId);
    const vaseBefore = await stockOf(http, otherSeller, vase.variantId);
    await fillCart(http, buyer, [
      { variantId: lamp.variantId, quantity: 1 },
      { variantId: vase.variantId, quantity: 1 },
    ]);
    await expectStatus('apply coupon', http('POST', '/v1/cart/coupons', { token: buyer.token, body: { code } }), 200, 201);
    const session = (await expectStatus('checkout', checkout(http, buyer, undefined, 'tok_decline'), 201)).json();
    expect(session.status).toBe('compensated');
    expect(session.failure).toMatchObject({ code: 'PAYMENT_DECLINED', step: 'authorize_payment' });
    const orders = await Promise.all(session.orderIds.map((id: string) => orderOf(buyer, id)));
    expect(orders.map((o) => o.status)).toEqual(['cancelled', 'cancelled']);
    expect(await usesOf(code)).toBe(0);
    expect(await stockOf(http, seller, lamp.variantId)).toEqual(lampBefore);
    expect(await stockOf(http, otherSeller, vase.variantId)).toEqual(vaseBefore);
  });
});
