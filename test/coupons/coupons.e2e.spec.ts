import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CouponCreatedV1 } from '../../src/contracts/coupons.ts';
import type { Pool } from '../../src/platform/db/pool.ts';
import type { Role } from '../../src/platform/http/tokens.ts';
import type { ProductsApi } from '../../src/domains/products/index.ts';
import { newId } from '../../src/platform/ids.ts';
import { importSimpleProduct } from '../../src/seed/index.ts';
import { type TestApp, startTestApp } from '../support/app.ts';

let t: TestApp;
let db: Pool;

async function signIn(role: Role): Promise<{ userId: string; token: string }> {
  const userId = newId();
  const { token } = await t.app.tokens.sign({ userId, roles: [role] });
  return { userId, token };
}

const post = (url: string, token: string, body: unknown) => t.request('POST', url, { token, body });

beforeAll(async () => {
  t = await startTestApp();
  db = t.app.pools.get('coupons') as Pool;
});

afterAll(async () => {
  await t?.close();
});

describe('sellers creating coupons', () => {
  it("creates a seller's percentage coupon limited to the seller's items, and announces it", async () => {
    const seller = await signIn('seller');
    const validTo = new Date(Date.now() + 30 * 86_400_000).toISOString();
    const res = await post('/v1/seller/coupons', seller.token, {
      code: 'summer-15',
      type: 'percentage',
      discount: 1500,
      maxUses: 100,
      validTo,
      rules: { minOrderAmount: { amount: 2000, currency: 'USD' }, onePerCustomer: true },
    });
    expect(res.statusCode, res.body).toBe(201);
    const coupon = res.json();
    expect(coupon).toMatchObject({
      code: 'SUMMER-15',
      sellerId: seller.userId,
      type: 'percentage',
      discount: 1500,
      amountOff: null,
      maxUses: 100,
      usesCount: 0,
      status: 'active',
      validTo,
      rules: { minOrderAmount: { amount: 2000, currency: 'USD' }, onePerCustomer: true, sellerIds: [seller.userId] },
    });
    const { rows } = await db.query<{ payload: unknown }>(`SELECT payload FROM coupons_outbox_events WHERE aggregate_id = $1`, [coupon.id]);
    expect(rows).toHaveLength(1);
    expect(CouponCreatedV1.problems(rows[0]!.payload)).toEqual([]);
    const rules = await db.query<{ rule_type: string }>('SELECT rule_type FROM coupon_rules WHERE coupon_id = $1 ORDER BY rule_type', [coupon.id]);
    expect(rules.rows.map((r) => r.rule_type)).toEqual(['min_order_amount', 'one_per_customer', 'seller_items']);
  });

  it('refuses a code that exists in another case with 409', async () => {
    const seller = await signIn('seller');
    expect((await post('/v1/seller/coupons', seller.token, { code: 'TWICE-1', type: 'percentage', discount: 500 })).statusCode).toBe(201);
    const again = await post('/v1/seller/coupons', (await signIn('seller')).token, { code: 'twice-1', type: 'fixed_amount', amountOff: { amount: 500, currency: 'EUR' } });
    expect(again.json()).toMatchObject({ status: 409, code: 'COUPON_CODE_TAKEN' });
  });

  it.each([
    ['a percentage over 100 %', { type: 'percentage', discount: 15000 }, /discount must be <= 10000/],
    ['a percentage without a discount', { type: 'percentage' }, /discount of a percentage coupon is in basis points from 1 to 10000/],
    ['a fixed amount without a currency', { type: 'fixed_amount', amountOff: { amount: 500 } }, /amountOff must have required property 'currency'/],
    ['a currency beside the discount', { type: 'percentage', discount: 500, currency: 'USD' }, /must NOT have additional properties: currency/],
    ['a minimum in another currency', { type: 'fixed_amount', amountOff: { amount: 500, currency: 'USD' }, rules: { minOrderAmount: { amount: 100, currency: 'EUR' } } }, /must be the coupon's currency/],
    ['an empty product list', { type: 'percentage', discount: 500, rules: { productIds: [] } }, /rules.productIds must list at least one product/],
    ['an expired window', { type: 'percentage', discount: 500, validFrom: '2020-01-01T00:00:00Z', validTo: '2020-02-01T00:00:00Z' }, /validTo is in the past/],
    ['sellers on a seller coupon', { type: 'percentage', discount: 500, rules: { sellerIds: [newId()] } }, /sellerIds is for platform coupons/],
    ['a bad code', { code: 'no spaces please', type: 'percentage', discount: 500 }, /code must be 3 to 32 characters/],
  ])('refuses %s with 400 and a message naming the problem', async (_name, body, message) => {
    const seller = await signIn('seller');
    const res = await post('/v1/seller/coupons', seller.token, { code: `BAD-${newId().slice(-8)}`, ...body });
    expect(res.statusCode, res.body).toBe(400);
    expect(res.json()).toMatchObject({ code: 'VALIDATION_FAILED', detail: expect.stringMatching(message) });
  });

  it('tells the seller whether each coupon can be used now: scheduled, running, expired or used up', async () => {
    const seller = await signIn('seller');
    const make = async (label: string, extra: Record<string, unknown> = {}) => {
      const res = await post('/v1/seller/coupons', seller.token, { code: `${label}-${newId().slice(-8)}`, type: 'percentage', discount: 500, ...extra });
      expect(res.statusCode, res.body).toBe(201);
      return res.json() as { id: string; redeemable: string };
    };
    const running = await make('RUN');
    const scheduled = await make('SOON', { validFrom: new Date(Date.now() + 86_400_000).toISOString() });
    const ended = await make('GONE', { maxUses: 3 });
    const usedUp = await make('USED', { maxUses: 1 });
    expect([running.redeemable, scheduled.redeemable]).toEqual(['now', 'not_started']);
    // As time and buyers would leave them.
    await db.query("UPDATE coupons SET valid_from = now() - interval '2 days', valid_to = now() - interval '1 day' WHERE id = $1", [ended.id]);
    await db.query('UPDATE coupons SET uses_count = 1 WHERE id = $1', [usedUp.id]);
    const listed = (await t.request('GET', '/v1/seller/coupons', { token: seller.token })).json().items as { id: string; redeemable: string; status: string }[];
    const state = (id: string) => listed.find((c) => c.id === id);
    expect([running, scheduled, ended, usedUp].map((c) => state(c.id)?.redeemable)).toEqual(['now', 'not_started', 'expired', 'used_up']);
    expect(state(ended.id)?.status).toBe('active');
  });

  it('takes and shows a fixed amount as money in amountOff and a percentage in discount, the other null', async () => {
    const seller = await signIn('seller');
    const fixed = await post('/v1/seller/coupons', seller.token, { code: `OFF-${seller.userId.slice(-8)}`, type: 'fixed_amount', amountOff: { amount: 750, currency: 'EUR' } });
    expect(fixed.statusCode, fixed.body).toBe(201);
    expect(fixed.json()).toMatchObject({ type: 'fixed_amount', discount: null, amountOff: { amount: 750, currency: 'EUR' } });
    expect(fixed.json()).not.toHaveProperty('currency');
    const percent = await post('/v1/seller/coupons', seller.token, { code: `PCT-${seller.userId.slice(-8)}`, type: 'percentage', discount: 2500 });
    expect(percent.statusCode, percent.body).toBe(201);
    expect(percent.json()).toMatchObject({ type: 'percentage', discount: 2500, amountOff: null });
    expect(percent.json()).not.toHaveProperty('currency');
    // The list shows them the same way, stored as discount and currency underneath.
    const page = (await t.request('GET', '/v1/seller/coupons', { token: seller.token })).json() as { items: unknown[] };
    expect(page.items).toEqual([
      expect.objectContaining({ id: percent.json().id, discount: 2500, amountOff: null }),
      expect.objectContaining({ id: fixed.json().id, discount: null, amountOff: { amount: 750, currency: 'EUR' } }),
    ]);
    const { rows } = await db.query('SELECT discount::int, currency FROM coupons WHERE id = $1', [fixed.json().id]);
    expect(rows).toEqual([{ discount: 750, currency: 'EUR' }]);
  });

  it.each([
    ['a discount on a fixed_amount coupon', { type: 'fixed_amount', discount: 500, amountOff: { amount: 500, currency: 'USD' } }, /a fixed_amount coupon has no discount; give amountOff/],
    ['amountOff on a percentage coupon', { type: 'percentage', discount: 500, amountOff: { amount: 500, currency: 'USD' } }, /a percentage coupon has no amountOff/],
    ['a fixed_amount coupon without amountOff', { type: 'fixed_amount' }, /amountOff .* is required for a fixed_amount coupon/],
    ['the old shape, a bare discount beside a currency', { type: 'fixed_amount', discount: 500, currency: 'USD' }, /must NOT have additional properties: currency/],
  ])('refuses %s with 400, creating nothing', async (_name, body, message) => {
    const admin = await signIn('admin');
    const code = `MIX-${newId().slice(-8)}`.toUpperCase();
    for (const [path, token] of [['/v1/seller/coupons', (await signIn('seller')).token], ['/v1/admin/coupons', admin.token]] as const) {
      const res = await post(path, token, { code, ...body });
      expect(res.statusCode, res.body).toBe(400);
      expect(res.json()).toMatchObject({ code: 'VALIDATION_FAILED', detail: expect.stringMatching(message) });
    }
    const { rows } = await db.query('SELECT id FROM coupons WHERE code = $1', [code]);
    expect(rows).toEqual([]);
    const events = await db.query(`SELECT id FROM coupons_outbox_events WHERE payload->>'code' = $1`, [code]);
    expect(events.rows).toEqual([]);
  });

  it('refuses rules aimed at nothing: a product not the seller\'s or unknown, a category that does not exist', async () => {
    const seller = await signIn('seller');
    const other = await signIn('seller');
    const products = (t.app.modules.find((m) => m.name === 'products') as unknown as { api: ProductsApi }).api;
    const own = await importSimpleProduct(products, { sellerId: seller.userId, title: 'Own lamp' });
    const theirs = await importSimpleProduct(products, { sellerId: other.userId, title: 'Their lamp' });
    const coupon = (rules: Record<string, unknown>) => ({ code: `AIM-${newId().slice(-8)}`, type: 'percentage', discount: 500, rules });
    for (const [label, rules, named] of [
      ["another seller's product", { productIds: [own.productId, theirs.productId] }, theirs.productId],
      ['an unknown product', { productIds: [newId()] }, 'productIds'],
      ['an unknown category', { categoryIds: [own.categoryId, '01a248a9-0000-7000-8000-000000000001'] }, '01a248a9-0000-7000-8000-000000000001'],
    ] as const) {
      const res = await post('/v1/seller/coupons', seller.token, coupon(rules));
      expect([res.statusCode, res.json().code], label).toEqual([400, 'VALIDATION_FAILED']);
      expect(res.json().detail, label).toContain(named);
    }
    const { rows } = await db.query('SELECT count(*)::int AS n FROM coupons WHERE seller_id = $1', [seller.userId]);
    expect(rows[0]).toEqual({ n: 0 });
    // Its own product (in capitals too) and a real category are fine.
    const ok = await post('/v1/seller/coupons', seller.token, coupon({ productIds: [own.productId.toUpperCase()], categoryIds: [own.categoryId] }));
    expect(ok.statusCode, ok.body).toBe(201);
    // A platform coupon may name any seller's product, but not one that does not exist.
    const admin = await signIn('admin');
    expect((await post('/v1/admin/coupons', admin.token, coupon({ productIds: [own.productId, theirs.productId] }))).statusCode).toBe(201);
    expect((await post('/v1/admin/coupons', admin.token, coupon({ productIds: [newId()] }))).json()).toMatchObject({ status: 400, code: 'VALIDATION_FAILED' });
  });

  it('refuses an unknown field or an unknown rule with 400', async () => {
    const seller = await signIn('seller');
    const unknownField = await post('/v1/seller/coupons', seller.token, { code: 'FIELD-1', type: 'percentage', discount: 500, stackable: true });
    expect(unknownField.json()).toMatchObject({ status: 400, errors: [expect.objectContaining({ field: 'stackable' })] });
    const unknownRule = await post('/v1/seller/coupons', seller.token, { code: 'FIELD-2', type: 'percentage', discount: 500, rules: { maxPerDay: 1 } });
    expect(unknownRule.json()).toMatchObject({ status: 400, errors: [expect.objectContaining({ field: 'maxPerDay' })] });
  });

  it('lists only the seller\'s own coupons, newest first, page by page', async () => {
    const seller = await signIn('seller');
    const other = await signIn('seller');
    for (let i = 0; i < 5; i++) expect((await post('/v1/seller/coupons', seller.token, { code: `PAGE-${seller.userId.slice(-6)}-${i}`, type: 'percentage', discount: 100 + i })).statusCode).toBe(201);
    await post('/v1/seller/coupons', other.token, { code: `PAGE-OTHER-${other.userId.slice(-6)}`, type: 'percentage', discount: 100 });

    const seen: number[] = [];
    let cursor: string | null = null;
    do {
      const res = await t.request('GET', `/v1/seller/coupons?limit=2${cursor ? `&cursor=${cursor}` : ''}`, { token: seller.token });
      expect(res.statusCode, res.body).toBe(200);
      const page = res.json() as { items: { discount: number; sellerId: string }[]; nextCursor: string | null };
      expect(page.items.length).toBeLessThanOrEqual(2);
      for (const c of page.items) {
        expect(c.sellerId).toBe(seller.userId);
        seen.push(c.discount);
      }
      cursor = page.nextCursor;
    } while (cursor);
    expect(seen).toEqual([104, 103, 102, 101, 100]);
    expect((await t.request('GET', '/v1/seller/coupons?cursor=garbage', { token: seller.token })).json()).toMatchObject({ status: 400, code: 'INVALID_CURSOR' });
  });

  it('keeps the routes to their roles', async () => {
    const buyer = await signIn('buyer');
    const seller = await signIn('seller');
    expect((await post('/v1/seller/coupons', buyer.token, { code: 'ROLE-1', type: 'percentage', discount: 100 })).statusCode).toBe(403);
    expect((await post('/v1/admin/coupons', seller.token, { code: 'ROLE-2', type: 'percentage', discount: 100 })).statusCode).toBe(403);
    expect((await t.request('GET', '/v1/seller/coupons')).statusCode).toBe(401);
  });
});

describe('admins reading platform coupons', () => {
  it('lists the platform-wide coupons only, newest first, page by page, with their uses; to admins only', async () => {
    const admin = await signIn('admin');
    const seller = await signIn('seller');
    const tag = newId().slice(-6).toUpperCase();
    for (let i = 0; i < 3; i++) expect((await post('/v1/admin/coupons', admin.token, { code: `PLAT-${tag}-${i}`, type: 'percentage', discount: 200 + i })).statusCode).toBe(201);
    expect((await post('/v1/seller/coupons', seller.token, { code: `SELL-${tag}`, type: 'percentage', discount: 300 })).statusCode).toBe(201);
    const codes: string[] = [];
    let cursor: string | null = null;
    do {
      const res = await t.request('GET', `/v1/admin/coupons?limit=2${cursor ? `&cursor=${cursor}` : ''}`, { token: admin.token });
      expect(res.statusCode, res.body).toBe(200);
      const page = res.json() as { items: { code: string; sellerId: string | null; usesCount: number }[]; nextCursor: string | null };
      for (const c of page.items) {
        expect(c).toMatchObject({ sellerId: null, usesCount: expect.any(Number) });
        codes.push(c.code);
      }
      cursor = page.nextCursor;
    } while (cursor);
    expect(codes.filter((c) => c.includes(tag))).toEqual([`PLAT-${tag}-2`, `PLAT-${tag}-1`, `PLAT-${tag}-0`]);
    expect((await t.request('GET', '/v1/admin/coupons', { token: seller.token })).statusCode).toBe(403);
    expect((await t.request('GET', '/v1/admin/coupons')).statusCode).toBe(401);
  });
});

describe('admins creating platform coupons', () => {
  /** A real account with the role (POST /v1/auth/register): the coupons ask the accounts domain who is a seller. */
  async function account(role: 'buyer' | 'seller'): Promise<string> {
    const res = await post('/v1/auth/register', '', { email: `${role}-${newId()}@example.test`, password: 'correct horse battery staple', role });
    expect(res.statusCode, res.body).toBe(201);
    return res.json().id;
  }

  it('creates a platform-wide coupon without a seller, optionally narrowed to some sellers', async () => {
    const admin = await signIn('admin');
    const sellerId = await account('seller');
    const res = await post('/v1/admin/coupons', admin.token, {
      code: 'WELCOME-5',
      type: 'fixed_amount',
      amountOff: { amount: 500, currency: 'USD' },
      rules: { firstOrderOnly: true, sellerIds: [sellerId] },
    });
    expect(res.statusCode, res.body).toBe(201);
    expect(res.json()).toMatchObject({ sellerId: null, discount: null, amountOff: { amount: 500, currency: 'USD' }, rules: { firstOrderOnly: true, sellerIds: [sellerId] } });
  });

  it('refuses a platform coupon aimed at nothing: sellers who are not sellers, products of sellers it leaves out', async () => {
    const admin = await signIn('admin');
    const [seller, otherSeller, buyer] = [await account('seller'), await account('seller'), await account('buyer')];
    const products = (t.app.modules.find((m) => m.name === 'products') as unknown as { api: ProductsApi }).api;
    const theirs = await importSimpleProduct(products, { sellerId: otherSeller });
    const coupon = (code: string, rules: Record<string, unknown>) => post('/v1/admin/coupons', admin.token, { code, type: 'percentage', discount: 500, rules });
    const stranger = newId();
    const notSellers = await coupon('NOBODY-5', { sellerIds: [seller, stranger, buyer] });
    expect(notSellers.statusCode).toBe(400);
    expect(notSellers.json()).toMatchObject({ code: 'VALIDATION_FAILED', detail: `rules.sellerIds names users who are not sellers: ${stranger}, ${buyer}` });
    const leftOut = await coupon('ELSEWHERE-5', { sellerIds: [seller], productIds: [theirs.productId] });
    expect(leftOut.statusCode).toBe(400);
    expect(leftOut.json().detail).toBe(`rules.productIds names products of sellers rules.sellerIds leaves out: ${theirs.productId}`);
    // Together, they can discount something.
    expect((await coupon('THEIRS-5', { sellerIds: [seller, otherSeller], productIds: [theirs.productId] })).statusCode).toBe(201);
    const { rows } = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM coupons WHERE code IN ('NOBODY-5', 'ELSEWHERE-5')`);
    expect(rows[0]?.n).toBe(0);
  });
});
