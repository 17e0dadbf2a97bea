import { type Static, Type } from '@sinclair/typebox';
import { defineEvent } from './define.ts';
import { registerContracts } from './registry.ts';

/**
 * Events of the shipping domain. Each carries the shipment as it is after the fact (order, parties,
 * carrier, tracking number, status and its dates), so the orders domain and notifications need no
 * call back. The delivery address stays out, as in the orders events: the outbox is a durable log.
 */
const Uuid = Type.String({ pattern: '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$', maxLength: 36 });
const Instant = Type.String({ pattern: '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d+)?Z$', maxLength: 40 });
const closed = { additionalProperties: false } as const;

export const SHIPMENT_STATUS_VALUES = [
  'pending',
  'label_created',
  'in_transit',
  'out_for_delivery',
  'delivered',
  'delivery_failed',
  'returned',
  'cancelled',
] as const;
export type ShipmentStatus = (typeof SHIPMENT_STATUS_VALUES)[number];
export const ShipmentStatusSchema = Type.Union(SHIPMENT_STATUS_VALUES.map((s) => Type.Literal(s)));

export const SHIPMENT_EVENT_SOURCES = ['seller', 'carrier', 'system'] as const;
export type ShipmentEventSource = (typeof SHIPMENT_EVENT_SOURCES)[number];

/** Lowercase carrier name, as in the webhook path. */
export const CARRIER_NAME_PATTERN = '^[a-z0-9_-]{1,40}$';
/** A tracking number: 1 to 100 printable ASCII characters without spaces, stored upper-case. */
export const TRACKING_NUMBER_PATTERN = '^[\\x21-\\x7e]{1,100}$';

const shipmentFacts = {
  shipmentId: Uuid,
  orderId: Uuid,
  sellerId: Uuid,
  buyerId: Uuid,
  carrier: Type.String({ pattern: CARRIER_NAME_PATTERN, maxLength: 40 }),
  trackingNumber: Type.String({ pattern: TRACKING_NUMBER_PATTERN, maxLength: 100 }),
  /** The shipment's status after the fact. */
  status: ShipmentStatusSchema,
  /** When the carrier took the parcel (the seller says so when shipping); null when not known. */
  shippedAt: Type.Union([Instant, Type.Null()]),
  /** When the parcel was delivered; null before. */
  deliveredAt: Type.Union([Instant, Type.Null()]),
  /** Incremented on every change of the shipment: a consumer can tell a late event from a newer one. */
  version: Type.Integer({ minimum: 1 }),
};

export const ShipmentCreatedV1 = defineEvent('shipping.shipment_created.v1', Type.Object({ ...shipmentFacts, createdAt: Instant }, closed));
export type ShipmentCreatedV1 = Static<typeof ShipmentCreatedV1.schema>;

export const ShipmentStatusChangedV1 = defineEvent(
  'shipping.shipment_status_changed.v1',
  Type.Object(
    {
      ...shipmentFacts,
      fromStatus: ShipmentStatusSchema,
      toStatus: ShipmentStatusSchema,
      /** Who reported the change: the seller, the carrier (webhook) or the system. */
      source: Type.Union(SHIPMENT_EVENT_SOURCES.map((s) => Type.Literal(s))),
      /** When it happened according to the reporter (a carrier's scan time). */
      occurredAt: Instant,
      changedAt: Instant,
    },
    closed,
  ),
);
export type ShipmentStatusChangedV1 = Static<typeof ShipmentStatusChangedV1.schema>;

registerContracts(ShipmentCreatedV1, ShipmentStatusChangedV1);
