import { type Static, Type } from '@sinclair/typebox';
import { defineEvent } from './define.ts';
import { registerContracts } from './registry.ts';

/**
 * Events of the checkout domain: a checkout session started, completed (its orders are placed and
 * paid for) or failed (whatever it had done was undone). Neither the payment token nor the delivery
 * address appears here: the outbox is a durable log.
 */
const Uuid = Type.String({ pattern: '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$', maxLength: 36 });
const Instant = Type.String({ pattern: '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d+)?Z$', maxLength: 40 });
const Currency = Type.String({ pattern: '^[A-Z]{3}$', minLength: 3, maxLength: 3 });
const Amount = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER });
const closed = { additionalProperties: false } as const;

export const CHECKOUT_STEP_VALUES = [
  'price_snapshot',
  'reserve_stock',
  'redeem_coupons',
  'create_orders',
  'authorize_payment',
  'capture_payment',
  'confirm_reservations',
  'close_cart',
  'complete',
] as const;
const CheckoutStep = Type.Union(CHECKOUT_STEP_VALUES.map((s) => Type.Literal(s)));

const sessionFacts = {
  sessionId: Uuid,
  buyerId: Uuid,
  cartId: Uuid,
};

export const CheckoutStartedV1 = defineEvent('checkout.checkout_started.v1', Type.Object({ ...sessionFacts, startedAt: Instant }, closed));
export type CheckoutStartedV1 = Static<typeof CheckoutStartedV1.schema>;

export const CheckoutCompletedV1 = defineEvent(
  'checkout.checkout_completed.v1',
  Type.Object(
    {
      ...sessionFacts,
      /** One order per seller. */
      orderIds: Type.Array(Uuid, { minItems: 1, maxItems: 50 }),
      /** The payment; null when the orders came to a total of 0 and nothing was charged. */
      paymentIntentId: Type.Union([Uuid, Type.Null()]),
      currency: Currency,
      subtotalAmount: Amount,
      discountAmount: Amount,
      shippingAmount: Amount,
      /** What was charged: subtotalAmount − discountAmount + shippingAmount. */
      totalAmount: Amount,
      completedAt: Instant,
    },
    closed,
  ),
);
export type CheckoutCompletedV1 = Static<typeof CheckoutCompletedV1.schema>;

export const CheckoutFailedV1 = defineEvent(
  'checkout.checkout_failed.v1',
  Type.Object(
    {
      ...sessionFacts,
      /** failed: nothing had to be undone; compensated: what was done (stock, coupons, orders, payment) was undone. */
      outcome: Type.Union([Type.Literal('failed'), Type.Literal('compensated')]),
      step: Type.Union([CheckoutStep, Type.Null()]),
      /** Stable error code, e.g. OUT_OF_STOCK or PAYMENT_DECLINED. */
      code: Type.String({ minLength: 1, maxLength: 100 }),
      reason: Type.String({ minLength: 1, maxLength: 2000 }),
      /** Orders that were made and then cancelled. */
      cancelledOrderIds: Type.Array(Uuid, { maxItems: 50 }),
      failedAt: Instant,
    },
    closed,
  ),
);
export type CheckoutFailedV1 = Static<typeof CheckoutFailedV1.schema>;

registerContracts(CheckoutStartedV1, CheckoutCompletedV1, CheckoutFailedV1);
