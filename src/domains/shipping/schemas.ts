import { Type } from '@sinclair/typebox';
import { CARRIER_NAME_PATTERN, ShipmentStatusSchema, TRACKING_NUMBER_PATTERN } from '../../contracts/shipping.ts';
import { IdempotencyKeyHeader, PageQuerySchema, PrintableText, pageOf } from '../../platform/http/schemas.ts';

/** HTTP shapes of the shipping routes. */
const closed = { additionalProperties: false } as const;
const Uuid = Type.String({ format: 'uuid' });
const Time = Type.String({ format: 'date-time' });

const CarrierName = Type.String({ pattern: CARRIER_NAME_PATTERN, maxLength: 40, description: 'Lowercase carrier name: a-z, 0-9, _ and -' });

export const IdempotencyHeaders = Type.Object({
  'idempotency-key': Type.Optional(
    IdempotencyKeyHeader('Optional. The same key and body answer the same shipment (Idempotent-Replayed: true); the same key with another body is 422'),
  ),
});

export const OrderParams = Type.Object({ orderId: Uuid }, closed);
export const CarrierParams = Type.Object({ carrier: CarrierName }, closed);

export const ShipBody = Type.Object(
  {
    carrier: CarrierName,
    trackingNumber: Type.String({
      pattern: TRACKING_NUMBER_PATTERN,
      maxLength: 100,
      description: "The carrier's tracking number: 1 to 100 printable ASCII characters without spaces, kept upper-case; one written as a card number (4242-4242-4242-4242) is refused",
    }),
    shippedAt: Type.Optional(Type.String({ format: 'date-time', description: 'When the carrier took the parcel; default now; never in the future' })),
  },
  closed,
);

const ShipmentEventSchema = Type.Object({
  id: Uuid,
  type: Type.String({ description: 'What happened: shipped (the seller), a status the carrier reported, or scan (information only)' }),
  status: Type.Union([ShipmentStatusSchema, Type.Null()], { description: 'The status the event reports; null for information only' }),
  source: Type.Union([Type.Literal('seller'), Type.Literal('carrier'), Type.Literal('system')]),
  details: Type.Object({}, { additionalProperties: true, description: "The carrier's location and message, when it gave them" }),
  occurredAt: Type.Union([Time, Type.Null()], { description: 'When it happened, as the reporter says' }),
  recordedAt: Time,
});

export const ShipmentSchema = Type.Object({
  id: Uuid,
  orderId: Uuid,
  carrier: Type.String(),
  trackingNumber: Type.String(),
  status: ShipmentStatusSchema,
  shippedAt: Type.Union([Time, Type.Null()]),
  deliveredAt: Type.Union([Time, Type.Null()]),
  createdAt: Time,
  updatedAt: Time,
  events: Type.Array(ShipmentEventSchema, { description: 'The tracking history, in the order the events happened (at most 200)' }),
});

export const SellerShipmentsQuery = Type.Object(
  {
    ...PageQuerySchema,
    orderId: Type.Optional(Type.String({ format: 'uuid', description: 'Only the shipments of this order' })),
    status: Type.Optional(ShipmentStatusSchema),
  },
  closed,
);
export const SellerShipmentPage = pageOf(ShipmentSchema);

export const ShipmentList = Type.Object({ items: Type.Array(ShipmentSchema, { description: 'Oldest first; an order has at most 20 shipments' }) });

const Credentials = Type.Object(
  {
    webhookSecret: Type.String({ minLength: 16, maxLength: 200, description: "The secret the carrier signs its webhooks with (HMAC-SHA256)" }),
    apiKey: Type.Optional(Type.String({ minLength: 1, maxLength: 500, description: "Key for the carrier's API" })),
    accountId: Type.Optional(Type.String({ minLength: 1, maxLength: 200, description: 'Our account at the carrier' })),
  },
  { ...closed, description: 'Write-only: encrypted at rest, never returned or logged; the answers show only credentialsSetAt' },
);
const DisplayName = Type.Union([PrintableText(200), Type.Null()], { description: 'Shown to people (no blank text, no control characters); null to show the carrier name' });
const ApiEndpoint = Type.String({ pattern: '^https?://', maxLength: 2048, description: "Base URL of the carrier's API" });

export const CreateCarrierBody = Type.Object(
  {
    carrierName: CarrierName,
    displayName: Type.Optional(DisplayName),
    apiEndpoint: ApiEndpoint,
    credentials: Type.Optional(Credentials),
    enabled: Type.Optional(Type.Boolean({ description: 'Default true: sellers may ship with it and its webhooks are accepted' })),
  },
  closed,
);

export const PatchCarrierBody = Type.Object(
  {
    displayName: Type.Optional(DisplayName),
    apiEndpoint: Type.Optional(ApiEndpoint),
    credentials: Type.Optional(Credentials),
    enabled: Type.Optional(Type.Boolean()),
  },
  closed,
);

export const CarrierSchema = Type.Object({
  id: Uuid,
  carrierName: Type.String(),
  displayName: Type.Union([Type.String(), Type.Null()]),
  apiEndpoint: Type.String(),
  enabled: Type.Boolean(),
  credentialsSetAt: Type.Union([Time, Type.Null()], { description: 'When credentials were last set; null when never (the credentials themselves are never shown)' }),
  createdAt: Time,
  updatedAt: Time,
});

export const CarrierQuery = Type.Object({ ...PageQuerySchema }, closed);
export const CarrierPage = Type.Object({ items: Type.Array(CarrierSchema), nextCursor: Type.Union([Type.String(), Type.Null()]) });

export const CarrierWebhookReceiptSchema = Type.Object({
  received: Type.Literal(true),
  eventId: Type.String(),
  duplicate: Type.Boolean({ description: 'The same carrier event was received before: nothing changed' }),
  applied: Type.Boolean({ description: 'false: no shipment has this tracking number yet; the scan is kept and applied when it is created' }),
});
