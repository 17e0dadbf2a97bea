import { createHash } from 'node:crypto';
import { issuedIdHoldsCardNumber } from '../../platform/card-data.ts';
import { isStorableInstant } from '../../platform/clock.ts';
import { isUniqueViolation, withTransaction } from '../../platform/db/pool.ts';
import { AppError } from '../../platform/http/errors.ts';
import { newId } from '../../platform/ids.ts';
import type { Trace } from '../../platform/messaging/envelope.ts';
import { type NewEvent, appendEvents } from '../../platform/messaging/outbox.ts';
import { type CarrierWebhookBody, scanOf } from './carrier-webhook.ts';
import { enabledCarrier } from './carriers.ts';
import type { ShippingDeps } from './deps.ts';
import { shipmentCreated } from './events.ts';
import {
  trackingNumberTaken,
  SHIPMENTS_PER_ORDER_MAX,
  type ShipmentRow,
  TRACKING_UNIQUE_CONSTRAINT,
  insertShipment,
  insertShipmentEvent,
  lockIdempotencyKey,
  lockOrderShipments,
  markWebhooksProcessed,
  shipmentByKey,
  WAITING_WEBHOOKS_PAGE,
  waitingWebhooks,
} from './sql.ts';
import { applyCarrierScan, lockTrackingNumber } from './tracking.ts';
import { FINAL_STATUSES } from './status-rules.ts';
import { type ShipmentView, shipmentViews } from './views.ts';

export interface ShipInput {
  orderId: string;
  sellerId: string;
  carrier: string;
  trackingNumber: string;
  /** When the carrier took the parcel (ISO 8601); default now. */
  shippedAt?: string;
  idempotencyKey?: string;
}

/** How far ahead of the server's clock a seller's shippedAt may be (clocks differ a little). */
const SHIPPED_AT_SKEW_MS = 5 * 60_000;

/**
 * How long a shipment being recorded holds its order against cancelling. The parcel is recorded
 * within milliseconds and the order marked shipped right after (or by shipment_created, which a
 * stalled relay or broker can delay): the hold outlasts such a delay. A hold whose parcel never was
 * (the process died meanwhile) ends by itself, and the buyer may cancel again. A recording that
 * would commit later than RECORD_WITHIN_MS after the hold was taken is given up instead.
 */
const SHIPMENT_HOLD_MS = 15 * 60_000;
const RECORD_WITHIN_MS = 60_000;
/** Tries of marking the order shipped once the parcel is recorded (the event does it too). */
const MARK_ATTEMPTS = 3;

/** Ends this request's hold when no parcel was recorded; a failure to do so is logged (the hold ends by itself). */
async function releaseHold(deps: ShippingDeps, orderId: string, sellerId: string, holdId: string): Promise<void> {
  await deps.orders.releaseShipmentHold(orderId, sellerId, holdId).catch((error: unknown) => {
    deps.log.warn({ err: error, orderId }, 'the hold on the order could not be released; it ends by itself');
  });
}

/** What the seller reports when shipping: the parcel is with the carrier. */
const SHIPPED_STATUS = 'in_transit' as const;

function requestHash(input: ShipInput, trackingNumber: string): string {
  return createHash('sha256').update(JSON.stringify([input.orderId, input.carrier, trackingNumber, input.shippedAt ?? null])).digest('hex');
}

function shippedAtOf(input: ShipInput, now: Date): Date {
  if (input.shippedAt === undefined) return now;
  const ms = Date.parse(input.shippedAt);
  if (!isStorableInstant(ms)) throw new AppError('VALIDATION_FAILED', 'shippedAt is not a valid instant');
  if (ms > now.getTime() + SHIPPED_AT_SKEW_MS) throw new AppError('VALIDATION_FAILED', 'shippedAt is in the future');
  return new Date(ms);
}

async function replay(deps: ShippingDeps, existing: ShipmentRow, hash: string): Promise<ShipmentView> {
  if (existing.request_hash !== hash) throw new AppError('IDEMPOTENCY_KEY_REUSED', 'this Idempotency-Key was used for another shipment');
  const [view] = await shipmentViews(deps.pool, [existing]);
  return view as ShipmentView;
}

/**
 * A seller ships (part of) an own order: the order is read through the orders api (404 unless it
 * is the seller's; 409 unless it may ship), the carrier must be known and enabled (422), and the
 * (carrier, tracking number) pair must be new (409). The shipment, its first history row and
 * shipping.shipment_created.v1 commit together; the orders domain then marks the order shipped.
 * Webhooks the carrier sent about the tracking number before are applied in the same transaction.
 * With an Idempotency-Key the same request answers the same shipment (replayed: true).
 */
export async function ship(deps: ShippingDeps, input: ShipInput, trace: Trace | null): Promise<{ shipment: ShipmentView; replayed: boolean }> {
  const now = deps.clock.now();
  const trackingNumber = input.trackingNumber.toUpperCase();
  // Kept for good and shown to the buyer: a tracking number written as a card number is refused (one
  // of digits only is the carrier's own, and its webhooks are checked the same way).
  if (issuedIdHoldsCardNumber(trackingNumber)) {
    throw new AppError('VALIDATION_FAILED', 'trackingNumber looks like a card number: card numbers are never accepted');
  }
  const hash = requestHash(input, trackingNumber);
  const key = input.idempotencyKey;
  if (key !== undefined) {
    const existing = await shipmentByKey(deps.pool, input.sellerId, key);
    if (existing) return { shipment: await replay(deps, existing, hash), replayed: true };
  }
  const shippedAt = shippedAtOf(input, now);
  const order = await deps.orders.getOrderToShip(input.orderId, input.sellerId);
  if (!order) throw new AppError('NOT_FOUND', 'order not found');
  // The seller's clock may differ from ours a little, as for the future bound.
  if (shippedAt.getTime() < Date.parse(order.placedAt) - SHIPPED_AT_SKEW_MS) {
    throw new AppError('VALIDATION_FAILED', `shippedAt is before the order was placed (${order.placedAt})`);
  }
  await enabledCarrier(deps, input.carrier);
  if (!order.mayShip) throw new AppError('INVALID_STATE_TRANSITION', `the order cannot ship: ${order.whyNot ?? 'not now'}`);

  // The order is held against cancelling before the parcel is recorded here, and marked shipped
  // once it is: a buyer's cancellation that comes after this answer is refused, and one that came
  // first makes this a 409 with nothing made. Should the parcel not be recorded (this database
  // fails, the process dies), the hold ends by itself and the order is as it was; the order is
  // never shipped without its parcel. (Marking it shipped first left exactly that.)
  const holdId = await deps.orders.holdForShipment(order.orderId, input.sellerId, new Date(now.getTime() + SHIPMENT_HOLD_MS));
  const recordBy = now.getTime() + RECORD_WITHIN_MS;
  let result: ShipmentRow | { replayOf: ShipmentRow };
  try {
    result = await withTransaction(deps.pool, async (tx) => {
      // A concurrent request with the same key (for this order or another) got the lock first:
      // answer what it made. Keys are the seller's, not the order's, so the key has a lock of its own.
      if (key !== undefined) {
        await lockIdempotencyKey(tx, input.sellerId, key);
        const made = await shipmentByKey(tx, input.sellerId, key);
        if (made) return { replayOf: made };
      }
      const statuses = await lockOrderShipments(tx, order.orderId);
      if (statuses.length >= SHIPMENTS_PER_ORDER_MAX) throw new AppError('CONFLICT', `an order has at most ${SHIPMENTS_PER_ORDER_MAX} shipments`);
      // What shipping itself knows comes before what the orders domain has heard of yet: once every
      // parcel has ended and one was delivered, the order is delivered (orders marks it when the
      // last event arrives), and a parcel added now would be an open parcel of a delivered order.
      if (statuses.length > 0 && statuses.every((s) => FINAL_STATUSES.includes(s)) && statuses.includes('delivered')) {
        throw new AppError('INVALID_STATE_TRANSITION', 'the order cannot ship: every parcel of it has ended and one was delivered, so the order is delivered');
      }
      await lockTrackingNumber(tx, input.carrier, trackingNumber);
      if (await trackingNumberTaken(tx, input.carrier, trackingNumber)) {
        throw new AppError('TRACKING_NUMBER_TAKEN', `a shipment with ${input.carrier} tracking number ${trackingNumber} exists`);
      }
      let shipment = await insertShipment(tx, {
        id: newId(),
        orderId: order.orderId,
        sellerId: order.sellerId,
        buyerId: order.buyerId,
        carrier: input.carrier,
        trackingNumber,
        status: SHIPPED_STATUS,
        shippingAddress: order.shippingAddress,
        shippedAt,
        idempotencyKey: key ?? null,
        requestHash: key === undefined ? null : hash,
        now,
      });
      await insertShipmentEvent(tx, {
        id: newId(),
        shipmentId: shipment.id,
        eventType: 'shipped',
        status: SHIPPED_STATUS,
        source: 'seller',
        externalEventId: null,
        payload: {},
        occurredAt: shippedAt,
        now,
      });
      const events: NewEvent[] = [shipmentCreated(shipment)];
      // Every scan that came first, a page at a time (each page marked processed, so the next read
      // finds the rest): the pages after the first 100 were left waiting for good before, and the
      // carrier's redelivery of one was taken for a duplicate.
      for (;;) {
        const waiting = await waitingWebhooks(tx, input.carrier, trackingNumber);
        const scans = waiting.map((w) => ({ id: w.id, scan: scanOf(w.payload as CarrierWebhookBody, 'received before') }));
        scans.sort((a, b) => a.scan.occurredAt.getTime() - b.scan.occurredAt.getTime());
        for (const { scan } of scans) {
          const applied = await applyCarrierScan(tx, shipment, scan, now);
          shipment = applied.shipment;
          if (applied.event) events.push(applied.event);
        }
        await markWebhooksProcessed(tx, scans.map((s) => s.id), now);
        if (waiting.length < WAITING_WEBHOOKS_PAGE) break;
      }
      await appendEvents(tx, 'shipping', events, trace, now);
      // Never commit a parcel after its hold could have ended: a cancellation may pass by then.
      if (deps.clock.now().getTime() > recordBy) throw new Error('recording the shipment took too long for its hold on the order');
      return shipment;
    });
  } catch (error) {
    await releaseHold(deps, order.orderId, input.sellerId, holdId);
    if (isUniqueViolation(error, TRACKING_UNIQUE_CONSTRAINT)) {
      throw new AppError('TRACKING_NUMBER_TAKEN', `a shipment with ${input.carrier} tracking number ${trackingNumber} exists`);
    }
    throw error;
  }
  if ('replayOf' in result) {
    await releaseHold(deps, order.orderId, input.sellerId, holdId);
    return { shipment: await replay(deps, result.replayOf, hash), replayed: true };
  }
  for (let attempt = 1; ; attempt++) {
    try {
      await deps.orders.markShippedBySeller(order.orderId, input.sellerId, trace);
      break;
    } catch (error) {
      // The parcel is recorded and its shipment_created event marks the order shipped; the hold
      // keeps a cancellation out until then.
      if (attempt < MARK_ATTEMPTS && !(error instanceof AppError)) continue;
      deps.log.warn({ err: error, orderId: order.orderId, shipmentId: result.id }, 'the order could not be marked shipped now; its shipment_created event will');
      break;
    }
  }
  const [view] = await shipmentViews(deps.pool, [result]);
  return { shipment: view as ShipmentView, replayed: false };
}
