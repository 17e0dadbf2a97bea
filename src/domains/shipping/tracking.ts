import type { Tx } from '../../platform/db/pool.ts';
import { newId } from '../../platform/ids.ts';
import type { NewEvent } from '../../platform/messaging/outbox.ts';
import type { CarrierScan } from './carrier-webhook.ts';
import { shipmentStatusChanged } from './events.ts';
import { type ShipmentRow, insertShipmentEvent, latestReportOf, updateShipmentStatus } from './sql.ts';
import { decideScan } from './status-rules.ts';

/**
 * Where webhooks and shipment creation meet: the scan lock of a tracking number. Both take it
 * before anything else, so a webhook that arrives while its shipment is being created either sees
 * the shipment or is seen, as waiting, by the creation; never neither.
 */
export async function lockTrackingNumber(tx: Tx, carrier: string, trackingNumber: string): Promise<void> {
  await tx.query(`SELECT pg_advisory_xact_lock(hashtextextended('shipping.tracking:' || $1 || ':' || $2, 0))`, [carrier, trackingNumber]);
}

export interface ScanResult {
  shipment: ShipmentRow;
  /** False when this carrier event was recorded for the shipment before (a duplicate). */
  recorded: boolean;
  /** The shipping event to publish when the status moved. */
  event?: NewEvent;
}

/**
 * Applies a carrier's scan to its shipment, locked by the caller: the scan joins the shipment's
 * history (once per carrier event id), and moves the status when status-rules.ts says so; a
 * delivery sets delivered_at (never before shipped_at: the carrier's clock may be behind the
 * seller's). The caller writes the returned event to the outbox in the same transaction.
 */
export async function applyCarrierScan(tx: Tx, shipment: ShipmentRow, scan: CarrierScan, now: Date): Promise<ScanResult> {
  const recorded = await insertShipmentEvent(tx, {
    id: newId(),
    shipmentId: shipment.id,
    eventType: scan.status ?? 'scan',
    status: scan.status,
    source: 'carrier',
    externalEventId: scan.eventId,
    payload: scan.details,
    occurredAt: scan.occurredAt,
    now,
  });
  if (!recorded || scan.status === null) return { shipment, recorded };
  const currentAt = (await latestReportOf(tx, shipment.id, shipment.status)) ?? shipment.shipped_at ?? shipment.created_at;
  const decision = decideScan({ status: shipment.status, at: currentAt }, { status: scan.status, at: scan.occurredAt });
  if (decision.outcome === 'kept') return { shipment, recorded };
  const shippedMs = shipment.shipped_at?.getTime() ?? Number.NEGATIVE_INFINITY;
  const deliveredAt = decision.to === 'delivered' ? new Date(Math.max(scan.occurredAt.getTime(), shippedMs)) : null;
  const updated = await updateShipmentStatus(tx, shipment.id, { status: decision.to, deliveredAt, now });
  return { shipment: updated, recorded, event: shipmentStatusChanged(updated, shipment.status, 'carrier', scan.occurredAt, now) };
}
