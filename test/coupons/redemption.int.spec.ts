import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ordersSubscription } from '../../src/domains/coupons/handlers.ts';
import type { CouponLine, CouponsApi } from '../../src/domains/coupons/index.ts';
import type { OrdersApi } from '../../src/domains/orders/index.ts';
import { SYSTEM } from '../../src/domains/orders/status-machine.ts';
import { changeStatus } from '../../src/domains/orders/transitions.ts';
import type { Pool } from '../../src/platform/db/pool.ts';
import { AppError } from '../../src/platform/http/errors.ts';
import type { Role } from '../../src/platform/http/tokens.ts';
import { newId } from '../../src/platform/ids.ts';
import type { EventEnvelope } from '../../src/platform/messaging/envelope.ts';
import { type TestApp, startTestApp } from '../support/app.ts';
import { eventually } from '../support/eventually.ts';

let t: TestApp;
let coupons: CouponsApi;
let orders: OrdersApi;
let db: Pool;
let admin: { userId: string; token: string };

async function signIn(role: Role, userId = newId()): Promise<{ userId: string; token: string }> {
  const { token } = await t.app.tokens.sign({ userId, roles: [role] });
  return { userId, token };
}

let codeNo = 0;
async function createCoupon(body: Record<string, unknown>, token = admin.token, path = '/v1/admin/coupons'): Promise<{ id: string; code: string }> {
  const value = body.type === 'fixed_amount' ? {} : { type: 'percentage', discount: 1000 };
  const res = await t.request('POST', path, { token, body: { code: `C${Date.now().toString(36)}-${++codeNo}`.toUpperCase(), ...value, ...body } });
  expect(res.statusCode, res.body).toBe(201);
  return res.json();
}

function lineOf(sellerId: string, unitPrice = 10_000, quantity = 1): CouponLine {
  return { lineId: newId(), productId: newId(), variantId: newId(), sellerId, categoryId: null, unitPrice, quantity };
}

async function couponRow(id: string): Promise<{ uses_count: number }> {
  const { rows } = await db.query<{ uses_count: number }>('SELECT uses_count FROM coupons WHERE id = $1', [id]);
  return rows[0]!;
}

async function count(sql: string, params: unknown[]): Promise<number> {
  const { rows } = await db.query<{ n: number }>(sql, params);
  return Number(rows[0]!.n);
}

function codeOf(error: unknown): string {
  return error instanceof AppError ? error.code : String(error);
}

beforeAll(async () => {
  t = await startTestApp();
  coupons = (t.app.modules.find((m) => m.name === 'coupons') as unknown as { api: CouponsApi }).api;
  orders = (t.app.modules.find((m) => m.name === 'orders') as unknown as { api: OrdersApi }).api;
  db = t.app.pools.get('coupons') as Pool;
  admin = await signIn('admin');
});

afterAll(async () => {
  await t?.close();
});

describe('redeeming under concurrency', () => {
  it('gives a 50-use coupon to exactly 50 of 500 simultaneous checkouts', async () => {
    const coupon = await createCoupon({ maxUses: 50 });
    const sellerId = newId();
    const results = await Promise.allSettled(
      Array.from({ length: 500 }, () =>
        coupons.redeem({ checkoutSessionId: newId(), buyerId: newId(), currency: 'USD', codes: [coupon.code], lines: [lineOf(sellerId)] }),
      ),
    );
    const redeemed = results.filter((r) => r.status === 'fulfilled');
    const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(redeemed).toHaveLength(50);
    expect(new Set(refused.map((r) => codeOf(r.reason)))).toEqual(new Set(['COUPON_EXHAUSTED']));
    expect((await couponRow(coupon.id)).uses_count).toBe(50);
    expect(await count('SELECT count(*) AS n FROM coupon_redemptions WHERE coupon_id = $1', [coupon.id])).toBe(50);
    // Each event carries the counter as its own use left it: 1 to 50, once each, whatever was read.
    const { rows: events } = await db.query<{ payload: { usesCount: number; maxUses: number } }>(
      `SELECT payload FROM coupons_outbox_events WHERE event_type = 'coupons.coupon_redeemed.v1' AND aggregate_id = $1`,
      [coupon.id],
    );
    expect(events.map((e) => e.payload.usesCount).sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    expect(new Set(events.map((e) => e.payload.maxUses))).toEqual(new Set([50]));
  });

  it('lets one buyer use a one-per-customer coupon once, out of 20 simultaneous checkouts', async () => {
    const coupon = await createCoupon({ rules: { onePerCustomer: true } });
    const buyerId = newId();
    const sellerId = newId();
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, () => coupons.redeem({ checkoutSessionId: newId(), buyerId, currency: 'USD', codes: [coupon.code], lines: [lineOf(sellerId)] })),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const reasons = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => codeOf(r.reason));
    expect(new Set(reasons)).toEqual(new Set(['COUPON_ALREADY_USED']));
    expect(await count('SELECT count(*) AS n FROM coupon_redemptions WHERE coupon_id = $1 AND user_id = $2', [coupon.id, buyerId])).toBe(1);
    expect(await count('SELECT uses_count AS n FROM coupon_customer_uses WHERE coupon_id = $1 AND user_id = $2', [coupon.id, buyerId])).toBe(1);
    // Another buyer still may.
    await expect(coupons.redeem({ checkoutSessionId: newId(), buyerId: newId(), currency: 'USD', codes: [coupon.code], lines: [lineOf(sellerId)] })).resolves.toMatchObject({ discountAmount: 1000 });
  });

  it('lets only one of two simultaneous checkouts of a new buyer use a first-order coupon', async () => {
    const coupon = await createCoupon({ rules: { firstOrderOnly: true } });
    const buyerId = newId();
    const results = await Promise.allSettled(
      [1, 2].map(() => coupons.redeem({ checkoutSessionId: newId(), buyerId, currency: 'USD', codes: [coupon.code], lines: [lineOf(newId())] })),
    );
    expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
    const rejected = results.find((r): r is PromiseRejectedResult => r.status === 'rejected')!;
    expect(rejected.reason).toMatchObject({ code: 'COUPON_NOT_APPLICABLE', extensions: { reason: 'not_first_order' } });
  });

  it("refuses a first-order coupon while the buyer's checkout without coupons is on its way to orders, and grants it once that checkout failed", async () => {
    const coupon = await createCoupon({ rules: { firstOrderOnly: true } });
    const buyerId = newId();
    const sellerId = newId();
    const plain = newId();
    // The checkout without coupons reached its coupon step; its orders are not placed (or their event has not arrived).
    await expect(coupons.redeem({ checkoutSessionId: plain, buyerId, currency: 'USD', codes: [], lines: [lineOf(sellerId)] })).resolves.toMatchObject({ discountAmount: 0, redemptions: [] });
    const withCoupon = () => coupons.redeem({ checkoutSessionId: newId(), buyerId, currency: 'USD', codes: [coupon.code], lines: [lineOf(sellerId)] });
    await expect(withCoupon()).rejects.toMatchObject({ code: 'COUPON_NOT_APPLICABLE', extensions: { reason: 'not_first_order' } });
    expect((await coupons.evaluate({ codes: [coupon.code], buyerId, currency: 'USD', lines: [lineOf(sellerId)] })).coupons[0]).toMatchObject({ reason: 'not_first_order' });
    // A retried coupon step of that same checkout is not "another" checkout, and noting it twice is one note.
    await coupons.redeem({ checkoutSessionId: plain, buyerId, currency: 'USD', codes: [], lines: [lineOf(sellerId)] });
    expect(await count('SELECT count(*) AS n FROM coupon_buyer_checkouts WHERE buyer_id = $1', [buyerId])).toBe(1);

    await expect(coupons.releaseForCheckout(plain, 'payment declined')).resolves.toEqual({ released: 0 });
    await expect(withCoupon()).resolves.toMatchObject({ discountAmount: 1000 });
    expect((await couponRow(coupon.id)).uses_count).toBe(1);
  });

  it("never grants a first-order coupon to a checkout another of the buyer's checkouts reached its coupon step before, while it was deciding (found by a review: a note committed in between let it through)", async () => {
    for (const other of ['no coupons', 'another coupon'] as const) {
      const coupon = await createCoupon({ rules: { firstOrderOnly: true } });
      const plainCoupon = await createCoupon({});
      const buyerId = newId();
      const sellerId = newId();
      // The first-order redemption has read the buyer's facts and waits at its write (the coupon's row is held).
      const holder = await db.connect();
      await holder.query('BEGIN');
      await holder.query('SELECT 1 FROM coupons WHERE id = $1 FOR UPDATE', [coupon.id]);
      const first = coupons.redeem({ checkoutSessionId: newId(), buyerId, currency: 'USD', codes: [coupon.code], lines: [lineOf(sellerId)] });
      await eventually(async () =>
        expect(await count("SELECT count(*) AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%coupons%' AND datname = current_database()", [])).toBeGreaterThan(0),
      );
      // Another checkout of the buyer reaches its coupon step meanwhile: it waits for the first to be decided.
      let otherDone = false;
      const second = coupons
        .redeem({ checkoutSessionId: newId(), buyerId, currency: 'USD', codes: other === 'no coupons' ? [] : [plainCoupon.code], lines: [lineOf(sellerId)] })
        .finally(() => {
          otherDone = true;
        });
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(otherDone, other).toBe(false);
      await holder.query('COMMIT');
      holder.release();
      // The first got there first: its coupon stands, and the other is on its way after it.
      await expect(first, other).resolves.toMatchObject({ discountAmount: 1000 });
      await expect(second, other).resolves.toMatchObject({ checkoutSessionId: expect.any(String) });
      await expect(
        coupons.redeem({ checkoutSessionId: newId(), buyerId, currency: 'USD', codes: [coupon.code], lines: [lineOf(sellerId)] }),
        other,
      ).rejects.toMatchObject({ code: 'COUPON_NOT_APPLICABLE' });
    }
  });

  it('counts a checkout without coupons through its orders once they are known: a cancelled one lets a first-order coupon through', async () => {
    const coupon = await createCoupon({ rules: { firstOrderOnly: true } });
    const buyerId = newId();
    const sellerId = newId();
    const plain = newId();
    await coupons.redeem({ checkoutSessionId: plain, buyerId, currency: 'USD', codes: [], lines: [lineOf(sellerId)] });
    await placeOrders(plain, buyerId, [sellerId]);
    // Once its orders are known the note is gone (they answer): notes do not pile up.
    await eventually(async () => expect(await count('SELECT count(*) AS n FROM coupon_buyer_checkouts WHERE checkout_session_id = $1', [plain])).toBe(0));
    await orders.cancelOrdersForCheckout(plain, 'cancelled by buyer');
    await eventually(async () =>
      expect(await count('SELECT count(*) AS n FROM coupon_buyer_orders WHERE checkout_session_id = $1 AND cancelled_at IS NOT NULL', [plain])).toBe(1),
    );
    await expect(coupons.redeem({ checkoutSessionId: newId(), buyerId, currency: 'USD', codes: [coupon.code], lines: [lineOf(sellerId)] })).resolves.toMatchObject({
      discountAmount: 1000,
    });
  });
});

describe('a redemption', () => {
  it('returns the same redemption when the same checkout session redeems again, counting one use', async () => {
    const coupon = await createCoupon({ maxUses: 3 });
    const input = { checkoutSessionId: newId(), buyerId: newId(), currency: 'USD', codes: [coupon.code], lines: [lineOf(newId(), 2500, 2)] };
    const first = await coupons.redeem(input);
    const again = await Promise.all([coupons.redeem(input), coupons.redeem(input)]);
    expect(first).toMatchObject({ discountAmount: 500, lines: [{ lineId: input.lines[0]!.lineId, discountAmount: 500 }] });
    for (const r of again) expect(r).toEqual(first);
    expect((await couponRow(coupon.id)).uses_count).toBe(1);
  });

  it('answers two simultaneous redeems of one session with the one redemption, for a last use and a one-per-customer coupon', async () => {
    for (const rules of [undefined, { onePerCustomer: true }]) {
      for (let round = 0; round < 5; round++) {
        const coupon = await createCoupon({ maxUses: rules ? 10 : 1, ...(rules ? { rules } : {}) });
        const input = { checkoutSessionId: newId(), buyerId: newId(), currency: 'USD', codes: [coupon.code], lines: [lineOf(newId())] };
        const [a, b] = await Promise.allSettled([coupons.redeem(input), coupons.redeem(input)]);
        const label = `${JSON.stringify(rules)} round ${round}`;
        expect(a.status === 'fulfilled' ? 'ok' : codeOf(a.reason), label).toBe('ok');
        expect(b.status === 'fulfilled' ? 'ok' : codeOf(b.reason), label).toBe('ok');
        if (a.status === 'fulfilled' && b.status === 'fulfilled') expect(a.value).toEqual(b.value);
        expect((await couponRow(coupon.id)).uses_count, label).toBe(1);
      }
    }
  });

  it('keeps nothing of a checkout whose last coupon runs out between its check and its write (20 at once)', async () => {
    // Ids are time-ordered: the scarce coupon, made second, is written last, with the COMMIT.
    const plenty = await createCoupon({ maxUses: 100, rules: { onePerCustomer: true } });
    const scarce = await createCoupon({ maxUses: 1 });
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, () =>
        coupons.redeem({ checkoutSessionId: newId(), buyerId: newId(), currency: 'USD', codes: [plenty.code, scarce.code], lines: [lineOf(newId())] }),
      ),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => codeOf(r.reason));
    expect(new Set(refused)).toEqual(new Set(['COUPON_EXHAUSTED']));
    expect((await couponRow(plenty.id)).uses_count).toBe(1);
    expect((await couponRow(scarce.id)).uses_count).toBe(1);
    expect(await count('SELECT count(*) AS n FROM coupon_redemptions WHERE coupon_id = $1', [plenty.id])).toBe(1);
    expect(await count('SELECT coalesce(sum(uses_count), 0) AS n FROM coupon_customer_uses WHERE coupon_id = $1', [plenty.id])).toBe(1);
    expect(await count(`SELECT count(*) AS n FROM coupons_outbox_events WHERE event_type = 'coupons.coupon_redeemed.v1' AND aggregate_id = ANY($1::uuid[])`, [[plenty.id, scarce.id]])).toBe(2);
  });

  it('redeems every code of a checkout or none', async () => {
    const good = await createCoupon({ maxUses: 5 });
    const tooBig = await createCoupon({ rules: { minOrderAmount: { amount: 1_000_000, currency: 'USD' } } });
    const attempt = coupons.redeem({ checkoutSessionId: newId(), buyerId: newId(), currency: 'USD', codes: [good.code, tooBig.code], lines: [lineOf(newId())] });
    await expect(attempt).rejects.toMatchObject({ code: 'COUPON_NOT_APPLICABLE', extensions: { couponCode: tooBig.code, reason: 'minimum_not_met' } });
    expect((await couponRow(good.id)).uses_count).toBe(0);
  });

  it('is given back by releaseForCheckout, once, after which another checkout can redeem it', async () => {
    const coupon = await createCoupon({ maxUses: 1, rules: { onePerCustomer: true } });
    const buyerId = newId();
    const sessionA = newId();
    const lines = [lineOf(newId())];
    await coupons.redeem({ checkoutSessionId: sessionA, buyerId, currency: 'USD', codes: [coupon.code], lines });
    await expect(coupons.redeem({ checkoutSessionId: newId(), buyerId: newId(), currency: 'USD', codes: [coupon.code], lines })).rejects.toMatchObject({ code: 'COUPON_EXHAUSTED' });

    const releases = await Promise.all([coupons.releaseForCheckout(sessionA, 'payment declined'), coupons.releaseForCheckout(sessionA, 'payment declined')]);
    expect(releases.map((r) => r.released).sort()).toEqual([0, 1]);
    expect((await couponRow(coupon.id)).uses_count).toBe(0);
    expect(await count('SELECT uses_count AS n FROM coupon_customer_uses WHERE coupon_id = $1 AND user_id = $2', [coupon.id, buyerId])).toBe(0);
    const { rows } = await db.query<{ payload: Record<string, unknown> }>(
      `SELECT payload FROM coupons_outbox_events WHERE event_type = 'coupons.redemption_released.v1' AND aggregate_id = $1`,
      [coupon.id],
    );
    expect(rows.map((r) => r.payload)).toEqual([expect.objectContaining({ checkoutSessionId: sessionA, reason: 'checkout_failed', detail: 'payment declined', usesCount: 0 })]);

    // The released session cannot take it again; a new checkout of the same buyer can.
    await expect(coupons.redeem({ checkoutSessionId: sessionA, buyerId, currency: 'USD', codes: [coupon.code], lines })).rejects.toMatchObject({ code: 'CONFLICT' });
    await expect(coupons.redeem({ checkoutSessionId: newId(), buyerId, currency: 'USD', codes: [coupon.code], lines })).resolves.toMatchObject({ discountAmount: 1000 });
    expect((await couponRow(coupon.id)).uses_count).toBe(1);
  });

  it('releasing a checkout that redeemed nothing does nothing', async () => {
    await expect(coupons.releaseForCheckout(newId(), 'no coupons')).resolves.toEqual({ released: 0 });
  });

  it("refuses a coupon step that comes after its checkout's release (taken over and compensated elsewhere): no use is taken, no note kept", async () => {
    const coupon = await createCoupon({ maxUses: 5 });
    const buyerId = newId();
    const [withCodes, withoutCodes] = [newId(), newId()];
    for (const session of [withCodes, withoutCodes]) await expect(coupons.releaseForCheckout(session, 'checkout failed')).resolves.toEqual({ released: 0 });
    const late = (checkoutSessionId: string, codes: string[]) => coupons.redeem({ checkoutSessionId, buyerId, currency: 'USD', codes, lines: [lineOf(newId())] });
    await expect(late(withCodes, [coupon.code])).rejects.toMatchObject({ code: 'CONFLICT' });
    await expect(late(withoutCodes, [])).rejects.toMatchObject({ code: 'CONFLICT' });
    expect((await couponRow(coupon.id)).uses_count).toBe(0);
    expect(await count('SELECT count(*) AS n FROM coupon_redemptions WHERE checkout_session_id = $1', [withCodes])).toBe(0);
    expect(await count('SELECT count(*) AS n FROM coupon_buyer_checkouts WHERE checkout_session_id = $1', [withoutCodes])).toBe(0);
  });

  it('releases a redemption still being written when the release came: the release waits for it and gives it back', async () => {
    const coupon = await createCoupon({ maxUses: 5 });
    const session = newId();
    // The redemption is held at the coupon's row, as behind a busy coupon.
    const blocker = await db.connect();
    let redeeming: Promise<unknown> | undefined;
    try {
      await blocker.query('BEGIN');
      await blocker.query('SELECT 1 FROM coupons WHERE id = $1 FOR UPDATE', [coupon.id]);
      redeeming = coupons.redeem({ checkoutSessionId: session, buyerId: newId(), currency: 'USD', codes: [coupon.code], lines: [lineOf(newId())] });
      const waiting = (kind: string) =>
        count(`SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND wait_event = $1`, [kind]);
      await eventually(async () => expect(await waiting('transactionid')).toBe(1));
      const releasing = coupons.releaseForCheckout(session, 'checkout failed');
      // The release waits for the session's redemption to finish, one way or the other.
      await eventually(async () => expect(await waiting('advisory')).toBe(1));
      await blocker.query('COMMIT');
      await expect(redeeming).resolves.toMatchObject({ discountAmount: 1000 });
      await expect(releasing).resolves.toEqual({ released: 1 });
    } finally {
      await blocker.query('ROLLBACK').catch(() => undefined);
      blocker.release();
      await redeeming?.catch(() => undefined);
    }
    expect((await couponRow(coupon.id)).uses_count).toBe(0);
    expect(await count('SELECT count(*) AS n FROM coupon_redemption_releases x JOIN coupon_redemptions r ON r.id = x.redemption_id WHERE r.checkout_session_id = $1', [session])).toBe(1);
  });
});

describe('evaluate', () => {
  it('splits each valid discount over the lines so that the parts add up exactly (property, real coupons)', async () => {
    const percent = await createCoupon({ discount: 1337 });
    const fixed = await createCoupon({ type: 'fixed_amount', amountOff: { amount: 12_345, currency: 'USD' } });
    const sellers = [newId(), newId()];
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ unitPrice: fc.integer({ min: 1, max: 100_000 }), quantity: fc.integer({ min: 1, max: 5 }), seller: fc.integer({ min: 0, max: 1 })}), { minLength: 1, maxLength: 15 }),
        fc.boolean(),
        async (raw, fixedFirst) => {
          const lines = raw.map((l) => lineOf(sellers[l.seller]!, l.unitPrice, l.quantity));
          const codes = fixedFirst ? [fixed.code, percent.code] : [percent.code, fixed.code];
          const result = await coupons.evaluate({ codes, buyerId: newId(), currency: 'USD', lines });
          let sum = 0;
          for (const c of result.coupons) {
            if (!c.valid) continue;
            expect(c.lines.reduce((a, l) => a + l.discountAmount, 0)).toBe(c.discountAmount);
            sum += c.discountAmount;
          }
          expect(result.discountAmount).toBe(sum);
          for (const l of result.lines) {
            const line = lines.find((x) => x.lineId === l.lineId)!;
            expect(l.discountAmount).toBeLessThanOrEqual(line.unitPrice * line.quantity);
          }
        },
      ),
      { numRuns: 25 },
    );
  });

  it('tells a buyer with a live order that a first-order coupon is not for them, and again for them once it is cancelled', async () => {
    const coupon = await createCoupon({ rules: { firstOrderOnly: true } });
    const buyerId = newId();
    const sellerId = newId();
    const evaluateNow = () => coupons.evaluate({ codes: [coupon.code], buyerId, currency: 'USD', lines: [lineOf(sellerId)] });
    expect((await evaluateNow()).coupons[0]).toMatchObject({ valid: true });

    const sessionId = newId();
    await placeOrders(sessionId, buyerId, [sellerId]);
    await eventually(async () => expect((await evaluateNow()).coupons[0]).toMatchObject({ valid: false, reason: 'not_first_order' }));
    await orders.cancelOrdersForCheckout(sessionId, 'payment declined');
    await eventually(async () => expect((await evaluateNow()).coupons[0]).toMatchObject({ valid: true }));
  });
});

/** The orders' payment recorded (a buyer cancels only a paid order; checkout owns the orders until then). */
async function paid<T extends { orderId: string }>(orders: T[]): Promise<T[]> {
  for (const o of orders) await changeStatus(t.app.pools.get('orders') as Pool, o.orderId, { type: 'record_payment' }, { actor: SYSTEM, reason: 'payment captured', now: new Date(), trace: null });
  return orders;
}

async function placeOrders(checkoutSessionId: string, buyerId: string, sellerIds: string[]) {
  return orders.createOrdersForCheckout({
    checkoutSessionId,
    buyerId,
    currency: 'USD',
    shippingAddress: { name: 'Ada', lines: ['1 Main St'], city: 'Springfield', postalCode: '12345', country: 'US' },
    orders: sellerIds.map((sellerId) => ({
      sellerId,
      discountAmount: 0,
      shippingAmount: 0,
      items: [{ productId: newId(), variantId: newId(), sku: 'SKU-1', productSnapshot: { title: 'Thing' }, unitPrice: 10_000, discountAmount: 0, quantity: 1 }],
    })),
  });
}

describe('cancelled orders', () => {
  async function released(couponId: string): Promise<Record<string, unknown>[]> {
    const { rows } = await db.query<{ payload: Record<string, unknown> }>(
      `SELECT payload FROM coupons_outbox_events WHERE event_type = 'coupons.redemption_released.v1' AND aggregate_id = $1`,
      [couponId],
    );
    return rows.map((r) => r.payload);
  }

  it('given back by a batch of cancellations, lock their coupons in id order, as a checkout redeeming them does: no deadlock (found by a review)', async () => {
    const made = [await createCoupon({}), await createCoupon({})].sort((a, b) => (a.id < b.id ? -1 : 1));
    const [first, second] = made as [{ id: string; code: string }, { id: string; code: string }];
    // Session one redeemed the second coupon, session two the first: the batch gives back the
    // second, then the first.
    const cancellations = [];
    for (const coupon of [second, first]) {
      const buyer = newId();
      const seller = newId();
      const sessionId = newId();
      await coupons.redeem({ checkoutSessionId: sessionId, buyerId: buyer, currency: 'USD', codes: [coupon.code], lines: [lineOf(seller)] });
      const at = new Date().toISOString();
      cancellations.push({
        specversion: '1.0', id: newId(), type: 'orders.order_cancelled.v1', source: '/bazaar/orders', subject: sessionId, time: at,
        datacontenttype: 'application/json', correlationid: newId(), causationid: null, aggregatetype: 'order',
        data: { orderId: newId(), buyerId: buyer, sellerId: seller, checkoutSessionId: sessionId, placedAt: at, cancelledAt: at, reason: 'changed my mind' },
      } as EventEnvelope);
    }
    // A checkout redeeming both holds the first coupon and is about to take the second.
    const checkout = await db.connect();
    const batch = await db.connect();
    try {
      await checkout.query('BEGIN');
      await checkout.query('SELECT 1 FROM coupons WHERE id = $1 FOR UPDATE', [first.id]);
      const pid = (await batch.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
      await batch.query('BEGIN');
      const trace = { correlationId: newId(), causationId: null };
      const applied = ordersSubscription().handleBatch!({ tx: batch, now: new Date(), trace, emit: async () => undefined }, cancellations);
      applied.catch(() => undefined);
      // The batch waits for the first coupon (without the ordered locks: having taken the second).
      await eventually(async () => expect(await count("SELECT count(*) AS n FROM pg_stat_activity WHERE pid = $1 AND wait_event_type = 'Lock'", [pid])).toBe(1));
      // Taken at once: the batch waits for the first coupon before it holds any other.
      await checkout.query('SELECT 1 FROM coupons WHERE id = $1 FOR UPDATE', [second.id]);
      await checkout.query('COMMIT');
      await applied;
      await batch.query('COMMIT');
    } finally {
      await checkout.query('ROLLBACK').catch(() => undefined);
      await batch.query('ROLLBACK').catch(() => undefined);
      checkout.release();
      batch.release();
    }
    expect([(await couponRow(first.id)).uses_count, (await couponRow(second.id)).uses_count]).toEqual([0, 0]);
  });

  it("given back by a batch of cancellations while the checkout's own release runs: no deadlock (found by a review)", async () => {
    // A platform coupon over two sellers' orders: the batch cancels both, and gives it back.
    const coupon = await createCoupon({});
    const [buyer, sessionId, sellers] = [newId(), newId(), [newId(), newId()]];
    await coupons.redeem({ checkoutSessionId: sessionId, buyerId: buyer, currency: 'USD', codes: [coupon.code], lines: sellers.map((s) => lineOf(s)) });
    const at = new Date().toISOString();
    const cancellations = sellers.map(
      (sellerId) =>
        ({
          specversion: '1.0', id: newId(), type: 'orders.order_cancelled.v1', source: '/bazaar/orders', subject: sessionId, time: at,
          datacontenttype: 'application/json', correlationid: newId(), causationid: null, aggregatetype: 'order',
          data: { orderId: newId(), buyerId: buyer, sellerId, checkoutSessionId: sessionId, placedAt: at, cancelledAt: at, reason: 'changed my mind' },
        }) as EventEnvelope,
    );
    // Something else holds the coupon's row: the batch and the checkout's release both come to it.
    const holder = await db.connect();
    const batch = await db.connect();
    let releasing: Promise<unknown> | undefined;
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT 1 FROM coupons WHERE id = $1 FOR UPDATE', [coupon.id]);
      await batch.query('BEGIN');
      const applied = ordersSubscription().handleBatch!({ tx: batch, now: new Date(), trace: { correlationId: newId(), causationId: null }, emit: async () => undefined }, cancellations);
      applied.catch(() => undefined);
      const waits = () => count(`SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`, []);
      await eventually(async () => expect(await waits()).toBe(1));
      releasing = coupons.releaseForCheckout(sessionId, 'checkout failed');
      releasing.catch(() => undefined);
      await eventually(async () => expect(await waits()).toBe(2));
      await holder.query('COMMIT');
      // Without the session's lock in the batch: the batch took the row and waited for the release's
      // record of the redemption, the release waited for the row (40P01, one of them retried).
      await applied;
      await batch.query('COMMIT');
      await expect(releasing).resolves.toEqual({ released: 0 });
    } finally {
      await holder.query('ROLLBACK').catch(() => undefined);
      await batch.query('ROLLBACK').catch(() => undefined);
      holder.release();
      batch.release();
      await releasing?.catch(() => undefined);
    }
    expect((await couponRow(coupon.id)).uses_count).toBe(0);
    expect(await count('SELECT count(*) AS n FROM coupon_redemption_releases x JOIN coupon_redemptions r ON r.id = x.redemption_id WHERE r.checkout_session_id = $1', [sessionId])).toBe(1);
  });

  it("release a seller's coupon when that seller's order of the checkout is cancelled", async () => {
    const seller = await signIn('seller');
    const coupon = await createCoupon({ maxUses: 1 }, seller.token, '/v1/seller/coupons');
    const buyer = await signIn('buyer');
    const sessionId = newId();
    const other = newId();
    await coupons.redeem({ checkoutSessionId: sessionId, buyerId: buyer.userId, currency: 'USD', codes: [coupon.code], lines: [lineOf(seller.userId), lineOf(other)] });
    const placed = await paid(await placeOrders(sessionId, buyer.userId, [seller.userId, other]));

    // The other seller's order going away leaves the coupon used: once coupons has seen that
    // cancellation, nothing is released.
    const otherOrder = placed.find((o) => o.sellerId === other)!;
    expect((await t.request('POST', `/v1/orders/${otherOrder.orderId}/cancel`, { token: buyer.token, body: {} })).statusCode).toBe(200);
    await eventually(async () => expect(await count('SELECT count(*) AS n FROM coupon_buyer_orders WHERE order_id = $1 AND cancelled_at IS NOT NULL', [otherOrder.orderId])).toBe(1));
    expect(await released(coupon.id)).toEqual([]);
    expect((await couponRow(coupon.id)).uses_count).toBe(1);
    const ownOrder = placed.find((o) => o.sellerId === seller.userId)!;
    expect((await t.request('POST', `/v1/orders/${ownOrder.orderId}/cancel`, { token: buyer.token, body: { reason: 'changed my mind' } })).statusCode).toBe(200);

    await eventually(async () => expect(await released(coupon.id)).toEqual([expect.objectContaining({ reason: 'order_cancelled', checkoutSessionId: sessionId })]));
    expect((await couponRow(coupon.id)).uses_count).toBe(0);
  });

  it('keep a platform coupon used while one discounted order of the checkout lives, and release it when the last is cancelled', async () => {
    const coupon = await createCoupon({ maxUses: 10 });
    const buyer = await signIn('buyer');
    const [a, b] = [newId(), newId()];
    const sessionId = newId();
    await coupons.redeem({ checkoutSessionId: sessionId, buyerId: buyer.userId, currency: 'USD', codes: [coupon.code], lines: [lineOf(a), lineOf(b)] });
    const placed = await paid(await placeOrders(sessionId, buyer.userId, [a, b]));

    const orderA = placed.find((o) => o.sellerId === a)!;
    expect((await t.request('POST', `/v1/orders/${orderA.orderId}/cancel`, { token: buyer.token, body: {} })).statusCode).toBe(200);
    // Wait until coupons has seen the cancellation, then check nothing was released.
    await eventually(async () => expect(await count('SELECT count(*) AS n FROM coupon_buyer_orders WHERE order_id = $1 AND cancelled_at IS NOT NULL', [orderA.orderId])).toBe(1));
    expect(await released(coupon.id)).toEqual([]);
    expect((await couponRow(coupon.id)).uses_count).toBe(1);

    const orderB = placed.find((o) => o.sellerId === b)!;
    expect((await t.request('POST', `/v1/orders/${orderB.orderId}/cancel`, { token: buyer.token, body: {} })).statusCode).toBe(200);
    await eventually(async () => expect(await released(coupon.id)).toHaveLength(1));
    expect((await couponRow(coupon.id)).uses_count).toBe(0);
  });

  it('release a coupon when every order that carries a share of its discount is cancelled, whatever a zero share would hold', async () => {
    // One cent over two sellers' lines: one line gets the cent, the other a share of 0.
    const coupon = await createCoupon({ maxUses: 1, type: 'fixed_amount', amountOff: { amount: 1, currency: 'USD' } });
    const buyer = await signIn('buyer');
    const [a, b] = [newId(), newId()];
    const sessionId = newId();
    const lines = [lineOf(a), lineOf(b)];
    const redeemed = await coupons.redeem({ checkoutSessionId: sessionId, buyerId: buyer.userId, currency: 'USD', codes: [coupon.code], lines });
    expect(redeemed.lines.map((l) => l.discountAmount).sort()).toEqual([0, 1]);
    const carrying = redeemed.lines.find((l) => l.discountAmount > 0)!;
    const placed = await paid(await placeOrders(sessionId, buyer.userId, [a, b]));
    const order = placed.find((o) => o.sellerId === lines.find((l) => l.lineId === carrying.lineId)!.sellerId)!;
    expect((await t.request('POST', `/v1/orders/${order.orderId}/cancel`, { token: buyer.token, body: {} })).statusCode).toBe(200);
    await eventually(async () => expect(await released(coupon.id)).toHaveLength(1));
    expect((await couponRow(coupon.id)).uses_count).toBe(0);
  });

  it.each(['the cancelled orders', "checkout's compensation"])("release a failed checkout's coupons once when %s come first", async (first) => {
    const coupon = await createCoupon({ maxUses: 10 });
    const buyerId = newId();
    const sellerId = newId();
    const sessionId = newId();
    await coupons.redeem({ checkoutSessionId: sessionId, buyerId, currency: 'USD', codes: [coupon.code], lines: [lineOf(sellerId)] });
    await placeOrders(sessionId, buyerId, [sellerId]);
    const cancelledSeen = () => count('SELECT count(*) AS n FROM coupon_buyer_orders WHERE checkout_session_id = $1 AND cancelled_at IS NOT NULL', [sessionId]);
    if (first === 'the cancelled orders') {
      // Coupons learns of the cancellation (an event) and releases before the compensation's call.
      await orders.cancelOrdersForCheckout(sessionId, 'payment declined');
      await eventually(async () => expect(await cancelledSeen()).toBe(1));
      expect(await released(coupon.id)).toHaveLength(1);
      await coupons.releaseForCheckout(sessionId, 'payment declined');
    } else {
      await coupons.releaseForCheckout(sessionId, 'payment declined');
      expect(await released(coupon.id)).toHaveLength(1);
      await orders.cancelOrdersForCheckout(sessionId, 'payment declined');
      await eventually(async () => expect(await cancelledSeen()).toBe(1));
    }
    expect(await released(coupon.id)).toHaveLength(1);
    expect((await couponRow(coupon.id)).uses_count).toBe(0);
  });
});
