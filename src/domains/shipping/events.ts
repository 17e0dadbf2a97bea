import { ShipmentCreatedV1, type ShipmentEventSource, type ShipmentStatus, ShipmentStatusChangedV1 } from '../../contracts/shipping.ts';
import type { NewEvent } from '../../platform/messaging/outbox.ts';
import type { ShipmentRow } from './sql.ts';

/** The shipment as every shipping event describes it (the address is left out on purpose). */
function facts(s: ShipmentRow) {
  return {
    shipmentId: s.id,
    orderId: s.order_id,
    sellerId: s.seller_id,
    buyerId: s.buyer_id,
    carrier: s.carrier,
    trackingNumber: s.tracking_number,
    status: s.status,
    shippedAt: s.shipped_at?.toISOString() ?? null,
    deliveredAt: s.delivered_at?.toISOString() ?? null,
    version: s.version,
  };
}

export function shipmentCreated(s: ShipmentRow): NewEvent {
  const data: ShipmentCreatedV1 = { ...facts(s), createdAt: s.created_at.toISOString() };
  return { type: ShipmentCreatedV1.type, aggregateId: s.id, aggregateType: 'shipment', data };
}

export function shipmentStatusChanged(s: ShipmentRow, from: ShipmentStatus, source: ShipmentEventSource, occurredAt: Date, now: Date): NewEvent {
  const data: ShipmentStatusChangedV1 = {
    ...facts(s),
    fromStatus: from,
    toStatus: s.status,
    source,
    occurredAt: occurredAt.toISOString(),
    changedAt: now.toISOString(),
  };
  return { type: ShipmentStatusChangedV1.type, aggregateId: s.id, aggregateType: 'shipment', data };
}
