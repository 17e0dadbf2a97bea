import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { expectLedgerBalanced } from '../support/ledger.ts';
import type { ProductsApi } from '../../src/domains/products/index.ts';
import { type DomainName, domainTables } from '../../src/platform/domains.ts';
import { newId } from '../../src/platform/ids.ts';
import { type TestApp, startTestApp } from '../support/app.ts';
import { eventually } from '../support/eventually.ts';
import { type Http, type HttpAnswer, categoryFixture, checkoutBody, createCoupon, expectStatus, fillCart, listProduct, signUp } from '../checkout/fixtures/market.ts';

/**
 * The trace is passed by hand from the request down to every outbox write (ADR 0013): one checkout
 * sent with X-Correlation-Id must give that id to the events of every domain it touches, directly
 * (checkout's calls into inventory, coupons, orders and payments) or through event handlers, and
 * every event's causation must be an event of the same trace.
 */
let t: TestApp;
let http: Http;

beforeAll(async () => {
  t = await startTestApp({ CHECKOUT_WAIT_MS: '8000', PAYMENTS_TEST_WEBHOOK_DELAY_MS: '50' });
  http = (method, url, options) => t.request(method, url, options) as unknown as Promise<HttpAnswer>;
});

afterAll(async () => {
  await t?.close();
});

// Money moved in these tests: the ledger balances after each (test/support/ledger.ts).
afterEach(async () => {
  await expectLedgerBalanced(t.app.pools.get('payments')!);
});

interface Traced {
  domain: DomainName;
  id: string;
  type: string;
  causationId: string | null;
}

const DOMAINS: readonly DomainName[] = ['checkout', 'cart', 'inventory', 'coupons', 'orders', 'payments'];

async function eventsOfTrace(correlationId: string): Promise<Traced[]> {
  const found: Traced[] = [];
  for (const domain of DOMAINS) {
    const { rows } = await t.app.pools
      .get(domain)!
      .query<{ id: string; event_type: string; causation: string | null }>(
        `SELECT id, event_type, headers->>'causationid' AS causation FROM ${domainTables(domain).outbox} WHERE headers->>'correlationid' = $1`,
        [correlationId],
      );
    for (const r of rows) found.push({ domain, id: r.id, type: r.event_type, causationId: r.causation });
  }
  return found;
}

describe('the trace of a request', () => {
  it("gives the request's correlation id to the events of a seller's and an admin's writes", async () => {
    const seller = await signUp(http, 'seller', 'seller-writes');
    const admin = (await t.app.tokens.sign({ userId: newId(), roles: ['admin'] }, new Date())).token;
    const traced = async (method: string, url: string, token: string, body: unknown, status: number) => {
      const correlationId = newId();
      await expectStatus(url, http(method, url, { token, headers: { 'x-correlation-id': correlationId }, body }), status);
      return correlationId;
    };
    const categoryTrace = await traced('POST', '/v1/admin/categories', admin, { name: `Traced ${newId().slice(-6)}` }, 201);
    const created = await t.app.pools
      .get('products')!
      .query(`SELECT event_type, payload->>'categoryId' AS id FROM products_outbox_events WHERE headers->>'correlationid' = $1`, [categoryTrace]);
    expect(created.rows.map((r) => r.event_type)).toEqual(['products.category_created.v1']);
    const categoryId = created.rows[0].id;
    const productTrace = await traced(
      'POST',
      '/v1/seller/products',
      seller.token,
      { sku: `TR-${newId().slice(-8)}`, title: 'Traced lamp', categoryId, variants: [{ sku: `TR-${newId().slice(-8)}`, price: { amount: 1500, currency: 'USD' } }] },
      201,
    );
    const { rows } = await t.app.pools.get('products')!.query(`SELECT event_type, headers->>'causationid' AS causation FROM products_outbox_events WHERE headers->>'correlationid' = $1`, [productTrace]);
    expect(rows).toEqual([{ event_type: 'products.product_created.v1', causation: null }]);
    // Inventory makes the variant's stock item when it handles that event: same trace, caused by it.
    await eventually(async () => {
      const { rows: items } = await t.app.pools.get('inventory')!.query(`SELECT event_type FROM inventory_outbox_events WHERE headers->>'correlationid' = $1`, [productTrace]);
      expect(items.map((r) => r.event_type)).toContain('inventory.stock_item_created.v1');
    });
  });

  it("gives the request's correlation id to every event one checkout causes, in every domain, each naming a cause of the same trace", async () => {
    const products = t.app.modules.find((m) => m.name === 'products') as unknown as { api: ProductsApi };
    const category = categoryFixture();
    await products.api.importCategories([category]);
    const waitFor = <T>(check: () => Promise<T>) => eventually(check, { timeoutMs: 10_000, intervalMs: 50 });
    const seller = await signUp(http, 'seller', 'seller-traced');
    const buyer = await signUp(http, 'buyer', 'buyer-traced');
    const mug = await listProduct(http, seller, { categoryId: category.id, title: 'Traced mug', price: 2500, stock: 10 }, waitFor);
    const { code } = await createCoupon(http, seller, { code: 'TRACED', type: 'percentage', discount: 1000, maxUses: 5 });
    await fillCart(http, buyer, [{ variantId: mug.variantId, quantity: 2 }], [code]);

    const correlationId = newId();
    const answer = await expectStatus(
      'checkout',
      http('POST', '/v1/checkout', { token: buyer.token, headers: { 'idempotency-key': newId(), 'x-correlation-id': correlationId }, body: checkoutBody() }),
      201,
    );
    expect(answer.json().status).toBe('completed');

    const events = await eventually(
      async () => {
        const found = await eventsOfTrace(correlationId);
        expect(found.map((e) => e.type)).toEqual(
          expect.arrayContaining([
            'checkout.checkout_started.v1',
            'checkout.checkout_completed.v1',
            'inventory.stock_reserved.v1',
            'inventory.reservation_confirmed.v1',
            'coupons.coupon_redeemed.v1',
            'orders.order_placed.v1',
            'payments.payment_authorized.v1',
          ]),
        );
        expect(found.some((e) => e.domain === 'cart')).toBe(true);
        return found;
      },
      { timeoutMs: 10_000, intervalMs: 50 },
    );
    // The capture is usually applied by checkout's call; the gateway's webhook or the payments
    // worker may learn it first, under a trace of their own. Whoever wrote it, orders' handler
    // writes order_paid in the capture's trace, naming it as the cause: found by the payment and
    // the order, whatever the trace.
    const [orderId] = answer.json().orderIds as string[];
    const cause = await eventually(async () => {
      const { rows: captured } = await t.app.pools
        .get('payments')!
        .query<{ id: string; correlation: string }>(
          "SELECT id, headers->>'correlationid' AS correlation FROM payments_outbox_events WHERE event_type = 'payments.payment_captured.v1' AND aggregate_id = $1",
          [answer.json().paymentIntentId],
        );
      const { rows: paid } = await t.app.pools
        .get('orders')!
        .query<{ causation: string; correlation: string }>(
          "SELECT headers->>'causationid' AS causation, headers->>'correlationid' AS correlation FROM orders_outbox_events WHERE event_type = 'orders.order_paid.v1' AND aggregate_id = $1",
          [orderId],
        );
      expect(captured).toHaveLength(1);
      expect(paid).toHaveLength(1);
      return { captured: captured[0]!, paid: paid[0]! };
    });
    expect(cause.paid.causation).toBe(cause.captured.id);
    expect(cause.paid.correlation).toBe(cause.captured.correlation);

    // Events written for the request itself have no cause; those written by handlers name the
    // handled event, which carries the same correlation id.
    const ids = new Set(events.map((e) => e.id));
    expect(events.filter((e) => e.causationId === null).length).toBeGreaterThan(0);
    for (const e of events) if (e.causationId !== null) expect(ids, `${e.type} names a cause outside the trace`).toContain(e.causationId);
  });
});
