import { type Static, Type } from '@sinclair/typebox';
import { defineEvent } from './define.ts';
import { registerContracts } from './registry.ts';

/**
 * Events of the payments domain. No card data ever appears here (payments only handle gateway
 * tokens), and amounts are integer minor units of `currency`.
 */
const Uuid = Type.String({ pattern: '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$', maxLength: 36 });
const Instant = Type.String({ pattern: '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d+)?Z$', maxLength: 40 });
const Currency = Type.String({ pattern: '^[A-Z]{3}$', minLength: 3, maxLength: 3 });
const Amount = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER });

/** The part of a payment that pays one per-seller order. */
export const PaymentAllocationFacts = Type.Object(
  { orderId: Uuid, sellerId: Uuid, amount: Amount },
  { additionalProperties: false },
);
export type PaymentAllocationFacts = Static<typeof PaymentAllocationFacts>;

const intentFacts = {
  intentId: Uuid,
  /** Checkout session that asked for the payment; null for a payment made outside checkout. */
  checkoutSessionId: Type.Union([Uuid, Type.Null()]),
  buyerId: Uuid,
  amount: Amount,
  currency: Currency,
  allocations: Type.Array(PaymentAllocationFacts, { minItems: 1, maxItems: 100 }),
};

export const PaymentAuthorizedV1 = defineEvent(
  'payments.payment_authorized.v1',
  Type.Object({ ...intentFacts, authorizedAt: Instant }, { additionalProperties: false }),
);
export type PaymentAuthorizedV1 = Static<typeof PaymentAuthorizedV1.schema>;

export const PaymentCapturedV1 = defineEvent(
  'payments.payment_captured.v1',
  Type.Object({ ...intentFacts, capturedAt: Instant }, { additionalProperties: false }),
);
export type PaymentCapturedV1 = Static<typeof PaymentCapturedV1.schema>;

export const PaymentFailedV1 = defineEvent(
  'payments.payment_failed.v1',
  Type.Object(
    {
      ...intentFacts,
      /** The gateway's decline code, e.g. card_declined or insufficient_funds. */
      declineCode: Type.String({ minLength: 1, maxLength: 100 }),
      failedAt: Instant,
    },
    { additionalProperties: false },
  ),
);
export type PaymentFailedV1 = Static<typeof PaymentFailedV1.schema>;

export const PaymentVoidedV1 = defineEvent(
  'payments.payment_voided.v1',
  Type.Object({ ...intentFacts, voidedAt: Instant }, { additionalProperties: false }),
);
export type PaymentVoidedV1 = Static<typeof PaymentVoidedV1.schema>;

export const RefundSucceededV1 = defineEvent(
  'payments.refund_succeeded.v1',
  Type.Object(
    {
      refundId: Uuid,
      intentId: Uuid,
      orderId: Uuid,
      sellerId: Uuid,
      amount: Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER }),
      currency: Currency,
      reason: Type.String({ minLength: 1, maxLength: 1000 }),
      /** What the order's payment paid, and how much of it has been refunded so far (this refund included). */
      orderPaidAmount: Amount,
      orderRefundedAmount: Amount,
      refundedAt: Instant,
    },
    { additionalProperties: false },
  ),
);
export type RefundSucceededV1 = Static<typeof RefundSucceededV1.schema>;

registerContracts(PaymentAuthorizedV1, PaymentCapturedV1, PaymentFailedV1, PaymentVoidedV1, RefundSucceededV1);
