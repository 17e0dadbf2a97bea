import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { newId } from '../../src/platform/ids.ts';
import type { TestApp } from '../support/app.ts';
import { eventually } from '../support/eventually.ts';
import { expectLedgerBalanced } from '../support/ledger.ts';
import { type Account, type Http, type HttpAnswer, type Listed, checkout, createCoupon, expectStatus, fillCart, listProduct, signUp, stockOf } from './fixtures/market.ts';
import { startTestMarket, waitFor } from './fixtures/test-market.ts';

/**
 * Issue 4: "500 simultaneous checkouts with a 50-use coupon → exactly 50 redemptions", through the
 * whole saga over HTTP: every buyer's cart carries the coupon, all 500 check out at once, and the
 * coupon's row decides who gets it; the others' sessions are compensated with their stock back.
 */
const BUYERS = 500;
const USES = 50;

let t: TestApp;
let http: Http;
let seller: Account;
let mug: Listed;
let code: string;
let buyers: Account[];

beforeAll(async () => {
  let categoryId: string;
  ({ t, http, categoryId } = await startTestMarket({ CHECKOUT_WAIT_MS: '30000', PAYMENTS_TEST_WEBHOOK_DELAY_MS: '50' }));
  seller = await signUp(http, 'seller', 'seller-race');
  mug = await listProduct(http, seller, { categoryId, title: 'Race mug', price: 2000, stock: BUYERS }, waitFor);
  ({ code } = await createCoupon(http, seller, { code: 'FIFTY-USES', type: 'percentage', discount: 1000, maxUses: USES }));
  // Buyers with tokens of their own (500 registrations would only time password hashing).
  buyers = await Promise.all(
    Array.from({ length: BUYERS }, async () => {
      const userId = newId();
      const { token } = await t.app.tokens.sign({ userId, roles: ['buyer'] });
      return { userId, token, email: `${userId}@example.test` };
    }),
  );
  for (let i = 0; i < BUYERS; i += 50) {
    await Promise.all(buyers.slice(i, i + 50).map((buyer) => fillCart(http, buyer, [{ variantId: mug.variantId, quantity: 1 }], [code])));
  }
}, 180_000);

afterAll(async () => {
  await t?.close();
});

// Money moved in these tests: the ledger balances after each (test/support/ledger.ts).
afterEach(async () => {
  await expectLedgerBalanced(t.app.pools.get('payments')!);
});

type Session = { id: string; status: string; failure: { code: string; details: Record<string, unknown> } | null; totals: { discount: { amount: number } } | null };

/** The session's end, read again until it has one when the POST answered before it was done. */
async function finished(buyer: Account, answer: HttpAnswer): Promise<Session> {
  expect([201, 202]).toContain(answer.statusCode);
  const first = answer.json() as Session;
  if (['completed', 'failed', 'compensated'].includes(first.status)) return first;
  return eventually(
    async () => {
      const session = (await expectStatus('session', http('GET', `/v1/checkout/${first.id}`, { token: buyer.token }), 200)).json() as Session;
      expect(['completed', 'failed', 'compensated']).toContain(session.status);
      return session;
    },
    { timeoutMs: 60_000, intervalMs: 200 },
  );
}

describe('a 50-use coupon and 500 simultaneous checkouts', () => {
  it('is redeemed exactly 50 times: 50 checkouts complete with it, the other 450 are compensated and give their stock back', async () => {
    const answers = await Promise.all(buyers.map((buyer) => checkout(http, buyer)));
    const sessions = await Promise.all(answers.map((answer, i) => finished(buyers[i]!, answer)));

    const completed = sessions.filter((s) => s.status === 'completed');
    expect(completed).toHaveLength(USES);
    for (const s of completed) expect(s.totals?.discount.amount).toBe(200);
    const refused = sessions.filter((s) => s.status !== 'completed');
    expect(refused.map((s) => `${s.status} ${s.failure?.code}`)).toEqual(Array(BUYERS - USES).fill('compensated COUPON_EXHAUSTED'));
    // Each names the coupon refused, for a client to take it off the cart.
    for (const s of refused) expect(s.failure?.details).toEqual({ couponCode: code, reason: 'exhausted' });

    const coupons = (await expectStatus('coupons', http('GET', '/v1/seller/coupons?limit=100', { token: seller.token }), 200)).json();
    expect(coupons.items.find((c: { code: string }) => c.code === code).usesCount).toBe(USES);
    const { rows } = await t.app.pools
      .get('coupons')!
      .query<{ n: number }>(
        `SELECT count(*)::int AS n FROM coupon_redemptions r JOIN coupons c ON c.id = r.coupon_id
          WHERE c.code = $1 AND NOT EXISTS (SELECT 1 FROM coupon_redemption_releases x WHERE x.redemption_id = r.id)`,
        [code],
      );
    expect(rows).toEqual([{ n: USES }]);
    // Sold 50, the rest back on the shelf; nothing left held.
    await eventually(async () => expect(await stockOf(http, seller, mug.variantId)).toEqual({ total: BUYERS - USES, available: BUYERS - USES, reserved: 0 }));
  }, 180_000);
});
