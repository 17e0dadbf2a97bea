import { readFile } from 'node:fs/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { expectLedgerBalanced } from '../support/ledger.ts';
import type { ProductsApi } from '../../src/domains/products/index.ts';
import type { NotificationsModule } from '../../src/domains/notifications/index.ts';
import type { Pool } from '../../src/platform/db/pool.ts';
import { newId } from '../../src/platform/ids.ts';
import { insertIntoInbox } from '../../src/platform/messaging/inbox.ts';
import type { EventEnvelope } from '../../src/platform/messaging/envelope.ts';
import { type TestApp, startTestApp } from '../support/app.ts';
import { eventually } from '../support/eventually.ts';
import {
  type Account,
  type Http,
  type HttpAnswer,
  type Listed,
  categoryFixture,
  checkout,
  expectStatus,
  fillCart,
  listProduct,
  signUp,
} from '../checkout/fixtures/market.ts';

let t: TestApp;
let http: Http;
let db: Pool;
let notifications: NotificationsModule;
let seller: Account;
let mug: Listed;

interface NotificationJson {
  id: string;
  type: string;
  channel: string;
  title: string;
  body: string;
  data: Record<string, unknown>;
  status: string;
  attempts: number;
  createdAt: string;
  sentAt: string | null;
  readAt: string | null;
}

const waitFor = <T>(check: () => Promise<T>) => eventually(check, { timeoutMs: 30_000, intervalMs: 50 });

async function inbox(who: Account, query = ''): Promise<NotificationJson[]> {
  const page = (await expectStatus('notifications', http('GET', `/v1/me/notifications?limit=100${query}`, { token: who.token }), 200)).json();
  return page.items;
}

const typesOf = (items: NotificationJson[]) => items.map((n) => n.type);

/** A new buyer who bought one mug; answers the buyer and the paid order's id. */
async function buyMug(label: string, before?: (buyer: Account) => Promise<void>): Promise<{ buyer: Account; orderId: string }> {
  const buyer = await signUp(http, 'buyer', label);
  await before?.(buyer);
  await fillCart(http, buyer, [{ variantId: mug.variantId, quantity: 2 }]);
  const session = (await expectStatus('checkout', checkout(http, buyer), 201)).json();
  expect(session.status).toBe('completed');
  return { buyer, orderId: session.orderIds[0] };
}

function put(who: Account, body: unknown): Promise<HttpAnswer> {
  return http('PUT', '/v1/me/notification-preferences', { token: who.token, body });
}

beforeAll(async () => {
  t = await startTestApp({
    CHECKOUT_WAIT_MS: '8000',
    PAYMENTS_TEST_WEBHOOK_DELAY_MS: '50',
    NOTIFICATIONS_TEST_PROVIDER_LATENCY_MS: '1',
    NOTIFICATIONS_TEST_PROVIDER_FAILURE_PERCENT: '0',
  });
  http = (method, url, options) => t.request(method, url, options) as unknown as Promise<HttpAnswer>;
  db = t.app.pools.get('notifications') as Pool;
  notifications = t.app.modules.find((m) => m.name === 'notifications') as NotificationsModule;
  const products = t.app.modules.find((m) => m.name === 'products') as unknown as { api: ProductsApi };
  const category = categoryFixture();
  await products.api.importCategories([category]);
  seller = await signUp(http, 'seller', 'notified-seller');
  mug = await listProduct(http, seller, { categoryId: category.id, title: 'Mug', price: 2500, stock: 1000 }, waitFor);
});

afterAll(async () => {
  await t?.close();
});

// Money moved in these tests: the ledger balances after each (test/support/ledger.ts).
afterEach(async () => {
  await expectLedgerBalanced(t.app.pools.get('payments')!);
});

describe('notifications of a purchase', () => {
  let buyer: Account;
  let orderId: string;

  beforeAll(async () => {
    ({ buyer, orderId } = await buyMug('notified-buyer'));
  });

  it('welcome a new user, then tell the buyer the order was placed and paid, in the app at once and by email', async () => {
    const items = await waitFor(async () => {
      const listed = await inbox(buyer);
      expect(typesOf(listed)).toEqual(['order_paid', 'order_placed', 'account_welcome']);
      return listed;
    });
    const [paid] = items;
    expect(paid).toMatchObject({ channel: 'in_app', status: 'sent', readAt: null, data: { orderId, total: { amount: 5000, currency: 'USD' }, itemCount: 2 } });
    expect(paid?.title).toMatch(/^Order BZ-\d{8}-[A-Z0-9]{6} confirmed$/);
    expect(paid?.sentAt).toBe(paid?.createdAt);

    // order_placed and account_welcome default to in_app only / in_app and email: two emails.
    const emails = await waitFor(async () => {
      const listed = await inbox(buyer, '&channel=email');
      expect(listed.map((n) => [n.type, n.status])).toEqual([
        ['order_paid', 'sent'],
        ['account_welcome', 'sent'],
      ]);
      return listed;
    });
    expect(emails[0]?.attempts).toBe(1);
    const delivered = notifications.testProvider.delivered(buyer.email);
    expect(delivered.map((m) => m.subject)).toEqual(expect.arrayContaining(['Welcome to bazaar', paid?.title]));
    expect(delivered.find((m) => m.subject === paid?.title)).toMatchObject({ channel: 'email', body: paid?.body, idempotencyKey: emails[0]?.id });
  });

  it('tell the seller of the new paid order', async () => {
    const items = await waitFor(async () => {
      const listed = await inbox(seller);
      expect(typesOf(listed)).toContain('seller_order_paid');
      return listed;
    });
    expect(items.find((n) => n.type === 'seller_order_paid')).toMatchObject({ data: { orderId, status: 'paid' } });
    // A buyer's news is not the seller's.
    expect(typesOf(items)).not.toContain('order_paid');
  });

  it('announce every notification sent through the outbox', async () => {
    const { rows } = await db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM notifications_outbox_events e
         JOIN notifications x ON x.id = e.aggregate_id
        WHERE e.event_type = 'notifications.notification_sent.v1' AND x.user_id = $1`,
      [buyer.userId],
    );
    expect(rows[0]?.n).toBe(5);
  });

  it('notify nobody twice for an event delivered or applied again, even on a channel chosen since (found by an audit: the replay sent it by push)', async () => {
    const { rows } = await db.query<{ envelope: EventEnvelope; attempts: number }>(
      `SELECT envelope, attempts FROM notifications_inbox_events WHERE consumer = 'notifications.orders' AND event_type = 'orders.order_paid.v1' AND aggregate_id = $1`,
      [orderId],
    );
    const [row] = rows;
    if (!row) throw new Error('the order_paid event is not in the inbox');
    const count = async () =>
      (await db.query<{ n: number }>('SELECT count(*)::int AS n FROM notifications WHERE source_event_id = $1', [row.envelope.id])).rows[0]?.n;
    expect(await count()).toBe(4); // buyer and seller, in the app and by email
    const emailsBefore = notifications.testProvider.delivered().length;

    // Delivered again: the inbox already has it.
    expect(await insertIntoInbox(db, 'notifications', [{ consumer: 'notifications.orders', event: row.envelope }])).toBe(0);
    // The buyer, told in the app and by email already, moves order_paid to push meanwhile.
    await expectStatus('put', put(buyer, { channels: { order_paid: ['push'] } }), 200);
    // Applied again (as a replayed dead letter is): a recipient who has notifications of the event
    // gets none more, on no channel.
    await db.query(
      `UPDATE notifications_inbox_events SET status = 'pending', next_attempt_at = now() WHERE consumer = 'notifications.orders' AND event_id = $1`,
      [row.envelope.id],
    );
    await waitFor(async () => {
      const { rows: again } = await db.query<{ status: string; attempts: number }>(
        `SELECT status, attempts FROM notifications_inbox_events WHERE consumer = 'notifications.orders' AND event_id = $1`,
        [row.envelope.id],
      );
      expect(again[0]).toEqual({ status: 'processed', attempts: row.attempts + 1 });
    });
    expect(await count()).toBe(4);
    expect(typesOf(await inbox(buyer)).filter((type) => type === 'order_paid')).toHaveLength(1);
    await notifications.runDeliveryOnce();
    expect(notifications.testProvider.delivered().length).toBe(emailsBefore);
    expect(notifications.testProvider.delivered(buyer.userId)).toEqual([]);
    await expectStatus('put', put(buyer, { channels: { order_paid: null } }), 200);
  });

  it('tell the buyer of a refund the seller made', async () => {
    const refund = { amount: { amount: 1200, currency: 'USD' }, reason: 'one mug arrived chipped' };
    await expectStatus(
      'refund',
      http('POST', `/v1/seller/orders/${orderId}/refunds`, { token: seller.token, headers: { 'idempotency-key': newId() }, body: refund }),
      201,
    );
    const refunded = await waitFor(async () => {
      const found = (await inbox(buyer)).find((n) => n.type === 'order_refunded');
      expect(found).toBeDefined();
      return found as NotificationJson;
    });
    expect(refunded).toMatchObject({ data: { orderId, refund: { amount: 1200, currency: 'USD' }, full: false } });
    expect(refunded.body).toContain('USD 12.00');
    await waitFor(async () => expect((await inbox(buyer, '&channel=email')).map((n) => [n.type, n.status])).toContainEqual(['order_refunded', 'sent']));
  });

  it('tell the buyer of a cancellation, then of the refund of what was left', async () => {
    await expectStatus('cancel', http('POST', `/v1/orders/${orderId}/cancel`, { token: buyer.token, body: { reason: 'changed my mind' } }), 200);
    const items = await waitFor(async () => {
      const listed = await inbox(buyer);
      expect(typesOf(listed).slice(0, 2)).toEqual(['order_refunded', 'order_cancelled']);
      return listed;
    });
    expect(items[1]).toMatchObject({ data: { orderId, wasPaid: true, status: 'cancelled' } });
    // 12.00 of 50.00 was refunded by the seller before: the rest comes back.
    expect(items[1]?.body).toContain('cancelled as you asked. The rest of your payment, USD 38.00, will be refunded.');
    expect(items[0]).toMatchObject({ data: { orderId, refund: { amount: 3800, currency: 'USD' }, full: true } });
  });
});

describe('a user own notifications', () => {
  let ada: Account;
  let bob: Account;

  beforeAll(async () => {
    ({ buyer: ada } = await buyMug('ada'));
    ({ buyer: bob } = await buyMug('bob'));
    for (const who of [ada, bob]) await waitFor(async () => expect(await inbox(who)).toHaveLength(3));
  });

  it('are listed newest first, page by page, and nobody else sees them', async () => {
    const seen: NotificationJson[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const url: string = `/v1/me/notifications?limit=1${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
      const page = (await expectStatus('page', http('GET', url, { token: ada.token }), 200)).json();
      expect(page.items.length).toBeLessThanOrEqual(1);
      seen.push(...page.items);
      cursor = page.nextCursor;
      pages++;
    } while (cursor && pages < 10);
    expect(pages).toBe(3);
    expect(typesOf(seen)).toEqual(['order_paid', 'order_placed', 'account_welcome']);
    const { rows } = await db.query<{ user_id: string }>('SELECT DISTINCT user_id FROM notifications WHERE id = ANY($1::uuid[])', [seen.map((n) => n.id)]);
    expect(rows).toEqual([{ user_id: ada.userId }]);
    const bobs = await inbox(bob);
    expect(bobs.map((n) => n.id).filter((id) => seen.some((n) => n.id === id))).toEqual([]);
  });

  it('cap the page size and refuse a cursor the API did not write', async () => {
    for (const query of ['limit=101', 'limit=0', 'limit=abc', 'channel=sms', 'cursor=not-a-cursor', 'surprise=1']) {
      const answer = await http('GET', `/v1/me/notifications?${query}`, { token: ada.token });
      expect(answer.statusCode, query).toBe(400);
      expect(answer.headers['content-type']).toContain('application/problem+json');
      expect(answer.json().code).toBe(query.startsWith('cursor') ? 'INVALID_CURSOR' : 'VALIDATION_FAILED');
    }
    expect((await http('GET', '/v1/me/notifications')).statusCode).toBe(401);
  });

  it('are marked read by their user only; another user gets 404', async () => {
    const [newest] = await inbox(ada);
    if (!newest) throw new Error('no notification');
    const stranger = await http('POST', `/v1/me/notifications/${newest.id}/read`, { token: bob.token });
    expect(stranger.statusCode).toBe(404);
    expect(stranger.json().code).toBe('NOT_FOUND');
    expect((await inbox(ada))[0]?.readAt).toBeNull();
    const unreadCount = async (query = '') =>
      (await expectStatus('count', http('GET', `/v1/me/notifications?limit=1${query}`, { token: ada.token }), 200)).json().unreadCount;
    const before = await unreadCount();
    expect(before).toBe((await inbox(ada, '&unread=true')).length);
    // The whole count, whatever the page and the channel listed.
    expect(await unreadCount('&channel=email')).toBe(before);

    const read = (await expectStatus('read', http('POST', `/v1/me/notifications/${newest.id}/read`, { token: ada.token }), 200)).json();
    expect(read.readAt).not.toBeNull();
    const again = (await expectStatus('read again', http('POST', `/v1/me/notifications/${newest.id}/read`, { token: ada.token }), 200)).json();
    expect(again.readAt).toBe(read.readAt);
    expect((await inbox(ada, '&unread=true')).map((n) => n.id)).not.toContain(newest.id);
    expect(await inbox(ada, '&unread=true')).toHaveLength(2);
    expect(await unreadCount()).toBe(before - 1);
  });
});

describe('preferences', () => {
  it('start as the documented defaults for every type', async () => {
    const carol = await signUp(http, 'buyer', 'carol');
    const prefs = (await expectStatus('prefs', http('GET', '/v1/me/notification-preferences', { token: carol.token }), 200)).json();
    expect(prefs.availableChannels).toEqual(['in_app', 'email', 'push']);
    expect(prefs.items.find((p: { type: string }) => p.type === 'order_paid')).toEqual({
      type: 'order_paid',
      channels: ['in_app', 'email'],
      isDefault: true,
      defaultChannels: ['in_app', 'email'],
      updatedAt: null,
    });
    // Every type, with the default channels docs/notifications.md gives it, and nothing else.
    const documented = [...(await readFile(new URL('../../docs/notifications.md', import.meta.url), 'utf8')).matchAll(/^\| `([a-z_]+)` \|[^\n]*\| ([a-z_, ]+) \|$/gm)].map(
      ([, type, channels]) => [type, (channels as string).split(', ')],
    );
    const byType = (a: unknown[], b: unknown[]) => String(a[0]).localeCompare(String(b[0]));
    expect(documented.length).toBeGreaterThan(10);
    expect(prefs.items.map((p: { type: string; defaultChannels: string[] }) => [p.type, p.defaultChannels]).sort(byType)).toEqual(documented.sort(byType));
  });

  it('switch a type off, or move it to other channels, for the notifications that follow', async () => {
    const { buyer } = await buyMug('picky', async (picky) => {
      const answer = (await expectStatus('put', put(picky, { channels: { order_placed: [], order_paid: ['push', 'email'] } }), 200)).json();
      expect(answer.items.filter((p: { isDefault: boolean }) => !p.isDefault).map((p: { type: string; channels: string[] }) => [p.type, p.channels])).toEqual([
        ['order_placed', []],
        ['order_paid', ['email', 'push']],
      ]);
    });
    // order_paid comes after order_placed (events of one order arrive in order): once it is here, both were handled.
    await waitFor(async () => expect((await inbox(buyer, '&channel=push')).map((n) => [n.type, n.status])).toEqual([['order_paid', 'sent']]));
    expect(typesOf(await inbox(buyer))).toEqual(['account_welcome']);
    await waitFor(async () => expect((await inbox(buyer, '&channel=email')).map((n) => n.type)).toEqual(['order_paid', 'account_welcome']));
    expect(notifications.testProvider.delivered(buyer.userId).map((m) => m.channel)).toEqual(['push']);
    // The seller's own defaults are untouched by the buyer's choice.
    await waitFor(async () => expect((await inbox(seller)).filter((n) => n.type === 'seller_order_paid').length).toBeGreaterThanOrEqual(4));
  });

  it('put a type back to its default with null, and keep the types left out', async () => {
    const dan = await signUp(http, 'buyer', 'dan');
    await expectStatus('put', put(dan, { channels: { order_paid: [], order_shipped: ['push'] } }), 200);
    const answer = (await expectStatus('reset', put(dan, { channels: { order_paid: null } }), 200)).json();
    const byType = new Map(answer.items.map((p: { type: string }) => [p.type, p]));
    expect(byType.get('order_paid')).toMatchObject({ channels: ['in_app', 'email'], isDefault: true });
    expect(byType.get('order_shipped')).toMatchObject({ channels: ['push'], isDefault: false });
  });

  it('refuse bad input with a 400 problem and change nothing', async () => {
    const erin = await signUp(http, 'buyer', 'erin');
    await expectStatus('put', put(erin, { channels: { order_paid: ['email'] } }), 200);
    const before = (await http('GET', '/v1/me/notification-preferences', { token: erin.token })).body;
    const bad: unknown[] = [
      {},
      { channels: {} },
      { channels: { order_paid: ['fax'] } },
      { channels: { order_paid: ['sms'] } },
      { channels: { order_paid: ['in_app', 'in_app'] } },
      { channels: { order_teleported: ['in_app'] } },
      { channels: { order_placed: [], order_teleported: ['in_app'] } },
      { channels: { order_paid: { email: true } } },
      { channels: { order_paid: ['in_app'] }, extra: 1 },
      { channels: ['in_app'] },
      { channels: { order_paid: ['in_app', 'email', 'push', 'in_app'] } },
    ];
    for (const body of bad) {
      const answer = await put(erin, body);
      expect(answer.statusCode, JSON.stringify(body)).toBe(400);
      expect(answer.headers['content-type']).toContain('application/problem+json');
      expect(answer.json().code).toBe('VALIDATION_FAILED');
    }
    expect((await http('GET', '/v1/me/notification-preferences', { token: erin.token })).body).toBe(before);
    expect((await http('PUT', '/v1/me/notification-preferences', { body: { channels: { order_paid: [] } } })).statusCode).toBe(401);
  });
});
