import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { expectLedgerBalanced } from '../support/ledger.ts';
import { newId } from '../../src/platform/ids.ts';
import type { TestApp } from '../support/app.ts';
import { eventually } from '../support/eventually.ts';
import { type Account, type Http, checkout, expectStatus, fillCart, listProduct, signUp } from './fixtures/market.ts';
import { startTestMarket, waitFor } from './fixtures/test-market.ts';

/**
 * Replays of POST /v1/checkout (the same key and body): the first answer's status with
 * Idempotent-Replayed: true, and the session as it is now. The POST does not wait here
 * (CHECKOUT_WAIT_MS=0) and the test gateway settles a delayed payment after 3 s, so a first answer
 * is a 202 and the session is still running for the first replay.
 */
let t: TestApp;
let http: Http;
let seller: Account;
let variantId: string;

beforeAll(async () => {
  let categoryId: string;
  ({ t, http, categoryId } = await startTestMarket({ CHECKOUT_WAIT_MS: '0', PAYMENTS_TEST_WEBHOOK_DELAY_MS: '3000' }));
  seller = await signUp(http, 'seller', 'seller-replay');
  ({ variantId } = await listProduct(http, seller, { categoryId, title: 'Replayed mug', price: 2500, stock: 10 }, waitFor));
});

afterAll(async () => {
  await t?.close();
});

// Money moved in these tests: the ledger balances after each (test/support/ledger.ts).
afterEach(async () => {
  await expectLedgerBalanced(t.app.pools.get('payments')!);
});

async function buyerWithCart(label: string): Promise<Account> {
  const buyer = await signUp(http, 'buyer', label);
  await fillCart(http, buyer, [{ variantId, quantity: 1 }]);
  return buyer;
}

describe('a replayed checkout', () => {
  it('answers a first 202 again as 202 with Idempotent-Replayed while the saga runs, then as 201 with the finished session', async () => {
    const buyer = await buyerWithCart('buyer-replay-202');
    const key = newId();
    const first = await expectStatus('first', checkout(http, buyer, key, 'tok_delayed_webhook'), 202);
    expect(first.headers['idempotent-replayed']).toBeUndefined();
    expect(first.json().status).not.toBe('completed');

    const running = await expectStatus('replay while running', checkout(http, buyer, key, 'tok_delayed_webhook'), 202);
    expect(running.headers['idempotent-replayed']).toBe('true');
    expect(running.headers.location).toBe(first.headers.location);
    expect(running.json().id).toBe(first.json().id);
    expect(running.json().status).not.toBe('completed');

    await eventually(
      async () => expect((await expectStatus('read', http('GET', `/v1/checkout/${first.json().id}`, { token: buyer.token }), 200)).json().status).toBe('completed'),
      { timeoutMs: 20_000, intervalMs: 100 },
    );
    const finished = await expectStatus('replay once finished', checkout(http, buyer, key, 'tok_delayed_webhook'), 201);
    expect(finished.headers['idempotent-replayed']).toBe('true');
    expect(finished.headers.location).toBe(first.headers.location);
    expect(finished.json()).toMatchObject({ id: first.json().id, status: 'completed' });
    expect(finished.json().orderIds).toHaveLength(1);
  });
});
