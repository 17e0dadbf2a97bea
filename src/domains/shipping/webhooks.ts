import { withTransaction } from '../../platform/db/pool.ts';
import { AppError } from '../../platform/http/errors.ts';
import { SIGNATURE_HEADER, verifySignature } from '../../platform/http/webhook-signature.ts';
import { newId } from '../../platform/ids.ts';
import type { Trace } from '../../platform/messaging/envelope.ts';
import { appendEvents } from '../../platform/messaging/outbox.ts';
import { type CarrierScan, parseCarrierWebhook, webhookJson } from './carrier-webhook.ts';
import { webhookSecretOf } from './carriers.ts';
import type { ShippingDeps } from './deps.ts';
import {
  WAITING_WEBHOOKS_MAX,
  carrierByName,
  lockOrder,
  lockShipmentByTracking,
  markWebhooksProcessed,
  orderOfTracking,
  recordWebhook,
  waitingWebhookCount,
} from './sql.ts';
import { applyCarrierScan, lockTrackingNumber } from './tracking.ts';

export interface CarrierWebhookReceipt {
  eventId: string;
  /** The same carrier event was received before: acknowledged, nothing changed. */
  duplicate: boolean;
  /** Whether its shipment was found and the scan recorded; false: kept until the shipment is created. */
  applied: boolean;
}

/**
 * A carrier's tracking webhook: the carrier must be known and enabled (404), the signature made
 * with its webhook secret (401), the body one (400); nothing is written before all three hold. It
 * is then recorded once per (carrier, event id) and applied to its shipment in the same
 * transaction: a repeat is acknowledged and changes nothing, an out-of-order scan is recorded in
 * the history without moving the status back. A webhook about a tracking number no shipment has
 * yet is kept and applied when the seller creates that shipment.
 */
export async function receiveCarrierWebhook(
  deps: ShippingDeps,
  carrierName: string,
  rawBody: Buffer,
  headers: Record<string, string | string[] | undefined>,
  trace: Trace | null,
): Promise<CarrierWebhookReceipt> {
  const carrier = await carrierByName(deps.pool, carrierName);
  if (!carrier?.enabled) throw new AppError('NOT_FOUND', `no enabled carrier named ${carrierName}`);
  const secret = await webhookSecretOf(deps, carrier);
  if (!secret) throw new AppError('INVALID_SIGNATURE', `carrier ${carrierName} has no webhook secret set`);
  const header = headers[SIGNATURE_HEADER];
  const now = deps.clock.now();
  const check = verifySignature(secret, Array.isArray(header) ? header[0] : header, rawBody, now);
  if (!check.ok) throw new AppError('INVALID_SIGNATURE', check.reason);
  const scan = parseCarrierWebhook(rawBody, now);

  for (;;) {
    try {
      return await receiveOnce(deps, carrierName, rawBody, scan, now, trace);
    } catch (error) {
      if (!(error instanceof ShipmentAppeared)) throw error;
    }
  }
}

/** The shipment was created between the unlocked read of its order and the tracking number's lock. */
class ShipmentAppeared extends Error {}

/** When a carrier should send again an update refused because too many wait for their shipment. */
const WAITING_RETRY_AFTER_SECONDS = 300;

function receiveOnce(deps: ShippingDeps, carrierName: string, rawBody: Buffer, scan: CarrierScan, now: Date, trace: Trace | null): Promise<CarrierWebhookReceipt> {
  return withTransaction(deps.pool, async (tx) => {
    // A scan may end its parcel, and a new parcel of the order must not be added meanwhile
    // (ship.ts): the order's lock is taken first, as shipping a parcel takes it.
    const orderId = await orderOfTracking(tx, carrierName, scan.trackingNumber);
    if (orderId) await lockOrder(tx, orderId);
    await lockTrackingNumber(tx, carrierName, scan.trackingNumber);
    const { row, fresh } = await recordWebhook(tx, {
      id: newId(),
      carrier: carrierName,
      eventId: scan.eventId,
      trackingNumber: scan.trackingNumber,
      // Read as the check read it (found by an audit: a body starting with a byte order mark passed
      // the check, then failed here as MALFORMED_JSON).
      payload: webhookJson(rawBody),
      now,
    });
    // Recorded before: applied then, or kept until its shipment exists (and applied when it is
    // created). A repeat never applies its own body, which may differ from the one recorded.
    if (!fresh) return { eventId: scan.eventId, duplicate: true, applied: false };
    const shipment = await lockShipmentByTracking(tx, carrierName, scan.trackingNumber);
    if (!shipment) {
      // Kept for a shipment to come, within bounds: the shipment's creation applies them all in
      // its transaction, and a carrier that sent without end would make it too long to commit.
      if ((await waitingWebhookCount(tx, carrierName, scan.trackingNumber, WAITING_WEBHOOKS_MAX + 1)) > WAITING_WEBHOOKS_MAX) {
        // 429 with a Retry-After, which carriers retry (a 4xx they would drop for good): the update
        // is taken once the shipment exists.
        throw new AppError(
          'RATE_LIMITED',
          `${WAITING_WEBHOOKS_MAX} updates already wait for tracking number ${scan.trackingNumber}, which no shipment has yet: send it again once the seller has created it`,
          { retryAfterSeconds: WAITING_RETRY_AFTER_SECONDS },
        );
      }
      return { eventId: scan.eventId, duplicate: false, applied: false };
    }
    // Created between the read and the tracking number's lock: all again (rolled back), with its order's lock.
    if (shipment.order_id !== orderId) throw new ShipmentAppeared();
    const result = await applyCarrierScan(tx, shipment, scan, now);
    if (result.event) await appendEvents(tx, 'shipping', [result.event], trace, now);
    await markWebhooksProcessed(tx, [row.id], now);
    return { eventId: scan.eventId, duplicate: false, applied: true };
  });
}
