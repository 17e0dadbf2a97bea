import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { UserRegisteredV1 } from '../../src/contracts/accounts.ts';
import type { OrderPaidV1, OrderStatusChangedV1 } from '../../src/contracts/orders.ts';
import type { ShipmentStatus, ShipmentStatusChangedV1 } from '../../src/contracts/shipping.ts';
import type { NotificationsModule } from '../../src/domains/notifications/index.ts';
import { ADDRESS_WAIT_MS } from '../../src/domains/notifications/delivery.ts';
import { ManualClock } from '../../src/platform/clock.ts';
import { type Pool, withTransaction } from '../../src/platform/db/pool.ts';
import type { DomainName } from '../../src/platform/domains.ts';
import { newId } from '../../src/platform/ids.ts';
import { appendEvents } from '../../src/platform/messaging/outbox.ts';
import { type TestApp, startTestApp } from '../support/app.ts';
import { eventually as within } from '../support/eventually.ts';

/**
 * The delivery worker against the built-in test provider, on a clock that moves only when the test
 * says: backoff is waited out by moving the clock, never by sleeping. The source events are
 * published through the owners' outboxes, as accounts and orders publish them.
 */
const clock = new ManualClock('2026-11-24T10:00:00.000Z');
const ATTEMPTS_MAX = 3;
const BASE_MS = 1000;
/** Below the worker's 60 s lease: moving the clock past a backoff never ends a lease of an attempt in flight. */
const MAX_MS = 30_000;

/** Event delivery on a loaded machine (other test files run beside this one) can take seconds. */
const eventually = <T>(check: () => Promise<T>) => within(check, { timeoutMs: 30_000 });

let t: TestApp;
let db: Pool;
let notifications: NotificationsModule;

interface Row {
  id: string;
  type: string;
  status: string;
  attempts: number;
  last_error: string | null;
  next_attempt_at: Date | null;
  sent_at: Date | null;
}

async function publish(domain: DomainName, type: string, aggregateId: string, aggregateType: string, data: unknown): Promise<void> {
  await withTransaction(t.app.pools.get(domain) as Pool, (tx) => appendEvents(tx, domain, [{ type, aggregateId, aggregateType, data }], null, clock.now()));
}

async function register(email: string, userId = newId()): Promise<string> {
  const data: UserRegisteredV1 = { userId, email, roles: ['buyer'], registeredAt: clock.now().toISOString() };
  await publish('accounts', 'accounts.user_registered.v1', userId, 'user', data);
  return userId;
}

async function emailOf(userId: string, type = 'account_welcome'): Promise<Row | undefined> {
  const { rows } = await db.query<Row>(
    `SELECT id, type, status, attempts, last_error, next_attempt_at, sent_at FROM notifications WHERE user_id = $1 AND type = $2 AND channel = 'email'`,
    [userId, type],
  );
  return rows[0];
}

async function outboxTypes(notificationId: string): Promise<{ type: string; attempts: number }[]> {
  const { rows } = await db.query<{ type: string; attempts: number }>(
    `SELECT event_type AS type, (payload->>'attempts')::int AS attempts FROM notifications_outbox_events WHERE aggregate_id = $1 ORDER BY seq`,
    [notificationId],
  );
  return rows;
}

/** An order of one book, as orders events describe it. */
function orderFacts(buyerId: string, orderId: string) {
  return {
    orderId,
    orderNumber: 'BZ-20261124-ABCDEF',
    checkoutSessionId: newId(),
    buyerId,
    sellerId: newId(),
    status: 'paid' as const,
    currency: 'EUR',
    subtotalAmount: 1999,
    discountAmount: 0,
    shippingAmount: 0,
    totalAmount: 1999,
    refundedAmount: 0,
    items: [{ itemId: newId(), productId: newId(), variantId: newId(), sku: 'BOOK-1', title: 'Book', variantAttributes: {}, unitPrice: 1999, quantity: 1, discountAmount: 0, lineTotal: 1999 }],
    placedAt: clock.now().toISOString(),
  };
}

/** Moves the clock past any backoff the worker can choose, and runs one round. */
async function laterRound(): Promise<void> {
  clock.advance(MAX_MS + 1);
  await notifications.runDeliveryOnce();
}

beforeAll(async () => {
  t = await startTestApp(
    {
      NOTIFICATIONS_SEND_ATTEMPTS_MAX: String(ATTEMPTS_MAX),
      NOTIFICATIONS_RETRY_DELAY_BASE_MS: String(BASE_MS),
      NOTIFICATIONS_RETRY_DELAY_MAX_MS: String(MAX_MS),
      // The worker's own poll never comes during the test: rounds run when a commit wakes it or the test asks.
      NOTIFICATIONS_DELIVERY_POLL_MS: '600000',
      NOTIFICATIONS_TEST_PROVIDER_LATENCY_MS: '2',
      NOTIFICATIONS_TEST_PROVIDER_FAILURE_PERCENT: '0',
    },
    { clock },
  );
  db = t.app.pools.get('notifications') as Pool;
  notifications = t.app.modules.find((m) => m.name === 'notifications') as NotificationsModule;
});

afterAll(async () => {
  await t?.close();
});

beforeEach(() => {
  clock.advance(3_600_000);
});

describe('the delivery worker', () => {
  it('sends a new email at once, after the commit that made it', async () => {
    const email = `prompt-${newId()}@example.test`;
    const userId = await register(email);
    await eventually(async () => expect(await emailOf(userId)).toMatchObject({ status: 'sent', attempts: 1, sent_at: clock.now(), next_attempt_at: null }));
    expect(notifications.testProvider.delivered(email).map((m) => m.subject)).toEqual(['Welcome to bazaar']);
  });

  it('retries a failing provider after a backoff on the injected clock, and sends once it recovers', async () => {
    const email = `flaky-${newId()}@example.test`;
    notifications.testProvider.failFor(email, 2);
    const failedAt = clock.now();
    const userId = await register(email);
    // The first attempt follows the commit that made the notification, and fails.
    const first = await eventually(async () => {
      const row = await emailOf(userId);
      expect(row).toMatchObject({ status: 'pending', attempts: 1, last_error: 'test provider: temporarily unavailable' });
      return row as Row;
    });
    // Due again after the first step of the backoff (base, with jitter down to half of it).
    const delay = (first.next_attempt_at as Date).getTime() - failedAt.getTime();
    expect(delay).toBeGreaterThanOrEqual(BASE_MS / 2);
    expect(delay).toBeLessThanOrEqual(BASE_MS);

    // Not before it is due.
    const calls = notifications.testProvider.calls;
    clock.advance(BASE_MS / 2 - 1);
    expect(await notifications.runDeliveryOnce()).toBe(false);
    expect(notifications.testProvider.calls).toBe(calls);
    expect(await emailOf(userId)).toMatchObject({ attempts: 1, status: 'pending' });

    await laterRound();
    // (eventually: a round the worker started on a wake-up of its own may hold the attempt for a moment)
    await eventually(async () => {
      const second = (await emailOf(userId)) as Row;
      expect(second).toMatchObject({ status: 'pending', attempts: 2, last_error: 'test provider: temporarily unavailable' });
      // The second step of the backoff doubles the first.
      const secondDelay = (second.next_attempt_at as Date).getTime() - clock.now().getTime();
      expect(secondDelay).toBeGreaterThanOrEqual(BASE_MS);
      expect(secondDelay).toBeLessThanOrEqual(2 * BASE_MS);
    });

    await laterRound();
    await eventually(async () =>
      expect(await emailOf(userId)).toMatchObject({ status: 'sent', attempts: 3, last_error: null, next_attempt_at: null, sent_at: clock.now() }),
    );
    expect(notifications.testProvider.delivered(email)).toHaveLength(1);
    expect(await outboxTypes(first.id)).toEqual([{ type: 'notifications.notification_sent.v1', attempts: 3 }]);
  });

  it('gives up after the bounded number of attempts, marks the notification failed and says so', async () => {
    const email = `dead-${newId()}@example.test`;
    notifications.testProvider.failFor(email, Number.POSITIVE_INFINITY);
    const userId = await register(email);
    // Recorded: the error is written with the outcome, not when the attempt is claimed.
    await eventually(async () => expect(await emailOf(userId)).toMatchObject({ status: 'pending', attempts: 1, last_error: 'test provider: temporarily unavailable' }));
    for (let round = 2; round < ATTEMPTS_MAX; round++) {
      await laterRound();
      // Recorded (not just claimed: a claimed attempt is held for the 60 s lease).
      await eventually(async () => {
        const row = (await emailOf(userId)) as Row;
        expect(row).toMatchObject({ status: 'pending', attempts: round });
        expect((row.next_attempt_at as Date).getTime() - clock.now().getTime()).toBeLessThanOrEqual(MAX_MS);
      });
    }
    await laterRound();
    const failed = await eventually(async () => {
      const row = await emailOf(userId);
      expect(row).toMatchObject({ status: 'failed', attempts: ATTEMPTS_MAX, next_attempt_at: null, sent_at: null, last_error: 'test provider: temporarily unavailable' });
      return row as Row;
    });

    // No attempt after the last one, however long one waits.
    const calls = notifications.testProvider.calls;
    await laterRound();
    await laterRound();
    expect(notifications.testProvider.calls).toBe(calls);
    expect(notifications.testProvider.delivered(email)).toEqual([]);
    expect(await outboxTypes(failed.id)).toEqual([{ type: 'notifications.notification_failed.v1', attempts: ATTEMPTS_MAX }]);
    // The in-app welcome is unaffected by the email's fate.
    const { rows } = await db.query(`SELECT status FROM notifications WHERE user_id = $1 AND channel = 'in_app'`, [userId]);
    expect(rows).toEqual([{ status: 'sent' }]);
    notifications.testProvider.failFor(email, 0);
  });

  it('fails at once on a permanent refusal', async () => {
    const email = `refused-${newId()}@example.test`;
    notifications.testProvider.failFor(email, 1, true);
    const userId = await register(email);
    await eventually(async () => expect(await emailOf(userId)).toMatchObject({ status: 'failed', attempts: 1, last_error: 'test provider: email address refused' }));
  });

  it('tells the buyer of shipping by email and in the app, and of delivery in the app only', async () => {
    const email = `shipped-${newId()}@example.test`;
    const userId = await register(email);
    const orderId = newId();
    const facts = orderFacts(userId, orderId);
    for (const [fromStatus, toStatus] of [['paid', 'shipped'], ['shipped', 'delivered']] as const) {
      const changed: OrderStatusChangedV1 = { ...facts, status: toStatus, fromStatus, toStatus, reason: 'carrier update', actorType: 'system', changedBy: null, changedAt: clock.now().toISOString() };
      await publish('orders', 'orders.order_status_changed.v1', orderId, 'order', changed);
    }
    await eventually(async () => {
      const { rows } = await db.query(`SELECT type, channel, status FROM notifications WHERE user_id = $1 AND type <> 'account_welcome' ORDER BY type, channel`, [userId]);
      expect(rows).toEqual([
        { type: 'order_delivered', channel: 'in_app', status: 'sent' },
        { type: 'order_shipped', channel: 'email', status: 'sent' },
        { type: 'order_shipped', channel: 'in_app', status: 'sent' },
      ]);
    });
    expect(notifications.testProvider.delivered(email).map((m) => m.subject)).toEqual(['Welcome to bazaar', 'Order BZ-20261124-ABCDEF shipped']);
  });

  it('tells buyer and seller of a parcel the carrier could not deliver and sends back, and the buyer of one out for delivery', async () => {
    const buyerEmail = `parcel-buyer-${newId()}@example.test`;
    const sellerEmail = `parcel-seller-${newId()}@example.test`;
    const buyerId = await register(buyerEmail);
    const sellerId = await register(sellerEmail);
    const shipmentId = newId();
    let version = 2;
    const scans: [ShipmentStatus, ShipmentStatus][] = [
      ['in_transit', 'out_for_delivery'],
      ['out_for_delivery', 'delivery_failed'],
      ['delivery_failed', 'returned'],
    ];
    for (const [fromStatus, toStatus] of scans) {
      const changed: ShipmentStatusChangedV1 = {
        shipmentId,
        orderId: newId(),
        sellerId,
        buyerId,
        carrier: 'testpost',
        trackingNumber: 'TP0000012345',
        status: toStatus,
        shippedAt: clock.now().toISOString(),
        deliveredAt: null,
        version: ++version,
        fromStatus,
        toStatus,
        source: 'carrier',
        occurredAt: clock.now().toISOString(),
        changedAt: clock.now().toISOString(),
      };
      await publish('shipping', 'shipping.shipment_status_changed.v1', shipmentId, 'shipment', changed);
    }
    const rowsOf = async (userId: string) =>
      (await db.query(`SELECT type, channel, status FROM notifications WHERE user_id = $1 AND type <> 'account_welcome' ORDER BY type, channel`, [userId])).rows;
    await eventually(async () => {
      expect(await rowsOf(buyerId)).toEqual([
        { type: 'shipment_delivery_failed', channel: 'email', status: 'sent' },
        { type: 'shipment_delivery_failed', channel: 'in_app', status: 'sent' },
        { type: 'shipment_out_for_delivery', channel: 'in_app', status: 'sent' },
        { type: 'shipment_returned', channel: 'email', status: 'sent' },
        { type: 'shipment_returned', channel: 'in_app', status: 'sent' },
      ]);
      expect(await rowsOf(sellerId)).toEqual([
        { type: 'seller_shipment_problem', channel: 'email', status: 'sent' },
        { type: 'seller_shipment_problem', channel: 'email', status: 'sent' },
        { type: 'seller_shipment_problem', channel: 'in_app', status: 'sent' },
        { type: 'seller_shipment_problem', channel: 'in_app', status: 'sent' },
      ]);
    });
    expect(
      notifications.testProvider
        .delivered(buyerEmail)
        .map((m) => m.subject)
        .sort(),
    ).toEqual(['Welcome to bazaar', 'Your parcel could not be delivered', 'Your parcel is going back to the seller']);
  });

  it("notifies a user who buys from themself once, as the buyer, whatever channels they chose for either type", async () => {
    const userId = await register(`self-${newId()}@example.test`);
    const { token } = await t.app.tokens.sign({ userId, roles: ['buyer', 'seller'] });
    // order_paid to push only; seller_order_paid left at its default (in_app and email).
    const chosen = await t.request('PUT', '/v1/me/notification-preferences', { token, body: { channels: { order_paid: ['push'] } } });
    expect(chosen.statusCode, chosen.body).toBe(200);
    const orderId = newId();
    const paid = { ...orderFacts(userId, orderId), sellerId: userId, paymentId: newId(), paidAmount: 1999, paidAt: clock.now().toISOString() };
    await publish('orders', 'orders.order_paid.v1', orderId, 'order', paid);
    const rows = await eventually(async () => {
      const { rows } = await db.query<{ type: string; channel: string }>(`SELECT type, channel FROM notifications WHERE user_id = $1 AND type <> 'account_welcome' ORDER BY type, channel`, [userId]);
      expect(rows.length).toBeGreaterThan(0);
      return rows;
    });
    expect(rows).toEqual([{ type: 'order_paid', channel: 'push' }]);
  });

  it('keeps an email waiting while the address is unknown, counting no attempt however long, and sends it once accounts tells it (found by an audit: its attempts were spent in a minute)', async () => {
    const userId = newId();
    const orderId = newId();
    const paid: OrderPaidV1 = {
      ...orderFacts(userId, orderId),
      paymentId: newId(),
      paidAmount: 1999,
      paidAt: clock.now().toISOString(),
    };
    await publish('orders', 'orders.order_paid.v1', orderId, 'order', paid);
    const waiting = { status: 'pending', attempts: 0, last_error: 'no email address is known for the user yet' };
    await eventually(async () => expect(await emailOf(userId, 'order_paid')).toMatchObject(waiting));
    // More rounds than the attempts allowed: nothing was sent, so nothing is used up.
    for (let round = 0; round <= ATTEMPTS_MAX; round++) {
      await laterRound();
      await eventually(async () => expect(await emailOf(userId, 'order_paid')).toMatchObject(waiting));
    }
    const email = `late-${newId()}@example.test`;
    await register(email, userId);
    await eventually(async () => expect(await emailOf(userId)).toMatchObject({ status: 'sent' }));
    await laterRound();
    await eventually(async () => expect(await emailOf(userId, 'order_paid')).toMatchObject({ status: 'sent', attempts: 1 }));
    expect(notifications.testProvider.delivered(email).map((m) => m.subject)).toEqual(['Welcome to bazaar', 'Order BZ-20261124-ABCDEF confirmed']);
  });

  it('fails an email whose address has not come within a day, and says so', async () => {
    const userId = newId();
    const orderId = newId();
    await publish('orders', 'orders.order_paid.v1', orderId, 'order', { ...orderFacts(userId, orderId), paymentId: newId(), paidAmount: 1999, paidAt: clock.now().toISOString() });
    // Once the round woken by its commit has recorded the wait (not only made: the row starts so).
    await eventually(async () => expect(await emailOf(userId, 'order_paid')).toMatchObject({ status: 'pending', attempts: 0, last_error: 'no email address is known for the user yet' }));
    // Two rounds (each moves the clock past the longest delay) reach the day: the first is just short of it.
    clock.advance(ADDRESS_WAIT_MS - 2 * (MAX_MS + 1));
    await laterRound();
    await eventually(async () => expect(await emailOf(userId, 'order_paid')).toMatchObject({ status: 'pending', attempts: 0, last_error: 'no email address is known for the user yet' }));
    await laterRound();
    const failed = await eventually(async () => {
      const row = await emailOf(userId, 'order_paid');
      expect(row).toMatchObject({ status: 'failed', attempts: 0, next_attempt_at: null, last_error: 'no email address arrived for the user within 24 hours' });
      return row as Row;
    });
    expect(await outboxTypes(failed.id)).toEqual([{ type: 'notifications.notification_failed.v1', attempts: 0 }]);
  });
});
