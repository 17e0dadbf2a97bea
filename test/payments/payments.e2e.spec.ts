import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { OrderCancelledV1 } from '../../src/contracts/orders.ts';
import type { OrdersApi } from '../../src/domains/orders/index.ts';
import { checkoutInput } from '../../src/domains/orders/spec-support.ts';
import type { PaymentsModule } from '../../src/domains/payments/index.ts';
import { withTransaction } from '../../src/platform/db/pool.ts';
import { newId } from '../../src/platform/ids.ts';
import { appendEvents } from '../../src/platform/messaging/outbox.ts';
import { type TestApp, startTestApp } from '../support/app.ts';
import { eventually } from '../support/eventually.ts';
import { expectLedgerBalanced } from '../support/ledger.ts';
import { paymentFor } from './harness.ts';

let t: TestApp;
let payments: PaymentsModule;

beforeAll(async () => {
  t = await startTestApp({ PAYMENTS_TEST_GATEWAY_LATENCY_MS: '0', PAYMENTS_TEST_WEBHOOK_DELAY_MS: '20' });
  payments = t.app.modules.find((m) => m.name === 'payments') as PaymentsModule;
});
afterEach(async () => {
  await expectLedgerBalanced(t.app.pools.get('payments') as never);
});
afterAll(async () => {
  await t?.close();
});

describe('payments in the running marketplace', () => {
  it("authorizes a delayed payment when the test gateway's signed webhook arrives through the route", async () => {
    const { intentId, status } = await payments.api.authorize(paymentFor([{ sellerId: newId(), amount: 1234 }], 'tok_delayed_webhook'));
    expect(status).toBe('processing');
    await eventually(async () => expect((await payments.api.getIntent(intentId))?.status).toBe('authorized'));
  });

  it("refunds a paid order's part when the orders domain says the order was cancelled", async () => {
    const sellerId = newId();
    const input = paymentFor([{ sellerId, amount: 2000 }, { sellerId: newId(), amount: 1000 }]);
    const { intentId } = await payments.api.authorize(input);
    await payments.api.capture(intentId);
    const orderId = input.allocations[0]?.orderId as string;
    const now = new Date().toISOString();
    const cancelled: OrderCancelledV1 = {
      orderId,
      orderNumber: 'BZ-E2E-0001',
      checkoutSessionId: input.checkoutSessionId,
      buyerId: input.buyerId,
      sellerId,
      status: 'cancelled',
      currency: 'USD',
      subtotalAmount: 2000,
      discountAmount: 0,
      shippingAmount: 0,
      totalAmount: 2000,
      refundedAmount: 0,
      items: [
        { itemId: newId(), productId: newId(), variantId: newId(), sku: 'E2E-1', title: 'Lamp', variantAttributes: {}, unitPrice: 2000, quantity: 1, discountAmount: 0, lineTotal: 2000 },
      ],
      placedAt: now,
      reason: 'buyer cancelled before shipment',
      wasPaid: true,
      previousStatus: 'paid',
      actorType: 'buyer',
      cancelledBy: input.buyerId,
      cancelledAt: now,
    };
    // The test plays the orders domain: the event enters through the orders outbox like a real one.
    await withTransaction(t.app.pools.get('orders') as never, (tx) =>
      appendEvents(tx, 'orders', [{ type: OrderCancelledV1.type, aggregateId: orderId, aggregateType: 'order', data: cancelled }], null),
    );
    await eventually(async () => {
      const intent = await payments.api.getIntent(intentId);
      expect(intent?.status).toBe('partially_refunded');
      expect(intent?.allocations.find((a) => a.orderId === orderId)?.refundedAmount).toBe(2000);
    });
    const seller = (await t.app.tokens.sign({ userId: sellerId, roles: ['seller'] })).token;
    const balance = await t.request('GET', '/v1/seller/payments/balance', { token: seller });
    expect(balance.json()).toEqual({ account: `seller_payable:${sellerId}`, balances: [{ amount: 0, currency: 'USD' }] });
  });

  it("refuses orders whose totals cannot be made as the caller's bug (TypeError), as documented, placing nothing", async () => {
    const orders = (t.app.modules.find((m) => m.name === 'orders') as unknown as { api: OrdersApi }).api;
    const [buyerId, sellerId] = [newId(), newId()];
    const base = checkoutInput(buyerId, [{ sellerId, lines: [{ unitPrice: 2500, quantity: 2 }] }]);
    // A discount above the lines' gross: a RangeError of the totals, which the docs call a TypeError.
    await expect(orders.createOrdersForCheckout({ ...base, orders: base.orders.map((o) => ({ ...o, discountAmount: 6000 })) })).rejects.toThrow(TypeError);
    expect(await orders.cancelOrdersForCheckout(base.checkoutSessionId, 'nothing placed')).toEqual([]);
  });

  it('refunds the rest of an order its seller partly refunded when the buyer cancels it before shipment, and the order records both', async () => {
    const orders = (t.app.modules.find((m) => m.name === 'orders') as unknown as { api: OrdersApi }).api;
    const [buyerId, sellerId] = [newId(), newId()];
    // In USD like the other payments here: the ledger listing below counts one row per account.
    const checkout = { ...checkoutInput(buyerId, [{ sellerId, lines: [{ unitPrice: 2500, quantity: 2 }] }]), currency: 'USD' };
    const [order] = await orders.createOrdersForCheckout(checkout);
    if (!order) throw new Error('no order placed');
    const { intentId } = await payments.api.authorize({
      idempotencyKey: `pay-${newId()}`,
      checkoutSessionId: checkout.checkoutSessionId,
      buyerId,
      amount: order.totalAmount,
      currency: order.currency,
      paymentMethod: { token: 'tok_visa' },
      allocations: [{ orderId: order.orderId, sellerId, amount: order.totalAmount }],
    });
    await payments.api.capture(intentId);
    const buyer = (await t.app.tokens.sign({ userId: buyerId, roles: ['buyer'] })).token;
    const seller = (await t.app.tokens.sign({ userId: sellerId, roles: ['seller'] })).token;
    const readOrder = async () => (await t.request('GET', `/v1/orders/${order.orderId}`, { token: buyer })).json();
    await eventually(async () => expect(await readOrder()).toMatchObject({ status: 'paid' }));

    // Reasons are kept for good (append-only refunds, the order's history, events): no card data, no blank text.
    for (const reason of ['refunded to card 4242 4242 4242 4242 cvc 123', 'tok_4242424242424242', '   ']) {
      const refused = await t.request('POST', `/v1/seller/orders/${order.orderId}/refunds`, {
        token: seller,
        headers: { 'idempotency-key': newId() },
        body: { amount: { amount: 100, currency: order.currency }, reason },
      });
      expect(refused.statusCode, reason).toBe(400);
      expect(refused.json().code).toBe('VALIDATION_FAILED');
    }
    const cardInCancel = await t.request('POST', `/v1/orders/${order.orderId}/cancel`, { token: buyer, body: { reason: 'my card 4111 1111 1111 1111 exp 12/29' } });
    expect(cardInCancel.statusCode).toBe(400);
    const cardInNote = await t.request('POST', `/v1/seller/orders/${order.orderId}/fulfilment`, { token: seller, body: { note: 'charged 5555-5555-5555-4444 again' } });
    expect(cardInNote.statusCode).toBe(400);
    expect(await readOrder()).toMatchObject({ status: 'paid', refunds: [] });

    const refund = await t.request('POST', `/v1/seller/orders/${order.orderId}/refunds`, {
      token: seller,
      headers: { 'idempotency-key': newId() },
      body: { amount: { amount: 1000, currency: order.currency }, reason: 'one cup arrived chipped' },
    });
    expect(refund.statusCode, refund.body).toBe(201);
    await eventually(async () => expect(await readOrder()).toMatchObject({ status: 'partially_refunded', fulfilmentStatus: 'paid', refunded: { amount: 1000 } }));

    const cancel = await t.request('POST', `/v1/orders/${order.orderId}/cancel`, { token: buyer, body: { reason: 'no longer needed' } });
    expect(cancel.statusCode, cancel.body).toBe(200);
    await eventually(async () => {
      expect((await payments.api.getIntent(intentId))?.allocations[0]).toMatchObject({ capturedAmount: order.totalAmount, refundedAmount: order.totalAmount });
      const after = await readOrder();
      expect(after).toMatchObject({ status: 'cancelled', fulfilmentStatus: 'paid', refunded: { amount: order.totalAmount } });
      expect(after.refunds.map((r: { amount: { amount: number } }) => r.amount.amount).sort()).toEqual([1000, order.totalAmount - 1000].sort());
    });
  });

  it('answers ledger sums beyond 2^53 exactly, as JSON integers of every digit (found by a helper: they were a 500 for good)', async () => {
    const sellerId = newId();
    const amount = 8_000_000_000_000_000; // one payment stays below 2^53; two do not
    for (let i = 0; i < 2; i++) {
      const { intentId } = await payments.api.authorize(paymentFor([{ sellerId, amount }], 'tok_visa', 'VND'));
      expect((await payments.api.capture(intentId)).status).toBe('captured');
    }
    const seller = (await t.app.tokens.sign({ userId: sellerId, roles: ['seller'] })).token;
    const balance = await t.request('GET', '/v1/seller/payments/balance', { token: seller });
    expect(balance.statusCode, balance.body).toBe(200);
    const payable = (2n * BigInt(amount) * 9n) / 10n; // what is left after the 10 % commission
    expect(balance.body).toContain(`"balances":[{"amount":${payable},"currency":"VND"}]`);
    const admin = (await t.app.tokens.sign({ userId: newId(), roles: ['admin'] })).token;
    const clearing = await t.request('GET', '/v1/admin/payments/ledger/accounts?account=gateway_clearing&limit=100', { token: admin });
    expect(clearing.statusCode, clearing.body).toBe(200);
    // Only the account asked, in each of its currencies.
    expect(clearing.json().items.map((i: { account: string }) => i.account)).toEqual(clearing.json().items.map(() => 'gateway_clearing'));
    expect(clearing.json().items.map((i: { currency: string }) => i.currency)).toContain('VND');
    const captured = 2n * BigInt(amount);
    expect(clearing.body).toContain(`"currency":"VND","debits":{"amount":${captured},"currency":"VND"},"credits":{"amount":0,"currency":"VND"},"balance":{"amount":${captured},"currency":"VND"}`);
    expect((await t.request('GET', '/v1/admin/payments/ledger/accounts?limit=100', { token: admin })).statusCode).toBe(200);
  });

  it('lists ledger accounts with their balances for admins only', async () => {
    const admin = (await t.app.tokens.sign({ userId: newId(), roles: ['admin'] })).token;
    const page = await t.request('GET', '/v1/admin/payments/ledger/accounts?limit=2', { token: admin });
    expect(page.statusCode).toBe(200);
    expect(page.json().items).toHaveLength(2);
    const next = await t.request('GET', `/v1/admin/payments/ledger/accounts?limit=100&cursor=${page.json().nextCursor}`, { token: admin });
    const accounts = [...page.json().items, ...next.json().items].map((i: { account: string; currency: string }) => `${i.account} ${i.currency}`);
    expect(new Set(accounts).size).toBe(accounts.length);
    expect(accounts).toContain('gateway_clearing USD');
    // Money as everywhere in the API, the balance on the account's normal side.
    const clearing = [...page.json().items, ...next.json().items].find((i: { account: string; currency: string }) => i.account === 'gateway_clearing' && i.currency === 'USD');
    expect(clearing).toMatchObject({ kind: 'asset', debits: { currency: clearing.currency }, credits: { currency: clearing.currency } });
    expect(clearing.balance).toEqual({ amount: clearing.debits.amount - clearing.credits.amount, currency: clearing.currency });
    const seller = (await t.app.tokens.sign({ userId: newId(), roles: ['seller'] })).token;
    expect((await t.request('GET', '/v1/admin/payments/ledger/accounts', { token: seller })).statusCode).toBe(403);
  });
});
