/**
 * Builders shared by the orders tests (not used by the running app): checkout input, and payments
 * events as the payments domain publishes them, so the tests need none of the payments code.
 */
import type { PaymentCapturedV1, RefundSucceededV1 } from '../../contracts/payments.ts';
import { newId } from '../../platform/ids.ts';
import type { EventEnvelope } from '../../platform/messaging/envelope.ts';
import type { CheckoutOrdersInput } from './place-orders.ts';

export interface LineSpec {
  unitPrice: number;
  quantity: number;
  discountAmount?: number;
  title?: string;
}

export function checkoutInput(
  buyerId: string,
  sellers: { sellerId: string; lines: LineSpec[]; discountAmount?: number; shippingAmount?: number }[],
  checkoutSessionId = newId(),
): CheckoutOrdersInput {
  return {
    checkoutSessionId,
    buyerId,
    currency: 'EUR',
    shippingAddress: { name: 'Ada Buyer', line1: '1 Market Street', city: 'Lyon', postalCode: '69001', country: 'FR' },
    orders: sellers.map((s) => ({
      sellerId: s.sellerId,
      discountAmount: s.discountAmount ?? s.lines.reduce((sum, l) => sum + (l.discountAmount ?? 0), 0),
      shippingAmount: s.shippingAmount ?? 0,
      items: s.lines.map((l, i) => ({
        productId: newId(),
        variantId: newId(),
        sku: `SKU-${i + 1}`,
        productSnapshot: { title: l.title ?? `Product ${i + 1}`, variantAttributes: { size: 'M', colour: 'blue' }, basePrice: l.unitPrice, priceDiscount: 0 },
        unitPrice: l.unitPrice,
        discountAmount: l.discountAmount ?? 0,
        quantity: l.quantity,
      })),
    })),
  };
}

export function envelopeOf<D>(type: string, subject: string, data: D, aggregateType = 'payment_intent'): EventEnvelope<D> {
  return {
    specversion: '1.0',
    id: newId(),
    type,
    source: '/bazaar/payments',
    subject,
    time: new Date().toISOString(),
    datacontenttype: 'application/json',
    correlationid: newId(),
    causationid: null,
    aggregatetype: aggregateType,
    data,
  };
}

export function capturedEvent(
  intentId: string,
  buyerId: string,
  checkoutSessionId: string,
  allocations: { orderId: string; sellerId: string; amount: number }[],
): PaymentCapturedV1 {
  return {
    intentId,
    checkoutSessionId,
    buyerId,
    amount: allocations.reduce((sum, a) => sum + a.amount, 0),
    currency: 'EUR',
    allocations,
    capturedAt: new Date().toISOString(),
  };
}

export function refundEvent(
  intentId: string,
  order: { orderId: string; sellerId: string; totalAmount: number },
  amount: number,
  refundedSoFar: number,
): RefundSucceededV1 {
  return {
    refundId: newId(),
    intentId,
    orderId: order.orderId,
    sellerId: order.sellerId,
    amount,
    currency: 'EUR',
    reason: 'item damaged',
    orderPaidAmount: order.totalAmount,
    orderRefundedAmount: refundedSoFar,
    refundedAt: new Date().toISOString(),
  };
}
