import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/platform/clock.ts';
import { newId } from '../../src/platform/ids.ts';
import { type TestApp, startTestApp } from '../support/app.ts';
import { cancelled, orderOf, paid, placed, refunded, settled } from './support.ts';

// biome-ignore lint/suspicious/noExplicitAny: JSON answers, as loosely typed as inject's json()
type Json = Record<string, any>;

let t: TestApp;
const clock = new ManualClock('2026-05-20T12:00:00.000Z');
const sellerId = newId();
const otherSellerId = newId();
let token: string;
const mug = newId();
const lamp = newId();
const rug = newId();
const cup = newId();

const DAY1 = '2026-05-18';
const DAY2 = '2026-05-19';

beforeAll(async () => {
  t = await startTestApp({}, { clock });
  token = (await t.app.tokens.sign({ userId: sellerId, roles: ['seller'] }, clock.now())).token;
  // The known set of facts:
  //  A  USD paid day 1: 2 mugs at 1000 + 1 lamp at 5000, 500 off, 700 shipping  -> total 7200
  //  B  USD paid day 2: 3 mugs at 1000                                         -> total 3000, refunded 1000 on day 2
  //  C  USD paid day 2 then cancelled day 2 (payments refunds it all, 4000)     -> total 4000
  //  D  USD placed day 2, cancelled before payment                              -> never counts
  //  E  USD placed day 2, not paid yet                                          -> counts as pending only
  //  F  EUR paid day 1: 1 rug at 20000                                          -> total 20000
  //  G  the other seller's USD order paid day 1                                 -> not this seller's
  //  D's capture lands after its cancellation and payments refunds it (45000)   -> never counts either
  //  H  USD paid day 1 (a cup at 2000), refunded 500 on day 2, the refund's event first -> counts both
  const at = (day: string, hour: number) => `${day}T${String(hour).padStart(2, '0')}:00:00.000Z`;
  const A = orderOf({ sellerId, currency: 'USD', placedAt: at(DAY1, 8), shippingAmount: 700, lines: [{ productId: mug, title: 'Mug', unitPrice: 1000, quantity: 2, discountAmount: 500 }, { productId: lamp, title: 'Lamp', unitPrice: 5000, quantity: 1 }] });
  const B = orderOf({ sellerId, currency: 'USD', placedAt: at(DAY2, 8), lines: [{ productId: mug, title: 'Mug', unitPrice: 1000, quantity: 3 }] });
  const C = orderOf({ sellerId, currency: 'USD', placedAt: at(DAY2, 9), lines: [{ productId: lamp, title: 'Lamp', unitPrice: 4000, quantity: 1 }] });
  const D = orderOf({ sellerId, currency: 'USD', placedAt: at(DAY2, 10), lines: [{ productId: lamp, title: 'Lamp', unitPrice: 5000, quantity: 9 }] });
  const E = orderOf({ sellerId, currency: 'USD', placedAt: at(DAY2, 11), lines: [{ productId: mug, title: 'Mug', unitPrice: 1000, quantity: 1 }] });
  const F = orderOf({ sellerId, currency: 'EUR', placedAt: at(DAY1, 7), lines: [{ productId: rug, title: 'Rug', unitPrice: 20000, quantity: 1 }] });
  const G = orderOf({ sellerId: otherSellerId, currency: 'USD', placedAt: at(DAY1, 7), lines: [{ productId: newId(), title: 'Vase', unitPrice: 99000, quantity: 1 }] });
  const H = orderOf({ sellerId, currency: 'USD', placedAt: at(DAY1, 6), lines: [{ productId: cup, title: 'Cup', unitPrice: 2000, quantity: 1 }] });
  for (const o of [A, B, C, D, E, F, G, H]) await placed(t, o);
  await paid(t, A, at(DAY1, 9));
  const paidB = await paid(t, B, at(DAY2, 9));
  const paidC = await paid(t, C, at(DAY2, 10));
  await cancelled(t, paidC, at(DAY2, 12));
  await refunded(t, paidC, 4000, 0, at(DAY2, 13));
  await refunded(t, paidB, 1000, 0, at(DAY2, 14));
  const cancelledD = await cancelled(t, D, at(DAY2, 12));
  await refunded(t, cancelledD, 45000, 0, at(DAY2, 15));
  // The two events come from two domains, in no set order: the refund's may be taken first.
  await refunded(t, { ...H, status: 'paid' }, 500, 0, at(DAY2, 16));
  await settled(t);
  await paid(t, H, at(DAY1, 11));
  await paid(t, F, at(DAY1, 10));
  await paid(t, G, at(DAY1, 10));
  await settled(t);
});
afterAll(async () => t?.close());

async function dashboard(query = '', as = token): Promise<Json> {
  const res = await t.request('GET', `/v1/seller/dashboard${query}`, { token: as });
  expect(res.statusCode, res.body).toBe(200);
  return res.json();
}

const usd = (amount: number) => ({ amount, currency: 'USD' });

describe('seller dashboard', () => {
  it('adds up revenue, refunds and orders per currency from the orders and payments events', async () => {
    const d = await dashboard();
    expect(d).toMatchObject({ sellerId, from: '2026-04-21', to: '2026-05-20', topBy: 'revenue' });
    expect(d.currencies.map((c: Json) => c.currency)).toEqual(['EUR', 'USD']);
    const [eur, us] = d.currencies;
    expect(us).toMatchObject({ paidOrders: 4, revenue: usd(7200 + 3000 + 4000 + 2000), refunded: usd(5000 + 500), netRevenue: usd(10700) });
    expect(us.ordersByStatus).toEqual({ paid: 3, cancelled: 2, pending_payment: 1 });
    expect(us.recentOrders.map((o: Json) => o.status)).toEqual(['pending_payment', 'cancelled', 'cancelled', 'paid', 'paid', 'paid']);
    expect(us.recentOrders[4]).toMatchObject({ total: usd(7200), itemCount: 3, placedAt: `${DAY1}T08:00:00.000Z` });
    expect(eur).toMatchObject({ paidOrders: 1, revenue: { amount: 20000, currency: 'EUR' }, refunded: { amount: 0, currency: 'EUR' } });
  });

  it('gives the figures of each UTC day, which add up to the totals', async () => {
    const us = (await dashboard('?currency=USD')).currencies;
    expect(us).toHaveLength(1);
    expect(us[0].days).toEqual([
      { day: DAY1, orders: 2, revenue: usd(9200), refunded: usd(0), netRevenue: usd(9200) },
      { day: DAY2, orders: 2, revenue: usd(7000), refunded: usd(5500), netRevenue: usd(1500) },
    ]);
    const sum = (k: string) => us[0].days.reduce((n: number, x: Json) => n + x[k].amount, 0);
    expect(sum('revenue')).toBe(us[0].revenue.amount);
    expect(sum('refunded')).toBe(us[0].refunded.amount);
    // A range leaves out the days outside it.
    expect((await dashboard(`?currency=USD&from=${DAY2}&to=${DAY2}`)).currencies[0].days.map((x: Json) => x.day)).toEqual([DAY2]);
  });

  it('ranks the top products by revenue or by units, in each currency', async () => {
    const byRevenue = (await dashboard('?currency=USD')).currencies[0].topProducts;
    expect(byRevenue).toEqual([
      { productId: lamp, title: 'Lamp', unitsSold: 2, revenue: usd(9000) },
      { productId: mug, title: 'Mug', unitsSold: 5, revenue: usd(4500) },
      { productId: cup, title: 'Cup', unitsSold: 1, revenue: usd(2000) },
    ]);
    const byUnits = (await dashboard('?currency=USD&topBy=units&topLimit=1')).currencies[0].topProducts;
    expect(byUnits).toEqual([{ productId: mug, title: 'Mug', unitsSold: 5, revenue: usd(4500) }]);
  });

  it('answers revenue beyond 2^53 exactly, as JSON integers of every digit (found by a helper: the dashboard was a 500 for good)', async () => {
    const bigSeller = newId();
    const product = newId();
    const unitPrice = 8_000_000_000_000_000; // one order stays below 2^53; two do not
    const orders = [0, 1].map((i) => orderOf({ sellerId: bigSeller, currency: 'VND', placedAt: `${DAY2}T0${i}:00:00.000Z`, lines: [{ productId: product, title: 'Estate', unitPrice, quantity: 1 }] }));
    for (const o of orders) await placed(t, o);
    const paidOrders = [];
    for (const o of orders) paidOrders.push(await paid(t, o, `${DAY2}T05:00:00.000Z`));
    await refunded(t, paidOrders[0] as never, 1, 0, `${DAY2}T06:00:00.000Z`);
    await settled(t);
    const bigToken = (await t.app.tokens.sign({ userId: bigSeller, roles: ['seller'] }, clock.now())).token;
    const res = await t.request('GET', '/v1/seller/dashboard', { token: bigToken });
    expect(res.statusCode, res.body).toBe(200);
    const revenue = 2n * BigInt(unitPrice);
    const figures = `"revenue":{"amount":${revenue},"currency":"VND"},"refunded":{"amount":1,"currency":"VND"},"netRevenue":{"amount":${revenue - 1n},"currency":"VND"}`;
    expect(res.body).toContain(`"paidOrders":2,${figures}`);
    expect(res.body).toContain(`{"day":"${DAY2}","orders":2,${figures}}`);
    expect(res.body).toContain(`"unitsSold":2,"revenue":{"amount":${revenue},"currency":"VND"}`);
  });

  it('shows a seller only their own figures', async () => {
    const other = (await t.app.tokens.sign({ userId: otherSellerId, roles: ['seller'] }, clock.now())).token;
    const d = await dashboard('', other);
    expect(d.currencies).toHaveLength(1);
    expect(d.currencies[0]).toMatchObject({ paidOrders: 1, revenue: usd(99000) });
    const stranger = (await t.app.tokens.sign({ userId: newId(), roles: ['seller'] }, clock.now())).token;
    expect((await dashboard('', stranger)).currencies).toEqual([]);
  });

  it('is for sellers, and refuses bad query input with 400', async () => {
    const buyer = (await t.app.tokens.sign({ userId: newId(), roles: ['buyer'] }, clock.now())).token;
    expect((await t.request('GET', '/v1/seller/dashboard', { token: buyer })).statusCode).toBe(403);
    expect((await t.request('GET', '/v1/seller/dashboard')).statusCode).toBe(401);
    for (const query of ['?from=2026-05-10&to=2026-05-01', '?from=2024-01-01&to=2026-01-01', '?to=2026-02-30', '?from=0000-01-01&to=0000-01-02', '?topLimit=0', '?topBy=profit', '?currency=usd', '?page=2']) {
      const res = await t.request('GET', `/v1/seller/dashboard${query}`, { token });
      expect(res.statusCode, query).toBe(400);
      expect(res.json().code, query).toBe('VALIDATION_FAILED');
    }
  });
});
