import type { ShipmentEventSource, ShipmentStatus } from '../../contracts/shipping.ts';
import type { Queryable } from '../../platform/db/pool.ts';
import { wellFormedJson } from '../../platform/unicode.ts';

/** Rows of shipping_db as the queries return them (timestamptz as Date). */
export interface ShipmentRow {
  id: string;
  order_id: string;
  seller_id: string;
  buyer_id: string;
  carrier: string;
  tracking_number: string;
  status: ShipmentStatus;
  shipping_address_json: Record<string, unknown> | null;
  shipped_at: Date | null;
  delivered_at: Date | null;
  created_at: Date;
  updated_at: Date;
  version: number;
  request_hash: string | null;
}

export interface ShipmentEventRow {
  id: string;
  shipment_id: string;
  event_type: string;
  status: ShipmentStatus | null;
  source: ShipmentEventSource;
  payload: Record<string, unknown>;
  occurred_at: Date | null;
  created_at: Date;
}

export interface CarrierRow {
  id: string;
  carrier_name: string;
  display_name: string | null;
  api_endpoint: string;
  credentials: Buffer | null;
  credentials_set_at: Date | null;
  enabled: boolean;
  created_by: string | null;
  created_at: Date;
  updated_at: Date;
}

export const TRACKING_UNIQUE_CONSTRAINT = 'shipments_carrier_tracking_key';
export const IDEMPOTENCY_UNIQUE_CONSTRAINT = 'shipments_seller_idempotency_key';
export const CARRIER_NAME_UNIQUE_CONSTRAINT = 'carrier_integrations_carrier_name_key';

/** Most shipments one order may have (parcels of one order), and events listed per shipment. */
export const SHIPMENTS_PER_ORDER_MAX = 20;
export const EVENTS_PER_SHIPMENT_LISTED_MAX = 200;
/** Webhooks kept for a tracking number not known yet are applied when its shipment is created, this many per read. */
export const WAITING_WEBHOOKS_PAGE = 100;
/** Most updates kept waiting for one tracking number's shipment (a parcel's journey has a few dozen scans). */
export const WAITING_WEBHOOKS_MAX = 500;

const SHIPMENT_COLUMNS = `id, order_id, seller_id, buyer_id, carrier, tracking_number, status, shipping_address_json, shipped_at,
  delivered_at, created_at, updated_at, version, request_hash`;
const CARRIER_COLUMNS = 'id, carrier_name, display_name, api_endpoint, credentials, credentials_set_at, enabled, created_by, created_at, updated_at';

// ---------------------------------------------------------------------------------------------
// Shipments
// ---------------------------------------------------------------------------------------------

export interface NewShipment {
  id: string;
  orderId: string;
  sellerId: string;
  buyerId: string;
  carrier: string;
  trackingNumber: string;
  status: ShipmentStatus;
  shippingAddress: Record<string, unknown>;
  shippedAt: Date;
  idempotencyKey: string | null;
  requestHash: string | null;
  now: Date;
}

export async function insertShipment(tx: Queryable, s: NewShipment): Promise<ShipmentRow> {
  const { rows } = await tx.query<ShipmentRow>(
    `INSERT INTO shipments (id, order_id, seller_id, buyer_id, carrier, tracking_number, status, shipping_address_json, shipped_at,
                            idempotency_key, request_hash, created_at, updated_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12)
     RETURNING ${SHIPMENT_COLUMNS}`,
    [
      s.id,
      s.orderId,
      s.sellerId,
      s.buyerId,
      s.carrier,
      s.trackingNumber,
      s.status,
      wellFormedJson(JSON.stringify(s.shippingAddress)),
      s.shippedAt,
      s.idempotencyKey,
      s.requestHash,
      s.now,
    ],
  );
  return rows[0] as ShipmentRow;
}

export async function shipmentByKey(db: Queryable, sellerId: string, idempotencyKey: string): Promise<ShipmentRow | undefined> {
  const { rows } = await db.query<ShipmentRow>(`SELECT ${SHIPMENT_COLUMNS} FROM shipments WHERE seller_id = $1 AND idempotency_key = $2`, [
    sellerId,
    idempotencyKey,
  ]);
  return rows[0];
}

/**
 * Serialises the shipments of one order (a transaction-scoped advisory lock on its id), so that
 * SHIPMENTS_PER_ORDER_MAX holds under concurrent requests; answers how many it has.
 */
/**
 * The lock of an order's shipments: taken by a new shipment of the order and by a carrier's scan of
 * one of them, so that a parcel is never added to an order whose parcels all ended meanwhile. Where
 * a tracking number's lock is taken too, the order's comes first.
 */
export async function lockOrder(tx: Queryable, orderId: string): Promise<void> {
  await tx.query(`SELECT pg_advisory_xact_lock(hashtextextended('shipping.order:' || $1::text, 0))`, [orderId]);
}

/** Locks the order's shipments (lockOrder) and answers their statuses, as committed before the lock was had. */
export async function lockOrderShipments(tx: Queryable, orderId: string): Promise<ShipmentStatus[]> {
  await lockOrder(tx, orderId);
  // A statement of its own: its snapshot is taken once the lock is held, so it sees what the holder before committed.
  const { rows } = await tx.query<{ status: ShipmentStatus }>('SELECT status FROM shipments WHERE order_id = $1', [orderId]);
  return rows.map((r) => r.status);
}

/** The order of the carrier's shipment with this tracking number, read without a lock; undefined when none. */
export async function orderOfTracking(db: Queryable, carrier: string, trackingNumber: string): Promise<string | undefined> {
  const { rows } = await db.query<{ order_id: string }>('SELECT order_id FROM shipments WHERE carrier = $1 AND tracking_number = $2', [carrier, trackingNumber]);
  return rows[0]?.order_id;
}

/** Serialises the requests of one seller under one Idempotency-Key, whichever orders they name. */
export async function lockIdempotencyKey(tx: Queryable, sellerId: string, key: string): Promise<void> {
  await tx.query(`SELECT pg_advisory_xact_lock(hashtextextended('shipping.key:' || $1::text || ':' || $2, 0))`, [sellerId, key]);
}

/** Whether a shipment of the carrier has the tracking number (asked under the tracking number's lock). */
export async function trackingNumberTaken(db: Queryable, carrier: string, trackingNumber: string): Promise<boolean> {
  const { rows } = await db.query('SELECT 1 FROM shipments WHERE carrier = $1 AND tracking_number = $2', [carrier, trackingNumber]);
  return rows.length > 0;
}

export async function lockShipmentByTracking(tx: Queryable, carrier: string, trackingNumber: string): Promise<ShipmentRow | undefined> {
  const { rows } = await tx.query<ShipmentRow>(
    `SELECT ${SHIPMENT_COLUMNS} FROM shipments WHERE carrier = $1 AND tracking_number = $2 FOR UPDATE`,
    [carrier, trackingNumber],
  );
  return rows[0];
}

export async function updateShipmentStatus(
  tx: Queryable,
  id: string,
  change: { status: ShipmentStatus; deliveredAt: Date | null; now: Date },
): Promise<ShipmentRow> {
  const { rows } = await tx.query<ShipmentRow>(
    `UPDATE shipments SET status = $2, delivered_at = coalesce(delivered_at, $3), version = version + 1, updated_at = $4
      WHERE id = $1 RETURNING ${SHIPMENT_COLUMNS}`,
    [id, change.status, change.deliveredAt, change.now],
  );
  return rows[0] as ShipmentRow;
}

/** A seller's shipments, newest first, after a (created_at, id) key; of one order and in one status when asked. */
export async function shipmentsOfSeller(
  db: Queryable,
  sellerId: string,
  filter: { orderId?: string | undefined; status?: ShipmentStatus | undefined },
  after: { createdAt: string; id: string } | undefined,
  limit: number,
): Promise<ShipmentRow[]> {
  const { rows } = await db.query<ShipmentRow>(
    `SELECT ${SHIPMENT_COLUMNS} FROM shipments
      WHERE seller_id = $1 AND ($2::uuid IS NULL OR order_id = $2) AND ($3::text IS NULL OR status = $3)
        AND ($4::timestamptz IS NULL OR (created_at, id) < ($4::timestamptz, $5::uuid))
      ORDER BY created_at DESC, id DESC
      LIMIT $6`,
    [sellerId, filter.orderId ?? null, filter.status ?? null, after?.createdAt ?? null, after?.id ?? null, limit],
  );
  return rows;
}

/** A buyer's shipments of one order, oldest first. */
export async function shipmentsOfOrderForBuyer(db: Queryable, orderId: string, buyerId: string): Promise<ShipmentRow[]> {
  const { rows } = await db.query<ShipmentRow>(
    `SELECT ${SHIPMENT_COLUMNS} FROM shipments WHERE order_id = $1 AND buyer_id = $2 ORDER BY created_at, id LIMIT ${SHIPMENTS_PER_ORDER_MAX}`,
    [orderId, buyerId],
  );
  return rows;
}

// ---------------------------------------------------------------------------------------------
// Shipment events (append-only)
// ---------------------------------------------------------------------------------------------

export interface NewShipmentEvent {
  id: string;
  shipmentId: string;
  eventType: string;
  status: ShipmentStatus | null;
  source: ShipmentEventSource;
  externalEventId: string | null;
  payload: Record<string, unknown>;
  occurredAt: Date;
  now: Date;
}

/** Appends an event; false when the carrier's event id was recorded for this shipment before. */
export async function insertShipmentEvent(tx: Queryable, e: NewShipmentEvent): Promise<boolean> {
  const result = await tx.query(
    `INSERT INTO shipment_events (id, shipment_id, event_type, status, source, external_event_id, payload, occurred_at, created_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
     ON CONFLICT (shipment_id, external_event_id) DO NOTHING`,
    [e.id, e.shipmentId, e.eventType, e.status, e.source, e.externalEventId, wellFormedJson(JSON.stringify(e.payload)), e.occurredAt, e.now],
  );
  return (result.rowCount ?? 0) === 1;
}

/** When the latest report of a status of the shipment happened (status-rules.ts: TrackedStatus.at). */
export async function latestReportOf(tx: Queryable, shipmentId: string, status: ShipmentStatus): Promise<Date | undefined> {
  const { rows } = await tx.query<{ at: Date | null }>(
    'SELECT max(occurred_at) AS at FROM shipment_events WHERE shipment_id = $1 AND status = $2',
    [shipmentId, status],
  );
  return rows[0]?.at ?? undefined;
}

export async function eventsOfShipments(db: Queryable, shipmentIds: readonly string[]): Promise<ShipmentEventRow[]> {
  if (shipmentIds.length === 0) return [];
  const { rows } = await db.query<ShipmentEventRow>(
    `SELECT e.id, e.shipment_id, e.event_type, e.status, e.source, e.payload, e.occurred_at, e.created_at
       FROM unnest($1::uuid[]) AS s(id)
       CROSS JOIN LATERAL (SELECT * FROM shipment_events WHERE shipment_id = s.id
                            ORDER BY created_at DESC, id DESC LIMIT ${EVENTS_PER_SHIPMENT_LISTED_MAX}) e
      ORDER BY e.shipment_id, e.occurred_at NULLS FIRST, e.created_at, e.id`,
    [shipmentIds],
  );
  return rows;
}

// ---------------------------------------------------------------------------------------------
// Carrier webhooks (deduplication; kept until their shipment is known)
// ---------------------------------------------------------------------------------------------

export interface WebhookRow {
  id: string;
  event_id: string;
  tracking_number: string | null;
  payload: Record<string, unknown>;
  processed_at: Date | null;
}

/**
 * Records a webhook once per (carrier, event id); answers the row, and whether it was new. A row
 * found recorded is locked; one the waiting-webhooks sweep dropped between the insert and the lock
 * is gone, and the webhook is recorded again, as new (found by an audit: it was answered as a
 * duplicate and kept nowhere, so a carrier's resend at that moment was lost).
 */
export async function recordWebhook(
  tx: Queryable,
  w: { id: string; carrier: string; eventId: string; trackingNumber: string; payload: unknown; now: Date },
): Promise<{ row: WebhookRow; fresh: boolean }> {
  const payload = wellFormedJson(JSON.stringify(w.payload));
  for (let attempt = 1; attempt <= RECORD_WEBHOOK_ATTEMPTS; attempt++) {
    const inserted = await tx.query<WebhookRow>(
      `INSERT INTO shipping_webhook_events (id, carrier_name, event_id, tracking_number, payload, received_at)
       VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (carrier_name, event_id) DO NOTHING
       RETURNING id, event_id, tracking_number, payload, processed_at`,
      [w.id, w.carrier, w.eventId, w.trackingNumber, payload, w.now],
    );
    if (inserted.rows[0]) return { row: inserted.rows[0], fresh: true };
    const seen = await tx.query<WebhookRow>(
      `SELECT id, event_id, tracking_number, payload, processed_at FROM shipping_webhook_events
        WHERE carrier_name = $1 AND event_id = $2 FOR UPDATE`,
      [w.carrier, w.eventId],
    );
    if (seen.rows[0]) return { row: seen.rows[0], fresh: false };
  }
  throw new Error(`carrier webhook ${w.eventId} was neither recorded nor found in ${RECORD_WEBHOOK_ATTEMPTS} attempts`);
}

/** Each attempt after the first follows a sweep's drop of the row, which happens once per row. */
const RECORD_WEBHOOK_ATTEMPTS = 3;

export async function markWebhooksProcessed(tx: Queryable, ids: readonly string[], now: Date): Promise<void> {
  if (ids.length === 0) return;
  await tx.query('UPDATE shipping_webhook_events SET processed_at = $2 WHERE id = ANY($1::uuid[]) AND processed_at IS NULL', [ids, now]);
}

/**
 * Webhooks that came before the shipment of this tracking number existed (their index:
 * shipping_webhook_events_unprocessed_idx), in the order the scans happened: read a page at a time,
 * each page must follow the one before (arrival order would put an older scan in a later page,
 * where it no longer moves the status).
 */
export async function waitingWebhooks(tx: Queryable, carrier: string, trackingNumber: string): Promise<WebhookRow[]> {
  const { rows } = await tx.query<WebhookRow>(
    `SELECT id, event_id, tracking_number, payload, processed_at FROM shipping_webhook_events
      WHERE carrier_name = $1 AND tracking_number = $2 AND processed_at IS NULL
      ORDER BY (payload #>> '{data,occurredAt}')::timestamptz, received_at, id LIMIT ${WAITING_WEBHOOKS_PAGE} FOR UPDATE`,
    [carrier, trackingNumber],
  );
  return rows;
}

/** How many updates wait for this tracking number's shipment, counted up to `upTo`. */
export async function waitingWebhookCount(tx: Queryable, carrier: string, trackingNumber: string, upTo: number): Promise<number> {
  const { rows } = await tx.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM (SELECT 1 FROM shipping_webhook_events
      WHERE carrier_name = $1 AND tracking_number = $2 AND processed_at IS NULL LIMIT $3) AS w`,
    [carrier, trackingNumber, upTo],
  );
  return rows[0]?.n ?? 0;
}

export interface DroppedWebhook {
  carrier_name: string;
  tracking_number: string | null;
  event_id: string;
}

/**
 * Deletes at most `batchMax` of the updates still waiting for their shipment that were received at
 * or before `receivedBy`, oldest first. Rows a shipment's creation holds (it applies them) are
 * skipped, so an update is either applied or dropped, never both.
 */
export async function deleteWaitingWebhooks(db: Queryable, receivedBy: Date, batchMax: number): Promise<DroppedWebhook[]> {
  const { rows } = await db.query<DroppedWebhook>(
    `DELETE FROM shipping_webhook_events w
      USING (SELECT id FROM shipping_webhook_events
              WHERE processed_at IS NULL AND received_at <= $1
              ORDER BY received_at LIMIT $2 FOR UPDATE SKIP LOCKED) AS due
      WHERE w.id = due.id AND w.processed_at IS NULL
     RETURNING w.carrier_name, w.tracking_number, w.event_id`,
    [receivedBy, batchMax],
  );
  return rows;
}

// ---------------------------------------------------------------------------------------------
// Carrier integrations
// ---------------------------------------------------------------------------------------------

export interface NewCarrier {
  id: string;
  carrierName: string;
  displayName: string | null;
  apiEndpoint: string;
  credentials: Buffer | null;
  enabled: boolean;
  createdBy: string;
  now: Date;
}

export async function insertCarrier(tx: Queryable, c: NewCarrier): Promise<CarrierRow> {
  const { rows } = await tx.query<CarrierRow>(
    `INSERT INTO carrier_integrations (id, carrier_name, display_name, api_endpoint, credentials, credentials_set_at, enabled, created_by, created_at, updated_at)
     VALUES ($1, $2, $3, $4, $5, CASE WHEN $5::bytea IS NULL THEN NULL ELSE $8::timestamptz END, $6, $7, $8, $8)
     RETURNING ${CARRIER_COLUMNS}`,
    [c.id, c.carrierName, c.displayName, c.apiEndpoint, c.credentials, c.enabled, c.createdBy, c.now],
  );
  return rows[0] as CarrierRow;
}

export interface CarrierChange {
  displayName?: string | null;
  apiEndpoint?: string;
  credentials?: Buffer;
  enabled?: boolean;
}

export async function updateCarrier(tx: Queryable, carrierName: string, change: CarrierChange, now: Date): Promise<CarrierRow | undefined> {
  const { rows } = await tx.query<CarrierRow>(
    `UPDATE carrier_integrations SET
        display_name = CASE WHEN $2 THEN $3 ELSE display_name END,
        api_endpoint = coalesce($4, api_endpoint),
        credentials = coalesce($5, credentials),
        credentials_set_at = CASE WHEN $5::bytea IS NULL THEN credentials_set_at ELSE $7 END,
        enabled = coalesce($6, enabled),
        updated_at = $7
      WHERE carrier_name = $1
      RETURNING ${CARRIER_COLUMNS}`,
    [
      carrierName,
      change.displayName !== undefined,
      change.displayName ?? null,
      change.apiEndpoint ?? null,
      change.credentials ?? null,
      change.enabled ?? null,
      now,
    ],
  );
  return rows[0];
}

export async function carrierByName(db: Queryable, carrierName: string): Promise<CarrierRow | undefined> {
  const { rows } = await db.query<CarrierRow>(`SELECT ${CARRIER_COLUMNS} FROM carrier_integrations WHERE carrier_name = $1`, [carrierName]);
  return rows[0];
}

/** Carriers by name, after the cursor's name (a short, stable order for an admin list). */
export async function carriersPage(db: Queryable, after: string | undefined, limit: number): Promise<CarrierRow[]> {
  const { rows } = await db.query<CarrierRow>(
    `SELECT ${CARRIER_COLUMNS} FROM carrier_integrations WHERE ($1::text IS NULL OR carrier_name > $1) ORDER BY carrier_name LIMIT $2`,
    [after ?? null, limit],
  );
  return rows;
}
