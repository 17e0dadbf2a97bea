import type { Queryable } from '../../platform/db/pool.ts';
import { type ShipmentEventRow, type ShipmentRow, eventsOfShipments } from './sql.ts';

/** A shipment as its buyer and seller read it: tracking and its history, oldest event first. */
export function shipmentView(s: ShipmentRow, events: readonly ShipmentEventRow[]) {
  return {
    id: s.id,
    orderId: s.order_id,
    carrier: s.carrier,
    trackingNumber: s.tracking_number,
    status: s.status,
    shippedAt: s.shipped_at?.toISOString() ?? null,
    deliveredAt: s.delivered_at?.toISOString() ?? null,
    createdAt: s.created_at.toISOString(),
    updatedAt: s.updated_at.toISOString(),
    events: events
      .filter((e) => e.shipment_id === s.id)
      .map((e) => ({
        id: e.id,
        type: e.event_type,
        status: e.status,
        source: e.source,
        details: e.payload,
        occurredAt: e.occurred_at?.toISOString() ?? null,
        recordedAt: e.created_at.toISOString(),
      })),
  };
}
export type ShipmentView = ReturnType<typeof shipmentView>;

export async function shipmentViews(db: Queryable, shipments: readonly ShipmentRow[]): Promise<ShipmentView[]> {
  const events = await eventsOfShipments(db, shipments.map((s) => s.id));
  return shipments.map((s) => shipmentView(s, events));
}
