import type { Queryable } from '../../platform/db/pool.ts';
import type { Trace } from '../../platform/messaging/envelope.ts';
import { type NewEvent, outboxInsert } from '../../platform/messaging/outbox.ts';
import type { SessionStatus, StepName, StepStatus } from './saga.ts';
import type { SessionPatch, SessionRecord, StepRecord } from './steps/types.ts';

/**
 * The checkout database's queries. Every change a driver makes to a session is conditional on its
 * lease (`lease_owner = $owner`): a driver that lost its lease to another worker changes nothing
 * and stops (the caller sees `null`).
 */

export interface SessionRow {
  id: string;
  user_id: string;
  cart_id: string;
  idempotency_key: string;
  request_hash: string;
  status: SessionStatus;
  current_step: StepName | null;
  payment_method_json: { token: string };
  shipping_address_json: Record<string, unknown>;
  requested_currency: string | null;
  order_ids: string[];
  reservation_id: string | null;
  payment_intent_id: string | null;
  currency: string | null;
  subtotal_amount: number | null;
  discount_amount: number | null;
  shipping_amount: number | null;
  total_amount: number | null;
  failure_reason: string | null;
  failure_code: string | null;
  failure_details: Record<string, unknown> | null;
  failed_step: StepName | null;
  lease_owner: string | null;
  lease_expires_at: Date | null;
  resume_at: Date;
  started_at: Date;
  completed_at: Date | null;
  updated_at: Date;
  version: number;
}

interface StepRow {
  step_type: StepName;
  status: StepStatus;
  attempts: number;
  attempted_at: Date | null;
  completed_at: Date | null;
  compensated_at: Date | null;
  output_json: unknown;
  error: string | null;
}

export function toSession(r: SessionRow): SessionRecord {
  return {
    id: r.id,
    userId: r.user_id,
    cartId: r.cart_id,
    idempotencyKey: r.idempotency_key,
    requestHash: r.request_hash,
    status: r.status,
    currentStep: r.current_step,
    paymentMethod: r.payment_method_json,
    shippingAddress: r.shipping_address_json,
    requestedCurrency: r.requested_currency,
    orderIds: r.order_ids,
    reservationId: r.reservation_id,
    paymentIntentId: r.payment_intent_id,
    totals:
      r.currency === null
        ? null
        : {
            currency: r.currency,
            subtotalAmount: r.subtotal_amount as number,
            discountAmount: r.discount_amount as number,
            shippingAmount: r.shipping_amount as number,
            totalAmount: r.total_amount as number,
          },
    failureReason: r.failure_reason,
    failureCode: r.failure_code,
    failureDetails: r.failure_details,
    failedStep: r.failed_step,
    leaseOwner: r.lease_owner,
    leaseExpiresAt: r.lease_expires_at,
    resumeAt: r.resume_at,
    startedAt: r.started_at,
    completedAt: r.completed_at,
    updatedAt: r.updated_at,
    version: r.version,
  };
}

function toStep(r: StepRow): StepRecord {
  return {
    step: r.step_type,
    status: r.status,
    attempts: r.attempts,
    attemptedAt: r.attempted_at,
    completedAt: r.completed_at,
    compensatedAt: r.compensated_at,
    output: r.output_json,
    error: r.error,
  };
}

export interface NewSession {
  id: string;
  userId: string;
  cartId: string;
  idempotencyKey: string;
  requestHash: string;
  paymentMethod: { token: string };
  shippingAddress: Record<string, unknown>;
  requestedCurrency: string | null;
  /** The first step, started with the session (its row counts one attempt). */
  firstStep: StepName;
  firstStepRowId: string;
  owner: string;
  leaseUntil: Date;
  now: Date;
  /** For the events written with the session. */
  trace: Trace | null;
}

/**
 * Inserts the session, leased to its creator and with its first step started, and its `events`,
 * in one statement; null (and nothing written) when (buyer, key) exists already.
 */
export async function insertSession(db: Queryable, s: NewSession, events: readonly NewEvent[] = []): Promise<SessionRecord | null> {
  const outbox = events.length > 0 ? outboxInsert('checkout', events, 14, s.trace, s.now, { guard: 'EXISTS (SELECT 1 FROM s)' }) : undefined;
  const { rows } = await db.query<SessionRow>(
    `WITH s AS (
       INSERT INTO checkout_sessions (id, user_id, cart_id, idempotency_key, request_hash, status, current_step, payment_method_json,
                                      shipping_address_json, requested_currency, lease_owner, lease_expires_at, resume_at, started_at, updated_at)
       VALUES ($1, $2, $3, $4, $5, 'in_progress', $11, $6, $7, $13, $8, $9, $9, $10, $10)
       ON CONFLICT (user_id, idempotency_key) DO NOTHING
       RETURNING *),
     st AS (
       INSERT INTO checkout_steps (id, session_id, step_type, status, attempts, attempted_at, created_at, updated_at)
       SELECT $12, s.id, $11, 'pending', 1, $10, $10, $10 FROM s)${outbox ? `,
     ev AS (${outbox.sql})` : ''}
     SELECT * FROM s`,
    [
      s.id,
      s.userId,
      s.cartId,
      s.idempotencyKey,
      s.requestHash,
      JSON.stringify(s.paymentMethod),
      JSON.stringify(s.shippingAddress),
      s.owner,
      s.leaseUntil,
      s.now,
      s.firstStep,
      s.firstStepRowId,
      s.requestedCurrency,
      ...(outbox?.values ?? []),
    ],
  );
  return rows[0] ? toSession(rows[0]) : null;
}

export async function selectSessionByKey(db: Queryable, userId: string, idempotencyKey: string): Promise<SessionRecord | null> {
  const { rows } = await db.query<SessionRow>('SELECT * FROM checkout_sessions WHERE user_id = $1 AND idempotency_key = $2', [userId, idempotencyKey]);
  return rows[0] ? toSession(rows[0]) : null;
}

/** The status of the session that holds a cart (live or completed; see checkout migration 0003), if one does. */
export async function cartHolderStatus(db: Queryable, cartId: string): Promise<SessionStatus | null> {
  const { rows } = await db.query<{ status: SessionStatus }>(
    "SELECT status FROM checkout_sessions WHERE cart_id = $1 AND status IN ('pending', 'in_progress', 'compensating', 'completed')",
    [cartId],
  );
  return rows[0]?.status ?? null;
}

export async function selectSession(db: Queryable, id: string): Promise<SessionRecord | null> {
  const { rows } = await db.query<SessionRow>('SELECT * FROM checkout_sessions WHERE id = $1', [id]);
  return rows[0] ? toSession(rows[0]) : null;
}

export async function selectSteps(db: Queryable, sessionId: string): Promise<StepRecord[]> {
  const { rows } = await db.query<StepRow>(
    `SELECT step_type, status, attempts, attempted_at, completed_at, compensated_at, output_json, error
       FROM checkout_steps WHERE session_id = $1`,
    [sessionId],
  );
  return rows.map(toStep);
}

export interface LeaseHolder {
  sessionId: string;
  owner: string;
  now: Date;
}

/** Renews the lease, makes the session in_progress and counts an attempt of the step; null when the lease is lost. */
export async function startStep(db: Queryable, h: LeaseHolder, step: StepName, stepRowId: string, leaseUntil: Date): Promise<number | null> {
  const { rows } = await db.query<{ attempts: number }>(
    `WITH s AS (
       UPDATE checkout_sessions
          SET current_step = $2, status = CASE WHEN status = 'pending' THEN 'in_progress' ELSE status END,
              lease_expires_at = $5, resume_at = $5, updated_at = $4, version = version + 1
        WHERE id = $1 AND lease_owner = $3 AND status IN ('pending', 'in_progress')
        RETURNING id)
     INSERT INTO checkout_steps (id, session_id, step_type, status, attempts, attempted_at, created_at, updated_at)
     SELECT $6, s.id, $2, 'pending', 1, $4, $4, $4 FROM s
     ON CONFLICT (session_id, step_type) DO UPDATE
       SET attempts = checkout_steps.attempts + 1, attempted_at = EXCLUDED.attempted_at, updated_at = EXCLUDED.updated_at
     RETURNING attempts`,
    [h.sessionId, step, h.owner, h.now, leaseUntil, stepRowId],
  );
  return rows[0]?.attempts ?? null;
}

/** What follows a step's success in the same statement: the next step started, or (the last, pure step) done. */
export type NextStep =
  | { step: StepName; rowId: string; status: 'pending' }
  | { step: StepName; rowId: string; status: 'succeeded'; output: unknown }
  | null;

/**
 * Records a step's success and what it sets on the session, and starts the next step (renewing the
 * lease and counting its attempt) in the same statement; with `complete`, the session is completed
 * and its lease let go. `events` are written by the same statement, only if the transition was,
 * with `trace`.
 * Null when the lease is lost; else the session and the next step's attempts.
 */
export async function recordTransition(
  db: Queryable,
  h: LeaseHolder,
  step: StepName,
  output: unknown,
  patch: SessionPatch,
  next: NextStep,
  complete: boolean,
  leaseUntil: Date,
  events: readonly NewEvent[] = [],
  trace: Trace | null = null,
): Promise<{ session: SessionRow; nextAttempts: number | null } | null> {
  const t = patch.totals;
  const outbox = events.length > 0 ? outboxInsert('checkout', events, 20, trace, h.now, { guard: 'EXISTS (SELECT 1 FROM s)' }) : undefined;
  const { rows } = await db.query<SessionRow & { next_attempts: number | null }>(
    `WITH s AS (
       UPDATE checkout_sessions
          SET reservation_id = COALESCE($5::uuid, reservation_id),
              payment_intent_id = COALESCE($6::uuid, payment_intent_id),
              order_ids = COALESCE($7::jsonb, order_ids),
              currency = COALESCE($8, currency),
              subtotal_amount = COALESCE($9, subtotal_amount),
              discount_amount = COALESCE($10, discount_amount),
              shipping_amount = COALESCE($11, shipping_amount),
              total_amount = COALESCE($12, total_amount),
              current_step = COALESCE($15::text, current_step),
              status = CASE WHEN $13::boolean THEN 'completed' ELSE 'in_progress' END,
              completed_at = CASE WHEN $13::boolean THEN $4::timestamptz ELSE completed_at END,
              lease_owner = CASE WHEN $13::boolean THEN NULL ELSE lease_owner END,
              lease_expires_at = CASE WHEN $13::boolean THEN NULL ELSE $19::timestamptz END,
              resume_at = CASE WHEN $13::boolean THEN resume_at ELSE $19::timestamptz END,
              updated_at = $4::timestamptz, version = version + 1
        WHERE id = $1 AND lease_owner = $3 AND status IN ('pending', 'in_progress')
        RETURNING *),
     done AS (
       UPDATE checkout_steps st
          SET status = 'succeeded', output_json = $14, completed_at = $4, updated_at = $4, error = NULL
         FROM s WHERE st.session_id = s.id AND st.step_type = $2),
     nxt AS (
       INSERT INTO checkout_steps (id, session_id, step_type, status, attempts, attempted_at, completed_at, output_json, created_at, updated_at)
       SELECT $16::uuid, s.id, $15::text, $17::text, 1, $4, CASE WHEN $17::text = 'succeeded' THEN $4::timestamptz END, $18::jsonb, $4, $4
         FROM s WHERE $15::text IS NOT NULL
       ON CONFLICT (session_id, step_type) DO UPDATE
         SET attempts = checkout_steps.attempts + 1, attempted_at = EXCLUDED.attempted_at, status = EXCLUDED.status,
             completed_at = EXCLUDED.completed_at, output_json = COALESCE(EXCLUDED.output_json, checkout_steps.output_json),
             updated_at = EXCLUDED.updated_at
       RETURNING attempts)${outbox ? `,
     ev AS (${outbox.sql})` : ''}
     SELECT s.*, (SELECT attempts FROM nxt) AS next_attempts FROM s`,
    [
      h.sessionId,
      step,
      h.owner,
      h.now,
      patch.reservationId ?? null,
      patch.paymentIntentId ?? null,
      patch.orderIds ? JSON.stringify(patch.orderIds) : null,
      t?.currency ?? null,
      t?.subtotalAmount ?? null,
      t?.discountAmount ?? null,
      t?.shippingAmount ?? null,
      t?.totalAmount ?? null,
      complete,
      JSON.stringify(output),
      next?.step ?? null,
      next?.rowId ?? null,
      next?.status ?? null,
      next?.status === 'succeeded' ? JSON.stringify(next.output) : null,
      leaseUntil,
      ...(outbox?.values ?? []),
    ],
  );
  const row = rows[0];
  if (!row) return null;
  const { next_attempts: nextAttempts, ...session } = row;
  return { session, nextAttempts };
}

/** How many times the step failed and was retried (its audited failures rows): waits are not failures. */
export async function countStepFailures(db: Queryable, sessionId: string, step: StepName): Promise<number> {
  const { rows } = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM checkout_failures WHERE session_id = $1 AND step_type = $2', [sessionId, step]);
  return rows[0]?.n ?? 0;
}

/**
 * Lets the session go until `resumeAt` (a retry backoff, or waiting for the payment gateway), with
 * the step's error, what it saved so far, and a failures row unless it only waits. False when the lease is lost.
 */
export async function parkAfterStepError(
  db: Queryable,
  h: LeaseHolder,
  step: StepName,
  resumeAt: Date,
  error: { code: string; detail: string; audit: boolean; failureId: string },
  saved: { progress?: unknown; paymentIntentId?: string },
): Promise<boolean> {
  const { rows } = await db.query(
    `WITH s AS (
       UPDATE checkout_sessions
          SET lease_owner = NULL, lease_expires_at = NULL, resume_at = $5,
              payment_intent_id = COALESCE($6::uuid, payment_intent_id), updated_at = $4, version = version + 1
        WHERE id = $1 AND lease_owner = $3
        RETURNING id),
     st AS (
       UPDATE checkout_steps st SET error = $8, output_json = COALESCE($7::jsonb, st.output_json), updated_at = $4
         FROM s WHERE st.session_id = s.id AND st.step_type = $2),
     f AS (
       INSERT INTO checkout_failures (id, session_id, step_type, code, reason, failed_at)
       SELECT $10, s.id, $2, $9, $8, $4 FROM s WHERE $11)
     SELECT id FROM s`,
    [
      h.sessionId,
      step,
      h.owner,
      h.now,
      resumeAt,
      saved.paymentIntentId ?? null,
      saved.progress === undefined ? null : JSON.stringify(saved.progress),
      error.detail,
      error.code,
      error.failureId,
      error.audit,
    ],
  );
  return rows.length > 0;
}

/**
 * A step failed for good: the session turns to compensating with the buyer-facing reason, the step
 * is marked failed (or compensating when it may have had its effect), and a failures row is kept.
 */
export async function recordStepFailure(
  db: Queryable,
  h: LeaseHolder,
  step: StepName,
  stepStatus: 'failed' | 'compensating',
  failure: { code: string; reason: string; details: Record<string, unknown> | null; detail: string; failureId: string },
  leaseUntil: Date,
  paymentIntentId: string | null = null,
): Promise<boolean> {
  const { rows } = await db.query(
    `WITH s AS (
       UPDATE checkout_sessions
          SET status = 'compensating', failure_reason = $5, failure_code = $6, failure_details = $12::jsonb, failed_step = $2,
              payment_intent_id = COALESCE($11::uuid, payment_intent_id),
              lease_expires_at = $8, resume_at = $8, updated_at = $4, version = version + 1
        WHERE id = $1 AND lease_owner = $3 AND status IN ('pending', 'in_progress')
        RETURNING id),
     st AS (
       UPDATE checkout_steps st SET status = $7, error = $9, updated_at = $4
         FROM s WHERE st.session_id = s.id AND st.step_type = $2),
     f AS (
       INSERT INTO checkout_failures (id, session_id, step_type, code, reason, failed_at)
       SELECT $10, s.id, $2, $6, $9, $4 FROM s)
     SELECT id FROM s`,
    [h.sessionId, step, h.owner, h.now, failure.reason, failure.code, stepStatus, leaseUntil, failure.detail, failure.failureId, paymentIntentId, failure.details],
  );
  return rows.length > 0;
}

/** Renews the lease and marks the step as being undone (counting an attempt); null when the lease is lost. */
export async function startCompensation(db: Queryable, h: LeaseHolder, step: StepName, leaseUntil: Date): Promise<number | null> {
  const { rows } = await db.query<{ attempts: number }>(
    `WITH s AS (
       UPDATE checkout_sessions
          SET current_step = $2, lease_expires_at = $5, resume_at = $5, updated_at = $4, version = version + 1
        WHERE id = $1 AND lease_owner = $3 AND status = 'compensating'
        RETURNING id)
     UPDATE checkout_steps st SET status = 'compensating', attempts = st.attempts + 1, attempted_at = $4, updated_at = $4
       FROM s WHERE st.session_id = s.id AND st.step_type = $2
     RETURNING st.attempts`,
    [h.sessionId, step, h.owner, h.now, leaseUntil],
  );
  return rows[0]?.attempts ?? null;
}

export async function recordCompensated(db: Queryable, h: LeaseHolder, step: StepName): Promise<boolean> {
  const { rows } = await db.query(
    `UPDATE checkout_steps st SET status = 'compensated', compensated_at = $4, updated_at = $4, error = NULL
       FROM checkout_sessions s
      WHERE st.session_id = $1 AND st.step_type = $2 AND s.id = st.session_id AND s.lease_owner = $3
      RETURNING st.id`,
    [h.sessionId, step, h.owner, h.now],
  );
  return rows.length > 0;
}

/** Ends a compensated or failed session and lets its lease go; null when the lease is lost. */
export async function finishFailed(db: Queryable, h: LeaseHolder, outcome: 'failed' | 'compensated'): Promise<SessionRow | null> {
  const { rows } = await db.query<SessionRow>(
    `UPDATE checkout_sessions
        SET status = $4, completed_at = $5, lease_owner = NULL, lease_expires_at = NULL,
            failure_reason = COALESCE(failure_reason, 'the checkout failed'), updated_at = $5, version = version + 1
      WHERE id = $1 AND lease_owner = $2 AND status = $3
      RETURNING *`,
    [h.sessionId, h.owner, 'compensating', outcome, h.now],
  );
  return rows[0] ?? null;
}

/**
 * Extends the lease of a session whose step is still running (the heartbeat of a drive); false
 * when the lease is lost (another worker took the session, or it is finished).
 */
export async function renewLease(db: Queryable, h: LeaseHolder, leaseUntil: Date): Promise<boolean> {
  const { rowCount } = await db.query(
    `UPDATE checkout_sessions SET lease_expires_at = $3, resume_at = $3
      WHERE id = $1 AND lease_owner = $2 AND status IN ('pending', 'in_progress', 'compensating')`,
    [h.sessionId, h.owner, leaseUntil],
  );
  return (rowCount ?? 0) > 0;
}

/** Lets the lease go (the process stops): another worker may take the session at once. */
export async function releaseLease(db: Queryable, h: LeaseHolder): Promise<void> {
  await db.query('UPDATE checkout_sessions SET lease_owner = NULL, lease_expires_at = NULL, resume_at = $3 WHERE id = $1 AND lease_owner = $2', [
    h.sessionId,
    h.owner,
    h.now,
  ]);
}

/**
 * Takes the lease of up to `limit` unfinished sessions that are due: their resume time has come and
 * no live lease holds them (a crashed driver's lease has lapsed). SKIP LOCKED keeps two workers
 * from taking the same session; the lease keeps them apart afterwards. `excluded` are sessions this
 * process still drives (a call hung past its lease): they are left for another process to take.
 */
export async function claimDueSessions(
  db: Queryable,
  owner: string,
  now: Date,
  leaseUntil: Date,
  limit: number,
  excluded: readonly string[] = [],
): Promise<SessionRecord[]> {
  const { rows } = await db.query<SessionRow>(
    `UPDATE checkout_sessions s
        SET lease_owner = $1, lease_expires_at = $3, resume_at = $3, version = s.version + 1
      WHERE s.id IN (
              SELECT id FROM checkout_sessions
               WHERE status IN ('pending', 'in_progress', 'compensating') AND resume_at <= $2
                 AND (lease_expires_at IS NULL OR lease_expires_at <= $2)
                 AND NOT (id = ANY($5::uuid[]))
               ORDER BY resume_at
               LIMIT $4
               FOR UPDATE SKIP LOCKED)
        AND s.status IN ('pending', 'in_progress', 'compensating')
        AND (s.lease_expires_at IS NULL OR s.lease_expires_at <= $2)
      RETURNING s.*`,
    [owner, now, leaseUntil, limit, excluded],
  );
  return rows.map(toSession);
}

/** A payment event arrived for a session that waits for it: make it due now. */
export async function nudgeSession(db: Queryable, sessionId: string, now: Date): Promise<boolean> {
  const { rowCount } = await db.query(
    `UPDATE checkout_sessions SET resume_at = $2
      WHERE id = $1 AND status IN ('in_progress', 'compensating') AND lease_owner IS NULL AND resume_at > $2`,
    [sessionId, now],
  );
  return (rowCount ?? 0) > 0;
}
