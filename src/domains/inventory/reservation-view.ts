import type { Queryable } from '../../platform/db/pool.ts';
import { AppError } from '../../platform/http/errors.ts';
import type { ReservationStatus } from './lifecycle.ts';

/** A reservation as callers see it (the API object and the buyer routes). */
export interface Reservation {
  id: string;
  status: ReservationStatus;
  ownerId: string;
  referenceId: string | null;
  orderId: string | null;
  expiresAt: string;
  createdAt: string;
  closedAt: string | null;
  releaseReason: string | null;
  items: ReservationItem[];
}

export interface ReservationItem {
  variantId: string;
  stockItemId: string;
  quantity: number;
}

/** What reserve() answers: the reservation, and whether it was made earlier under the same key. */
export interface ReserveResult extends Reservation {
  replayed: boolean;
}

export interface ReservationRow {
  id: string;
  idempotency_key: string;
  request_hash: string;
  owner_id: string;
  reference_id: string | null;
  order_id: string | null;
  status: ReservationStatus;
  expires_at: Date;
  created_at: Date;
  closed_at: Date | null;
  release_reason: string | null;
  items: ReservationItem[];
}

const SELECT_RESERVATION = `
  SELECT r.id, r.idempotency_key, r.request_hash, r.owner_id, r.reference_id, r.order_id, r.status, r.expires_at,
         r.created_at, r.closed_at, r.release_reason,
         json_agg(json_build_object('variantId', s.variant_id, 'stockItemId', s.id, 'quantity', l.quantity) ORDER BY s.variant_id) AS items
    FROM reservations r
    JOIN stock_reservations l ON l.reservation_id = r.id
    JOIN stock_items s ON s.id = l.stock_item_id`;

export function toReservation(row: ReservationRow): Reservation {
  return {
    id: row.id,
    status: row.status,
    ownerId: row.owner_id,
    referenceId: row.reference_id,
    orderId: row.order_id,
    expiresAt: row.expires_at.toISOString(),
    createdAt: row.created_at.toISOString(),
    closedAt: row.closed_at ? row.closed_at.toISOString() : null,
    releaseReason: row.release_reason,
    items: row.items,
  };
}

export async function findReservation(db: Queryable, id: string): Promise<ReservationRow | undefined> {
  const { rows } = await db.query<ReservationRow>(`${SELECT_RESERVATION} WHERE r.id = $1 GROUP BY r.id`, [id]);
  return rows[0];
}

/** Reservations already made under any of these idempotency keys (one indexed read, no lock). */
export async function findReservationsByKeys(db: Queryable, keys: readonly string[]): Promise<Map<string, ReservationRow>> {
  if (keys.length === 0) return new Map();
  const { rows } = await db.query<ReservationRow>(`${SELECT_RESERVATION} WHERE r.idempotency_key = ANY($1::text[]) GROUP BY r.id`, [keys]);
  return new Map(rows.map((r) => [r.idempotency_key, r]));
}

/** The same key returns the same reservation; the same key with another request is refused. */
export function replayOrRefuse(existing: ReservationRow, requestHash: string): ReserveResult {
  if (existing.request_hash !== requestHash) {
    throw new AppError('IDEMPOTENCY_KEY_REUSED', 'this Idempotency-Key was used for a reservation with other items, owner or reference');
  }
  return { ...toReservation(existing), replayed: true };
}
