import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { expectLedgerBalanced } from '../support/ledger.ts';
import { newId } from '../../src/platform/ids.ts';
import type { TestApp } from '../support/app.ts';
import { type Account, type Http, type HttpAnswer, type Listed, expectStatus, fillCart, listProduct, signUp } from './fixtures/market.ts';
import { startTestMarket, waitFor } from './fixtures/test-market.ts';

/** Checking out to a saved address (the buyer's profile, read through accounts' public API). */
let t: TestApp;
let http: Http;
let seller: Account;
let mug: Listed;

const payment = { paymentMethod: { token: 'tok_visa' } };
const HOME = { label: 'Home', name: 'Ada Buyer', lines: ['1 Market Street', 'Flat 2', 'Back door'], city: 'Springfield', postalCode: '12345', country: 'US', isDefault: true };
const OFFICE = { label: 'office', name: 'Ada at work', lines: ['9 Tower Road'], city: 'Shelbyville', region: 'IL', postalCode: '54321', country: 'US', phone: '+15551234567' };

beforeAll(async () => {
  let categoryId: string;
  ({ t, http, categoryId } = await startTestMarket({ CHECKOUT_WAIT_MS: '8000', PAYMENTS_TEST_WEBHOOK_DELAY_MS: '50' }));
  seller = await signUp(http, 'seller', 'seller-addresses');
  mug = await listProduct(http, seller, { categoryId, title: 'Address mug', price: 1200, stock: 50 }, waitFor);
});

afterAll(async () => {
  await t?.close();
});

// Money moved in these tests: the ledger balances after each (test/support/ledger.ts).
afterEach(async () => {
  await expectLedgerBalanced(t.app.pools.get('payments')!);
});

function checkout(buyer: Account, body: Record<string, unknown>): Promise<HttpAnswer> {
  return http('POST', '/v1/checkout', { token: buyer.token, headers: { 'idempotency-key': newId() }, body });
}

async function addressOfOrder(buyer: Account, orderId: string): Promise<Record<string, unknown>> {
  return (await expectStatus('order', http('GET', `/v1/orders/${orderId}`, { token: buyer.token }), 200)).json().shippingAddress;
}

describe('checkout to a saved address', () => {
  it('ships to the default saved address when none is sent, and to the one named by its label', async () => {
    const buyer = await signUp(http, 'buyer', 'buyer-addresses');
    await expectStatus('profile', http('PATCH', '/v1/me/profile', { token: buyer.token, body: { addresses: [OFFICE, HOME] } }), 200);

    await fillCart(http, buyer, [{ variantId: mug.variantId, quantity: 1 }]);
    const home = (await expectStatus('checkout home', checkout(buyer, payment), 201)).json();
    expect(home.status).toBe('completed');
    expect(await addressOfOrder(buyer, home.orderIds[0])).toEqual({
      name: 'Ada Buyer',
      line1: '1 Market Street',
      line2: 'Flat 2, Back door',
      city: 'Springfield',
      postalCode: '12345',
      country: 'US',
    });

    // The seller reads where to ship from the list of their orders (there is no other seller view of an order).
    const sellerList = (await expectStatus('seller orders', http('GET', '/v1/seller/orders?limit=100', { token: seller.token }), 200)).json();
    const mine = sellerList.items.find((o: { id: string }) => o.id === home.orderIds[0]);
    expect(mine.shippingAddress).toEqual(await addressOfOrder(buyer, home.orderIds[0]));

    await fillCart(http, buyer, [{ variantId: mug.variantId, quantity: 1 }]);
    const office = (await expectStatus('checkout office', checkout(buyer, { ...payment, shippingAddressLabel: 'OFFICE' }), 201)).json();
    expect(await addressOfOrder(buyer, office.orderIds[0])).toEqual({
      name: 'Ada at work',
      line1: '9 Tower Road',
      city: 'Shelbyville',
      region: 'IL',
      postalCode: '54321',
      country: 'US',
      phone: '+15551234567',
    });
  });

  it('refuses an unknown label, a missing address and both ways at once, opening no session', async () => {
    const buyer = await signUp(http, 'buyer', 'buyer-no-address');
    await fillCart(http, buyer, [{ variantId: mug.variantId, quantity: 1 }]);
    const none = await checkout(buyer, payment);
    expect([none.statusCode, none.json().code]).toEqual([422, 'UNPROCESSABLE']);
    expect(none.json().detail).toMatch(/save a default address/);

    await expectStatus('profile', http('PATCH', '/v1/me/profile', { token: buyer.token, body: { addresses: [OFFICE] } }), 200);
    const unknown = await checkout(buyer, { ...payment, shippingAddressLabel: 'cottage' });
    expect([unknown.statusCode, unknown.json().code]).toEqual([422, 'UNPROCESSABLE']);
    const both = await checkout(buyer, { ...payment, shippingAddressLabel: 'office', shippingAddress: { name: 'A', line1: 'B', city: 'C', postalCode: '1', country: 'US' } });
    expect([both.statusCode, both.json().code]).toEqual([400, 'VALIDATION_FAILED']);
    const { rows } = await t.app.pools.get('checkout')!.query('SELECT count(*)::int AS n FROM checkout_sessions WHERE user_id = $1', [buyer.userId]);
    expect(rows[0].n).toBe(0);

    // The only saved address counts as the default.
    const only = (await expectStatus('checkout', checkout(buyer, payment), 201)).json();
    expect((await addressOfOrder(buyer, only.orderIds[0])).name).toBe('Ada at work');
  });

  it('refuses a saved address whose lines 2 and 3 together are longer than a shipping address line, opening no session', async () => {
    const buyer = await signUp(http, 'buyer', 'buyer-long-lines');
    const long = { ...OFFICE, lines: ['9 Tower Road', 'b'.repeat(190), 'c'.repeat(190)] };
    // The profile refuses such lines now (400); an address saved before it did, as it was stored.
    await expectStatus('profile', http('PATCH', '/v1/me/profile', { token: buyer.token, body: { addresses: [long] } }), 400);
    await t.app.pools.get('accounts')!.query('UPDATE user_profiles SET address_json = $2 WHERE user_id = $1', [buyer.userId, JSON.stringify([long])]);
    await fillCart(http, buyer, [{ variantId: mug.variantId, quantity: 1 }]);
    const answer = await checkout(buyer, { ...payment, shippingAddressLabel: 'office' });
    expect([answer.statusCode, answer.json().code]).toEqual([422, 'UNPROCESSABLE']);
    expect(answer.json().detail).toMatch(/line2 is too long/);
    expect(answer.json().detail).not.toMatch(/characters matching/);
    const { rows } = await t.app.pools.get('checkout')!.query('SELECT count(*)::int AS n FROM checkout_sessions WHERE user_id = $1', [buyer.userId]);
    expect(rows[0].n).toBe(0);
  });

  it('copies no card number from a saved address into an order, also one saved before profiles were checked', async () => {
    const buyer = await signUp(http, 'buyer', 'buyer-card-address');
    const refused = await http('PATCH', '/v1/me/profile', { token: buyer.token, body: { addresses: [{ ...OFFICE, name: '4242424242424242' }] } });
    expect([refused.statusCode, refused.json().code]).toEqual([400, 'VALIDATION_FAILED']);
    // What an older version let through, written as it would have been stored.
    await t.app.pools.get('accounts')!.query('UPDATE user_profiles SET address_json = $2 WHERE user_id = $1', [buyer.userId, JSON.stringify([{ ...OFFICE, name: '4242424242424242' }])]);
    await fillCart(http, buyer, [{ variantId: mug.variantId, quantity: 1 }]);
    const answer = await checkout(buyer, { ...payment, shippingAddressLabel: 'office' });
    expect([answer.statusCode, answer.json().code]).toEqual([422, 'UNPROCESSABLE']);
    expect(answer.json().detail).toContain('card number');
    expect(answer.body).not.toContain('4242424242424242');
    const { rows } = await t.app.pools.get('checkout')!.query('SELECT count(*)::int AS n FROM checkout_sessions WHERE user_id = $1', [buyer.userId]);
    expect(rows[0].n).toBe(0);
  });
});
