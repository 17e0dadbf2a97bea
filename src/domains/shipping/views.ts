import type { Queryable } from '../../platform/db/pool.ts';
import { shownDetails } from './carrier-webhook.ts';
import { type ShipmentEventRow, type ShipmentRow, eventsOfShipments } from './sql.ts';

/** A carrier event's details with its location and message cleaned as on receipt (carrier-webhook.ts), other fields kept. */
function cleaned(payload: ShipmentEventRow['payload']): ShipmentEventRow['payload'] {
  const { location, message, ...rest } = payload as { location?: unknown; message?: unknown };
  const text = (v: unknown) => (typeof v === 'string' ? v : undefined);
  return { ...rest, ...shownDetails(text(location), text(message)) } as ShipmentEventRow['payload'];
}

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
        // Carrier texts as buyers are shown them, also those recorded before they were cleaned on receipt.
        details: e.source === 'carrier' ? cleaned(e.payload) : e.payload,
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
