import { Type } from '@sinclair/typebox';
import { CountryCode, CurrencyCode, IdempotencyKeyHeader, MoneySchema, Nullable, OptionalText, PrintableText } from '../../platform/http/schemas.ts';
import { STEP_NAMES } from './saga.ts';

const closed = { additionalProperties: false } as const;

export const ShippingAddressSchema = Type.Object(
  {
    name: PrintableText(200),
    line1: PrintableText(200),
    line2: Type.Optional(OptionalText(200)),
    city: PrintableText(100),
    region: Type.Optional(OptionalText(100)),
    postalCode: PrintableText(20),
    country: CountryCode,
    phone: Type.Optional(OptionalText(40)),
  },
  closed,
);

export const CheckoutBody = Type.Object(
  {
    shippingAddress: Type.Optional(ShippingAddressSchema),
    shippingAddressLabel: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 50,
        description: 'Ship to the saved address with this label (PATCH /v1/me/profile). Without it and without shippingAddress: the default saved address',
      }),
    ),
    currency: Type.Optional(
      Type.String({
        ...CurrencyCode,
        description:
          'ISO 4217 code to pay in: every item is bought at its price window in this currency (as GET /v1/cart?currency= shows it). Without it: the list currency of the cart\'s earliest item',
      }),
    ),
    paymentMethod: Type.Object(
      { token: Type.String({ pattern: '^tok_[A-Za-z0-9_]{1,100}$', description: 'Gateway token (e.g. tok_visa); never a card number' }) },
      { ...closed, description: 'A gateway token only: card numbers and CVCs are refused' },
    ),
  },
  closed,
);

/** Longer than the other routes' keys: checkout took up to 255 characters first. */
const CHECKOUT_KEY_LENGTH_MAX = 255;

export const CheckoutHeaders = Type.Object({
  'idempotency-key': IdempotencyKeyHeader('Required: the same key and body return the same session', CHECKOUT_KEY_LENGTH_MAX),
});

export const SessionParams = Type.Object({ sessionId: Type.String({ format: 'uuid' }) }, closed);

const StepName = Type.Union(STEP_NAMES.map((s) => Type.Literal(s)));
const Instant = Type.String({ format: 'date-time' });

export const CheckoutSessionSchema = Type.Object(
  {
    id: Type.String({ format: 'uuid' }),
    status: Type.Union(
      ['pending', 'in_progress', 'completed', 'failed', 'compensating', 'compensated'].map((s) => Type.Literal(s)),
      { description: 'in_progress and compensating are not final; failed: nothing had to be undone; compensated: what was done was undone' },
    ),
    currentStep: Nullable(StepName, {
      description: 'The step running (or, while compensating, being undone); once finished: complete, or the step the session failed at',
    }),
    cartId: Type.String({ format: 'uuid' }),
    orderIds: Type.Array(Type.String({ format: 'uuid' })),
    paymentIntentId: Nullable(Type.String({ format: 'uuid' })),
    totals: Nullable(Type.Object({ subtotal: MoneySchema, discount: MoneySchema, shipping: MoneySchema, total: MoneySchema }, closed)),
    failure: Nullable(
      Type.Object(
        {
          code: Type.String(),
          step: Nullable(StepName),
          reason: Type.String(),
          details: Type.Record(Type.String(), Type.Unknown(), {
            description:
              "What the refusing domain's answer named, as its problem document's extension members: for OUT_OF_STOCK `unavailable` (variantId, requested, available), " +
              'for PURCHASE_LIMIT_EXCEEDED the variantId, maxPerBuyer, held and requested, for VARIANT_NOT_AVAILABLE the variantId, for a coupon refused its couponCode and reason; {} when it named nothing',
          }),
        },
        closed,
      ),
    ),
    steps: Type.Array(
      Type.Object(
        {
          step: StepName,
          status: Type.Union(['not_started', 'pending', 'succeeded', 'failed', 'compensating', 'compensated'].map((s) => Type.Literal(s))),
          attempts: Type.Integer({ minimum: 0 }),
          attemptedAt: Nullable(Instant),
          completedAt: Nullable(Instant),
          compensatedAt: Nullable(Instant),
        },
        closed,
      ),
    ),
    startedAt: Instant,
    completedAt: Nullable(Instant),
    updatedAt: Instant,
  },
  closed,
);
