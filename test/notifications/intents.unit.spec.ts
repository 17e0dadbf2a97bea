import { describe, expect, it } from 'vitest';
import type { OrderCancelledV1, OrderPaidV1, OrderStatusChangedV1 } from '../../src/contracts/orders.ts';
import type { RefundSucceededV1 } from '../../src/contracts/payments.ts';
import type { ShipmentStatus, ShipmentStatusChangedV1 } from '../../src/contracts/shipping.ts';
import {
  formatMoney,
  orderCancelled,
  orderPaid,
  orderPlaced,
  orderRefunded,
  orderStatusChanged,
  shipmentStatusChanged,
  welcome,
} from '../../src/domains/notifications/intents.ts';
import { TestNotificationProvider } from '../../src/domains/notifications/index.ts';
import { channelsFor } from '../../src/domains/notifications/types.ts';

const buyerId = '01900000-0000-7000-8000-000000000001';
const sellerId = '01900000-0000-7000-8000-000000000002';
const orderId = '01900000-0000-7000-8000-000000000003';

const facts = {
  orderId,
  orderNumber: 'BZ-20261124-7K3Q9X',
  checkoutSessionId: '01900000-0000-7000-8000-000000000004',
  buyerId,
  sellerId,
  status: 'paid' as const,
  currency: 'USD',
  subtotalAmount: 5000,
  discountAmount: 0,
  shippingAmount: 500,
  totalAmount: 5500,
  refundedAmount: 0,
  items: [
    {
      itemId: '01900000-0000-7000-8000-000000000005',
      productId: '01900000-0000-7000-8000-000000000006',
      variantId: '01900000-0000-7000-8000-000000000007',
      sku: 'MUG-1',
      title: 'Mug',
      variantAttributes: {},
      unitPrice: 2500,
      quantity: 2,
      discountAmount: 0,
      lineTotal: 5000,
    },
  ],
  placedAt: '2026-11-24T10:00:00.000Z',
};

describe('formatMoney', () => {
  it('writes minor units with the currency own decimals, never through a float', () => {
    expect(formatMoney(5500, 'USD')).toBe('USD 55.00');
    expect(formatMoney(7, 'EUR')).toBe('EUR 0.07');
    expect(formatMoney(1500, 'JPY')).toBe('JPY 1500');
    expect(formatMoney(1234, 'BHD')).toBe('BHD 1.234');
    // ISO 4217 decimals, not a formatter's display digits, which show none for these (found by a
    // helper: a payment of HUF 1234.56 was announced as HUF 123456, IQD 12.345 as IQD 12345).
    expect(formatMoney(123456, 'HUF')).toBe('HUF 1234.56');
    expect(formatMoney(12345, 'IQD')).toBe('IQD 12.345');
    expect(formatMoney(150, 'ISK')).toBe('ISK 150');
    expect(formatMoney(99, 'IDR')).toBe('IDR 0.99');
    expect(formatMoney(Number.MAX_SAFE_INTEGER, 'USD')).toBe('USD 90071992547409.91');
  });
});

describe('what an event means to whom', () => {
  it('tells the buyer their order is paid and its seller that a paid order waits', () => {
    const paid: OrderPaidV1 = { ...facts, paymentId: '01900000-0000-7000-8000-000000000008', paidAmount: 5500, paidAt: '2026-11-24T10:01:00.000Z' };
    const intents = orderPaid(paid);
    expect(intents.map((i) => [i.userId, i.type])).toEqual([
      [buyerId, 'order_paid'],
      [sellerId, 'seller_order_paid'],
    ]);
    expect(intents[0]?.body).toContain('USD 55.00');
    expect(intents[1]?.body).toContain('2 items');
    expect(intents[0]?.data).toMatchObject({ orderId, orderNumber: 'BZ-20261124-7K3Q9X', total: { amount: 5500, currency: 'USD' } });
  });

  it('confirms an order with nothing to pay without speaking of a payment', () => {
    const free: OrderPaidV1 = { ...facts, totalAmount: 0, discountAmount: facts.subtotalAmount, paymentId: null, paidAmount: 0, paidAt: '2026-11-24T10:01:00.000Z' };
    const [buyer, seller] = orderPaid(free);
    expect(buyer?.body).toBe('Your order BZ-20261124-7K3Q9X is confirmed, with nothing to pay. The seller is preparing it.');
    expect(seller?.type).toBe('seller_order_paid');
    const { paymentId: _p, paidAmount: _a, paidAt, ...freeFacts } = free;
    expect(orderPlaced({ ...freeFacts, status: 'pending_payment' })[0]?.body).toContain('There is nothing to pay.');
    const cancelled = orderCancelled({ ...freeFacts, status: 'cancelled', reason: 'r', wasPaid: true, previousStatus: 'paid', actorType: 'buyer', cancelledBy: buyerId, cancelledAt: paidAt });
    expect(cancelled[0]?.body).toBe('Your order BZ-20261124-7K3Q9X was cancelled as you asked. Nothing was charged.');
  });

  it('tells the buyer of shipping and delivery, and of no other status change (those have events of their own)', () => {
    const changed = (toStatus: OrderStatusChangedV1['toStatus']): OrderStatusChangedV1 => ({
      ...facts,
      status: toStatus,
      fromStatus: 'paid',
      toStatus,
      reason: 'r',
      actorType: 'seller',
      changedBy: sellerId,
      changedAt: '2026-11-24T11:00:00.000Z',
    });
    expect(orderStatusChanged(changed('shipped')).map((i) => [i.userId, i.type])).toEqual([[buyerId, 'order_shipped']]);
    expect(orderStatusChanged(changed('delivered')).map((i) => [i.userId, i.type])).toEqual([[buyerId, 'order_delivered']]);
    for (const s of ['paid', 'fulfilling', 'completed', 'cancelled', 'refunded', 'partially_refunded'] as const) expect(orderStatusChanged(changed(s))).toEqual([]);
  });

  it('says whether a cancelled order was charged, what of it comes back, and who cancelled it', () => {
    const cancelled = (wasPaid: boolean, actorType: OrderCancelledV1['actorType']): OrderCancelledV1 => ({
      ...facts,
      status: 'cancelled',
      reason: 'changed my mind',
      wasPaid,
      previousStatus: 'paid',
      actorType,
      cancelledBy: actorType === 'system' ? null : buyerId,
      cancelledAt: '2026-11-24T11:00:00.000Z',
    });
    expect(orderCancelled(cancelled(true, 'buyer'))[0]?.body).toBe('Your order BZ-20261124-7K3Q9X was cancelled as you asked. Your payment will be refunded.');
    expect(orderCancelled(cancelled(false, 'system'))[0]?.body).toContain('checkout could not be completed. Nothing was charged.');
    // A seller may have refunded some or all of it before the buyer cancelled: only the rest comes back.
    const refundedAll = { ...cancelled(true, 'buyer'), refundedAmount: facts.totalAmount };
    expect(orderCancelled(refundedAll)[0]?.body).toContain('as you asked. Your payment was refunded already.');
    const refundedSome = { ...cancelled(true, 'buyer'), refundedAmount: facts.totalAmount - 500 };
    expect(orderCancelled(refundedSome)[0]?.body).toContain(`The rest of your payment, ${formatMoney(500, facts.currency)}, will be refunded.`);
  });

  it('tells the buyer found for the order of a refund, whole or in part', () => {
    const refund: RefundSucceededV1 = {
      refundId: '01900000-0000-7000-8000-000000000009',
      intentId: '01900000-0000-7000-8000-00000000000a',
      orderId,
      sellerId,
      amount: 1000,
      currency: 'USD',
      reason: 'damaged',
      orderPaidAmount: 5500,
      orderRefundedAmount: 1000,
      refundedAt: '2026-11-24T12:00:00.000Z',
    };
    const [partial] = orderRefunded(refund, { buyerId, orderNumber: facts.orderNumber });
    expect(partial).toMatchObject({ userId: buyerId, type: 'order_refunded', data: { refund: { amount: 1000, currency: 'USD' }, full: false } });
    expect(orderRefunded({ ...refund, orderRefundedAmount: 5500 }, { buyerId, orderNumber: 'X-1' })[0]?.data.full).toBe(true);
    // The last of several refunds says the order is now refunded in all, not that this amount was the whole order.
    expect(orderRefunded({ ...refund, orderRefundedAmount: 5500 }, { buyerId, orderNumber: 'X-1' })[0]?.body).toContain(
      'was refunded: with the earlier refunds, the whole order is refunded (',
    );
    expect(orderRefunded({ ...refund, amount: 5500, orderRefundedAmount: 5500 }, { buyerId, orderNumber: 'X-1' })[0]?.body).toContain('was refunded (the whole order).');
  });

  it('tells the buyer of a parcel out for delivery, and buyer and seller of one not delivered or sent back; nobody of other scans', () => {
    const scan = (fromStatus: ShipmentStatus, toStatus: ShipmentStatus): ShipmentStatusChangedV1 => ({
      shipmentId: '01900000-0000-7000-8000-00000000000b',
      orderId,
      sellerId,
      buyerId,
      carrier: 'testpost',
      trackingNumber: 'TP123456789',
      status: toStatus,
      shippedAt: '2026-11-24T12:00:00.000Z',
      deliveredAt: null,
      version: 3,
      fromStatus,
      toStatus,
      source: 'carrier',
      occurredAt: '2026-11-25T09:00:00.000Z',
      changedAt: '2026-11-25T09:00:01.000Z',
    });
    const who = (e: ShipmentStatusChangedV1) => shipmentStatusChanged(e).map((i) => [i.userId, i.type]);
    expect(who(scan('in_transit', 'out_for_delivery'))).toEqual([[buyerId, 'shipment_out_for_delivery']]);
    expect(who(scan('out_for_delivery', 'delivery_failed'))).toEqual([
      [buyerId, 'shipment_delivery_failed'],
      [sellerId, 'seller_shipment_problem'],
    ]);
    expect(who(scan('delivery_failed', 'returned'))).toEqual([
      [buyerId, 'shipment_returned'],
      [sellerId, 'seller_shipment_problem'],
    ]);
    // Shipped and delivered reach the buyer through orders' status changes; the rest is no news.
    for (const [from, to] of [['pending', 'label_created'], ['label_created', 'in_transit'], ['out_for_delivery', 'delivered'], ['pending', 'cancelled'], ['delivery_failed', 'delivery_failed']] as const) {
      expect(who(scan(from, to))).toEqual([]);
    }
    const [failed] = shipmentStatusChanged(scan('out_for_delivery', 'delivery_failed'));
    expect(failed?.body).toContain('testpost TP123456789');
    expect(failed?.data).toEqual({
      orderId,
      shipmentId: '01900000-0000-7000-8000-00000000000b',
      carrier: 'testpost',
      trackingNumber: 'TP123456789',
      status: 'delivery_failed',
      occurredAt: '2026-11-25T09:00:00.000Z',
    });
  });

  it('welcomes a seller differently from a buyer', () => {
    const registered = (roles: ('buyer' | 'seller')[]) => welcome({ userId: buyerId, email: 'a@example.test', roles, registeredAt: '2026-11-24T09:00:00.000Z' })[0]?.body;
    expect(registered(['seller'])).toContain('list your first product');
    expect(registered(['buyer'])).toBe('Your account is ready: happy shopping.');
  });
});

describe('channels', () => {
  it('are the type default without a choice, the choice otherwise, in a fixed order', () => {
    expect(channelsFor('order_placed', undefined)).toEqual(['in_app']);
    expect(channelsFor('order_paid', undefined)).toEqual(['in_app', 'email']);
    expect(channelsFor('order_paid', [])).toEqual([]);
    expect(channelsFor('order_paid', ['push', 'in_app'])).toEqual(['in_app', 'push']);
    expect(channelsFor('order_paid', ['sms', 'email'])).toEqual(['email']);
  });
});

describe('the test provider', () => {
  const message = { channel: 'email' as const, to: 'a@example.test', subject: 's', body: 'b', idempotencyKey: 'n-1' };

  it('delivers a message once per idempotency key, as a real provider would for a retried call', async () => {
    const provider = new TestNotificationProvider({ latencyMs: 0, failureRate: 0 });
    const first = await provider.send(message);
    const again = await provider.send(message);
    expect(again).toEqual(first);
    expect(provider.delivered('a@example.test')).toHaveLength(1);
    expect(provider.calls).toBe(2);
  });

  it('fails some calls as told or at its failure rate, temporarily unless told otherwise', async () => {
    const provider = new TestNotificationProvider({ latencyMs: 0, failureRate: 0.5, random: () => 0.4 });
    await expect(provider.send(message)).rejects.toMatchObject({ name: 'ProviderError', permanent: false });
    const steady = new TestNotificationProvider({ latencyMs: 0, failureRate: 0.5, random: () => 0.6 });
    steady.failFor('a@example.test', 1, true);
    await expect(steady.send(message)).rejects.toMatchObject({ permanent: true });
    await expect(steady.send(message)).resolves.toMatchObject({ providerMessageId: expect.stringMatching(/^test_/) });
  });
});
