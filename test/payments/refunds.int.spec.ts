import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { OrderCancelledV1 } from '../../src/contracts/orders.ts';
import { sellerPayable } from '../../src/domains/payments/index.ts';
import { recordRefund } from '../../src/domains/payments/record-refund.ts';
import { insertTransaction, lockIntentForCapture } from '../../src/domains/payments/sql.ts';
import { withTransaction } from '../../src/platform/db/pool.ts';
import { newId } from '../../src/platform/ids.ts';
import { type EventEnvelope, traceOf } from '../../src/platform/messaging/envelope.ts';
import { expectLedgerBalanced, ledgerBalance } from '../support/ledger.ts';
import { type PaymentsHarness, paymentFor, startPayments } from './harness.ts';

let h: PaymentsHarness;

beforeAll(async () => {
  h = await startPayments();
});
afterEach(async () => {
  await expectLedgerBalanced(h.pool);
});
afterAll(async () => {
  await h?.close();
});

async function capturedOrder(amount: number, token = 'tok_visa', on: PaymentsHarness = h) {
  const sellerId = newId();
  const input = paymentFor([{ sellerId, amount }, { sellerId: newId(), amount: 500 }], token);
  const { intentId } = await on.module.api.authorize(input);
  await on.module.testGateway.deliverWebhooks();
  await on.module.api.capture(intentId);
  await on.module.testGateway.deliverWebhooks();
  const orderId = input.allocations[0]?.orderId as string;
  return { intentId, orderId, sellerId, token: await on.token(sellerId, ['seller']) };
}

function refundRequest(orderId: string, token: string, amount: number, key: string | null = newId(), currency = 'USD', reason = 'damaged in transit') {
  return h.request('POST', `/v1/seller/orders/${orderId}/refunds`, {
    token,
    headers: key ? { 'idempotency-key': key } : {},
    body: { amount: { amount, currency }, reason },
  });
}

async function refundRows(intentId: string) {
  const { rows } = await h.pool.query('SELECT count(*)::int AS n FROM refunds WHERE payment_intent_id = $1', [intentId]);
  return rows[0].n as number;
}

describe('seller refunds', () => {
  it('draws another reference when the one drawn is taken (two refunds of a day drawing the same 40 bits were a 500)', async () => {
    const order = await capturedOrder(1000);
    const first = await refundRequest(order.orderId, order.token, 100);
    expect(first.statusCode, first.body).toBe(201);
    const fresh = `RF-20261207-${newId().slice(-10)}`;
    const drawn = [first.json().reference as string, fresh];
    // Recorded in a transaction rolled back at the end: nothing is sent to the gateway, nothing stays.
    const tx = await h.pool.connect();
    try {
      await tx.query('BEGIN');
      const { row, created } = await recordRefund(
        tx,
        { idempotencyKey: newId(), orderId: order.orderId, sellerId: order.sellerId, amount: 50, reason: 'scratched' },
        { onExisting: 'compare', referenceOf: () => drawn.shift() as string },
      );
      expect([created, row.refund_reference, row.amount]).toEqual([true, fresh, 50]);
      expect(drawn).toEqual([]);
    } finally {
      await tx.query('ROLLBACK');
      tx.release();
    }
  });

  it('refunds partially, then fully, and gives the seller payable and the commission back', async () => {
    const order = await capturedOrder(1000);
    expect(await ledgerBalance(h.pool, sellerPayable(order.sellerId))).toEqual({ USD: 900 });

    const partial = await refundRequest(order.orderId, order.token, 333);
    expect(partial.statusCode).toBe(201);
    expect(partial.json()).toMatchObject({ orderId: order.orderId, amount: { amount: 333, currency: 'USD' }, status: 'succeeded' });
    expect(partial.json().reference).toMatch(/^RF-\d{8}-[0-9a-f]{10}$/);
    // 10 % commission on 333 refunded of 1000 is 33.3 → 33 given back by the platform, 300 by the seller.
    expect(await ledgerBalance(h.pool, sellerPayable(order.sellerId))).toEqual({ USD: 600 });
    expect((await h.module.api.getIntent(order.intentId))?.status).toBe('partially_refunded');

    const rest = await refundRequest(order.orderId, order.token, 667);
    expect(rest.json()).toMatchObject({ status: 'succeeded' });
    expect(await ledgerBalance(h.pool, sellerPayable(order.sellerId))).toEqual({ USD: 0 });
    const intent = await h.module.api.getIntent(order.intentId);
    expect(intent?.allocations[0]).toMatchObject({ capturedAmount: 1000, refundedAmount: 1000 });
    // The other seller's order is untouched, so the intent is only partly refunded.
    expect(intent?.status).toBe('partially_refunded');
    const { rows } = await h.pool.query(
      "SELECT count(*)::int AS n FROM payments_outbox_events WHERE aggregate_id = $1 AND event_type = 'payments.refund_succeeded.v1'",
      [order.intentId],
    );
    expect(rows[0].n).toBe(2);
  });

  it('refuses a refund above what is left to refund, and records nothing', async () => {
    const order = await capturedOrder(1000);
    await refundRequest(order.orderId, order.token, 300);
    const over = await refundRequest(order.orderId, order.token, 701);
    expect(over.statusCode).toBe(409);
    expect(over.json()).toMatchObject({ code: 'REFUND_EXCEEDS_CAPTURED', refundableAmount: 700 });
    expect(await refundRows(order.intentId)).toBe(1);
    expect((await refundRequest(order.orderId, order.token, 700)).statusCode).toBe(201);
    expect((await refundRequest(order.orderId, order.token, 1)).statusCode).toBe(409);
  });

  it('never refunds more than was captured under ten concurrent requests', async () => {
    const order = await capturedOrder(1000);
    const responses = await Promise.all(Array.from({ length: 10 }, () => refundRequest(order.orderId, order.token, 300)));
    const codes = responses.map((r) => r.statusCode).sort();
    expect(codes.filter((c) => c === 201)).toHaveLength(3);
    expect(codes.filter((c) => c === 409)).toHaveLength(7);
    const intent = await h.module.api.getIntent(order.intentId);
    expect(intent?.allocations[0]?.refundedAmount).toBe(900);
    expect(await ledgerBalance(h.pool, sellerPayable(order.sellerId))).toEqual({ USD: 900 - 810 });
  });

  it('replays the same key and body, and refuses the same key with another body', async () => {
    const order = await capturedOrder(1000);
    const key = newId();
    const first = await refundRequest(order.orderId, order.token, 100, key);
    const again = await refundRequest(order.orderId, order.token, 100, key);
    expect(again.statusCode).toBe(201);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.json()).toEqual(first.json());
    expect((await refundRequest(order.orderId, order.token, 101, key)).statusCode).toBe(422);
    expect(await refundRows(order.intentId)).toBe(1);
  });

  it('takes a reason of up to 1000 characters, counted as characters (an emoji is one) as its schema says', async () => {
    const order = await capturedOrder(1000);
    const emoji = `a${'\u{1F600}'.repeat(999)}`;
    const taken = await refundRequest(order.orderId, order.token, 100, newId(), 'USD', emoji);
    expect(taken.statusCode, taken.body).toBe(201);
    expect(taken.json().reason).toBe(emoji);
    const tooLong = await refundRequest(order.orderId, order.token, 100, newId(), 'USD', `${emoji}b`);
    expect([tooLong.statusCode, tooLong.json().code]).toEqual([400, 'VALIDATION_FAILED']);
  });

  it('requires an Idempotency-Key', async () => {
    const order = await capturedOrder(1000);
    const response = await refundRequest(order.orderId, order.token, 100, null);
    expect(response.statusCode).toBe(400);
    expect(response.json().code).toBe('IDEMPOTENCY_KEY_REQUIRED');
  });

  it("answers 404 for another seller's order, and 403 for a buyer", async () => {
    const order = await capturedOrder(1000);
    const other = await h.token(newId(), ['seller']);
    expect((await refundRequest(order.orderId, other, 100)).statusCode).toBe(404);
    expect((await refundRequest(newId(), order.token, 100)).statusCode).toBe(404);
    const buyer = await h.token(newId(), ['buyer']);
    expect((await refundRequest(order.orderId, buyer, 100)).statusCode).toBe(403);
    expect(await refundRows(order.intentId)).toBe(0);
  });

  it('refuses a refund in another currency, and one of a payment not captured', async () => {
    const order = await capturedOrder(1000);
    expect((await refundRequest(order.orderId, order.token, 100, newId(), 'EUR')).statusCode).toBe(400);
    const sellerId = newId();
    const input = paymentFor([{ sellerId, amount: 400 }]);
    await h.module.api.authorize(input);
    const response = await refundRequest(input.allocations[0]?.orderId as string, await h.token(sellerId, ['seller']), 100);
    expect(response.statusCode).toBe(409);
    expect(response.json().code).toBe('INVALID_STATE_TRANSITION');
  });

  it('answers 202 while the gateway settles a refund later, and applies its webhook once', async () => {
    const order = await capturedOrder(1000, 'tok_delayed_webhook');
    const pending = await refundRequest(order.orderId, order.token, 250);
    expect(pending.statusCode).toBe(202);
    expect(pending.json().status).toBe('pending');
    expect(await ledgerBalance(h.pool, sellerPayable(order.sellerId))).toEqual({ USD: 900 });
    // The reserved amount already counts: a second refund cannot take it.
    expect((await refundRequest(order.orderId, order.token, 751)).statusCode).toBe(409);

    await h.module.testGateway.deliverWebhooks();
    const refunded = (await h.module.testGateway.eventsFor(order.intentId)).find((e) => e.type === 'refund.succeeded');
    expect(await h.module.testGateway.resendWebhook(refunded?.eventId as string)).toBe(200);
    expect(await ledgerBalance(h.pool, sellerPayable(order.sellerId))).toEqual({ USD: 900 - 225 });
    const { rows } = await h.pool.query("SELECT count(*)::int AS n FROM ledger_journals WHERE kind = 'refund_succeeded' AND reference_id = $1", [
      pending.json().id,
    ]);
    expect(rows[0].n).toBe(1);
  });

  it('still sends a new refund when more than a batch of refunds wait at the gateway for their outcome', async () => {
    // Made first: making an order delivers the gateway's webhooks, which would settle the refunds.
    const cancelled = await capturedOrder(1000);
    const waitingOrders = [];
    for (let i = 0; i < 21; i++) waitingOrders.push(await capturedOrder(1000, 'tok_delayed_webhook'));
    for (const o of waitingOrders) {
      const r = await h.module.api.refund({ idempotencyKey: newId(), orderId: o.orderId, sellerId: o.sellerId, amount: 100, reason: 'damaged in transit' });
      expect(r.status).toBe('pending');
    }
    // A cancelled order's refund is sent only by the worker, behind the 21 older ones.
    expect(await h.module.releaseOrderPayment({ orderId: cancelled.orderId, reason: 'buyer cancelled', cancelledBy: null })).toMatchObject({ refunds: 1 });
    for (let i = 0; i < 3; i++) await h.module.runWorkerOnce();
    const { rows } = await h.pool.query<{ sent: number }>(
      `SELECT (SELECT count(*)::int FROM test_gateway_requests g WHERE g.idempotency_key = 'refund:' || r.id) AS sent
         FROM refunds r WHERE r.payment_intent_id = $1`,
      [cancelled.intentId],
    );
    expect(rows).toEqual([{ sent: 1 }]);
    await h.module.testGateway.deliverWebhooks();
  });

  it("still sends a cancelled order's void when more than a batch of authorizations had their void declined", async () => {
    const authorized = async () => {
      const input = paymentFor([{ sellerId: newId(), amount: 700 }]);
      const { intentId } = await h.module.api.authorize(input);
      return { intentId, orderId: input.allocations[0]?.orderId as string };
    };
    // Voids a processor refused (an authorization it no longer holds, say): the intents stay authorized.
    for (let i = 0; i < 21; i++) {
      const { intentId } = await authorized();
      await insertTransaction(h.pool, { intentId, type: 'void', status: 'pending', amount: 700, currency: 'USD' });
      await insertTransaction(h.pool, { intentId, type: 'void', status: 'failed', amount: 700, currency: 'USD', failureCode: 'authorization_expired' });
    }
    const cancelled = await authorized();
    expect(await h.module.releaseOrderPayment({ orderId: cancelled.orderId, reason: 'buyer cancelled', cancelledBy: null })).toMatchObject({ voids: 1 });
    await h.module.runWorkerOnce();
    expect((await h.module.api.getIntent(cancelled.intentId))?.status).toBe('voided');
  });

  it("tells operators, in the log at level error, when the gateway declines a cancelled order's refund (no one else asked for it)", async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _encoding, done) {
        lines.push(String(chunk));
        done();
      },
    });
    const watched = await startPayments({}, { log: pino({ level: 'error' }, sink) });
    try {
      const order = await capturedOrder(1000, 'tok_refund_fails', watched);
      expect(await watched.module.releaseOrderPayment({ orderId: order.orderId, reason: 'buyer cancelled', cancelledBy: null })).toMatchObject({ refunds: 1 });
      await watched.module.runWorkerOnce();
      const declined = lines.map((l) => JSON.parse(l)).find((l) => String(l.msg).includes('declined the refund of a cancelled order'));
      expect(declined).toMatchObject({ level: 50, orderId: order.orderId, amount: 1000, currency: 'USD' });
    } finally {
      await watched.close();
    }
  });

  it('gives the amount of a refund the gateway declines back to what can be refunded', async () => {
    const order = await capturedOrder(1000, 'tok_refund_fails');
    const declined = await refundRequest(order.orderId, order.token, 1000);
    expect(declined.statusCode).toBe(201);
    expect(declined.json()).toMatchObject({ status: 'failed', failureCode: 'refund_declined' });
    const intent = await h.module.api.getIntent(order.intentId);
    expect(intent).toMatchObject({ status: 'captured', refundedAmount: 0 });
    expect(intent?.allocations[0]?.refundedAmount).toBe(0);
    expect(await ledgerBalance(h.pool, sellerPayable(order.sellerId))).toEqual({ USD: 900 });
  });
});

describe('cancelled orders', () => {
  function cancelled(orderId: string, overrides: Partial<OrderCancelledV1> = {}): EventEnvelope<OrderCancelledV1> {
    const data: OrderCancelledV1 = {
      orderId,
      orderNumber: 'BZ-0001',
      checkoutSessionId: newId(),
      buyerId: newId(),
      sellerId: newId(),
      status: 'cancelled',
      currency: 'USD',
      subtotalAmount: 1000,
      discountAmount: 0,
      shippingAmount: 0,
      totalAmount: 1000,
      refundedAmount: 0,
      items: [
        {
          itemId: newId(),
          productId: newId(),
          variantId: newId(),
          sku: 'SKU-1',
          title: 'A thing',
          variantAttributes: {},
          unitPrice: 1000,
          quantity: 1,
          discountAmount: 0,
          lineTotal: 1000,
        },
      ],
      placedAt: new Date().toISOString(),
      reason: 'buyer changed their mind',
      wasPaid: true,
      previousStatus: 'paid',
      actorType: 'buyer',
      cancelledBy: null,
      cancelledAt: new Date().toISOString(),
      ...overrides,
    };
    expect(OrderCancelledV1.problems(data)).toEqual([]);
    return {
      specversion: '1.0',
      id: newId(),
      type: OrderCancelledV1.type,
      source: '/bazaar/orders',
      subject: orderId,
      time: new Date().toISOString(),
      datacontenttype: 'application/json',
      correlationid: newId(),
      causationid: null,
      aggregatetype: 'order',
      data,
    };
  }

  async function deliver(envelope: EventEnvelope<OrderCancelledV1>) {
    const subscription = h.module.subscriptions?.find((s) => s.events.includes(OrderCancelledV1.type));
    if (!subscription) throw new Error('payments do not subscribe to cancelled orders');
    await withTransaction(h.pool, (tx) => subscription.handle({ tx, now: new Date(), trace: traceOf(envelope), emit: async () => undefined }, envelope));
  }

  it("refunds what is left of a paid order's part, once, whatever the number of deliveries", async () => {
    const order = await capturedOrder(1000);
    await refundRequest(order.orderId, order.token, 200);
    const event = cancelled(order.orderId);
    await deliver(event);
    await deliver(event);
    await deliver(cancelled(order.orderId));
    await h.module.runWorkerOnce();
    const intent = await h.module.api.getIntent(order.intentId);
    expect(intent?.allocations[0]).toMatchObject({ capturedAmount: 1000, refundedAmount: 1000 });
    expect(intent?.allocations[1]).toMatchObject({ refundedAmount: 0 });
    expect(await refundRows(order.intentId)).toBe(2);
    const { rows } = await h.pool.query(
      `SELECT count(*)::int AS n FROM refunds r JOIN payment_transactions t ON t.refund_id = r.id
        WHERE r.payment_intent_id = $1 AND t.status = 'succeeded'`,
      [order.intentId],
    );
    expect(rows[0].n).toBe(2);
    expect(await ledgerBalance(h.pool, sellerPayable(order.sellerId))).toEqual({ USD: 0 });
  });

  it('refunds an order cancelled while its capture was in flight, once the capture succeeds (the event is not retried until it is parked)', async () => {
    const sellerId = newId();
    const input = paymentFor([{ sellerId, amount: 900 }]);
    const orderId = input.allocations[0]?.orderId as string;
    const { intentId } = await h.module.api.authorize(input);
    // The capture step has recorded its attempt and waits for the gateway (a slow or timed-out call).
    await withTransaction(h.pool, (tx) => lockIntentForCapture(tx, intentId));
    await deliver(cancelled(orderId));
    // Neither voided nor refunded yet, and not an error to retry: it waits for the capture.
    expect((await h.module.api.getIntent(intentId))?.status).toBe('authorized');
    const { rows: voids } = await h.pool.query("SELECT 1 FROM payment_transactions WHERE payment_intent_id = $1 AND type = 'void'", [intentId]);
    expect([voids.length, await refundRows(intentId)]).toEqual([0, 0]);
    // The worker sends the capture again, and it goes through; then the order's part is refunded.
    await h.module.runWorkerOnce();
    expect((await h.module.api.getIntent(intentId))?.status).toBe('captured');
    await h.module.runWorkerOnce();
    const intent = await h.module.api.getIntent(intentId);
    expect(intent?.allocations[0]).toMatchObject({ capturedAmount: 900, refundedAmount: 900 });
    expect(await ledgerBalance(h.pool, sellerPayable(sellerId))).toEqual({ USD: 0 });
    // Settled once: another pass and a redelivery add nothing.
    await deliver(cancelled(orderId));
    await h.module.runWorkerOnce();
    expect(await refundRows(intentId)).toBe(1);
  });

  it('voids an order cancelled while its capture was in flight, once the gateway declines the capture', async () => {
    const input = paymentFor([{ sellerId: newId(), amount: 700 }]);
    const orderId = input.allocations[0]?.orderId as string;
    const { intentId } = await h.module.api.authorize(input);
    await withTransaction(h.pool, (tx) => lockIntentForCapture(tx, intentId));
    await deliver(cancelled(orderId));
    // The capture's outcome: declined (as the gateway's answer records it).
    await withTransaction(h.pool, (tx) =>
      insertTransaction(tx, { intentId, type: 'capture', status: 'failed', amount: 700, currency: 'USD', failureCode: 'charge_not_capturable' }),
    );
    await h.module.runWorkerOnce();
    expect((await h.module.api.getIntent(intentId))?.status).toBe('voided');
    expect(await refundRows(intentId)).toBe(0);
  });

  it('voids the authorization of an order cancelled before capture', async () => {
    const sellerId = newId();
    const input = paymentFor([{ sellerId, amount: 800 }]);
    const { intentId } = await h.module.api.authorize(input);
    await deliver(cancelled(input.allocations[0]?.orderId as string, { wasPaid: false, previousStatus: 'pending_payment' }));
    await expect(h.module.api.capture(intentId)).rejects.toMatchObject({ code: 'INVALID_STATE_TRANSITION' });
    await h.module.runWorkerOnce();
    expect((await h.module.api.getIntent(intentId))?.status).toBe('voided');
    expect(await refundRows(intentId)).toBe(0);
  });

  /** What was asked of the gateway for an intent's refunds: amount per kind of key (seller, order_cancelled), and its answers. */
  async function refundsAsked(intentId: string) {
    const { rows } = await h.pool.query<{ kind: string; amount: number; status: string }>(
      `SELECT split_part(r.idempotency_key, ':', 1) AS kind, r.amount::int AS amount, g.status
         FROM refunds r LEFT JOIN test_gateway_refunds g ON g.refund_reference = r.refund_reference
        WHERE r.payment_intent_id = $1 ORDER BY r.created_at, r.id`,
      [intentId],
    );
    return rows;
  }

  it("refunds the rest of a cancelled order's part when refunds that were under way at the cancellation are declined later", async () => {
    const order = await capturedOrder(1000, 'tok_refund_fails_later');
    expect((await refundRequest(order.orderId, order.token, 300)).statusCode).toBe(202);
    expect((await refundRequest(order.orderId, order.token, 200)).statusCode).toBe(202);
    // The cancellation counts the two pending refunds as under way: it refunds the other 500.
    await deliver(cancelled(order.orderId));
    for (let i = 0; i < 4; i++) {
      await h.module.runWorkerOnce();
      await h.module.testGateway.deliverWebhooks();
    }
    // Each seller refund declined left its amount unrefunded: it was refunded for the cancelled order
    // (what was left when the decline came, pending refunds counted); a declined cancellation refund
    // is not asked again (it is the operator's, as before): every refund was declined by this card.
    expect(await refundsAsked(order.intentId)).toEqual([
      { kind: 'seller', amount: 300, status: 'declined' },
      { kind: 'seller', amount: 200, status: 'declined' },
      { kind: 'order_cancelled', amount: 500, status: 'declined' },
      { kind: 'order_cancelled', amount: 300, status: 'declined' },
      { kind: 'order_cancelled', amount: 200, status: 'declined' },
    ]);
    expect((await h.module.api.getIntent(order.intentId))?.allocations[0]).toMatchObject({ capturedAmount: 1000, refundedAmount: 0 });
  });

  it.each([
    ['the seller refund', false],
    ['the cancellation refund', true],
  ])("follows a declined seller refund of a cancelled order with its amount only, whether %s is declined first", async (_first, cancellationFirst) => {
    const order = await capturedOrder(1000, 'tok_refund_fails_later');
    expect((await refundRequest(order.orderId, order.token, 300)).statusCode).toBe(202);
    await deliver(cancelled(order.orderId)); // refunds 700: the pending 300 counts as under way
    await h.module.runWorkerOnce();
    const declines = (await h.module.testGateway.eventsFor(order.intentId)).filter((e) => e.type === 'refund.failed').map((e) => e.eventId);
    expect(declines).toHaveLength(2); // the seller's 300, then the cancellation's 700
    for (const eventId of cancellationFirst ? [...declines].reverse() : declines) expect(await h.module.testGateway.resendWebhook(eventId)).toBe(200);
    // The declined 700 is the operator's either way (never asked for again): only the seller's 300 follows.
    const asked = await refundsAsked(order.intentId);
    expect(asked.map((r) => [r.kind, r.amount])).toEqual([
      ['seller', 300],
      ['order_cancelled', 700],
      ['order_cancelled', 300],
    ]);
  });

  it("never refunds more than was captured while seller refunds race the decline that refunds a cancelled order's rest", async () => {
    const order = await capturedOrder(1000, 'tok_refund_fails_later');
    expect((await refundRequest(order.orderId, order.token, 400)).statusCode).toBe(202);
    await deliver(cancelled(order.orderId));
    const answers = await Promise.all([
      h.module.testGateway.deliverWebhooks(),
      ...Array.from({ length: 4 }, () => refundRequest(order.orderId, order.token, 400)),
    ]);
    // Whether a seller's refund came before the decline or after it, nothing was left for it: the
    // decline's own transaction gave the amount back and took it again for the cancelled order.
    expect(answers.slice(1).map((r) => (r as { statusCode: number }).statusCode)).toEqual([409, 409, 409, 409]);
    const { rows } = await h.pool.query<{ asked: number }>(
      `SELECT coalesce(sum(r.amount), 0)::int AS asked FROM refunds r
        WHERE r.payment_intent_id = $1 AND r.order_id = $2
          AND NOT EXISTS (SELECT 1 FROM payment_transactions t WHERE t.refund_id = r.id AND t.status = 'failed')`,
      [order.intentId, order.orderId],
    );
    expect(rows[0]?.asked).toBe(1000);
  });

  it('does nothing for an order whose payment failed', async () => {
    const input = paymentFor([{ sellerId: newId(), amount: 800 }], 'tok_decline');
    const { intentId } = await h.module.api.authorize(input);
    await deliver(cancelled(input.allocations[0]?.orderId as string, { wasPaid: false }));
    await h.module.runWorkerOnce();
    const { rows } = await h.pool.query('SELECT type, status FROM payment_transactions WHERE payment_intent_id = $1 ORDER BY created_at, id', [intentId]);
    expect(rows).toEqual([
      { type: 'authorize', status: 'pending' },
      { type: 'authorize', status: 'failed' },
    ]);
  });
});
