import type { Statement } from '../../platform/db/statements.ts';
import type { Queryable } from '../../platform/db/pool.ts';
import type { GatewayOutcome } from './gateway.ts';

/**
 * The simulated card processor's own records (migration 0003): its charges, refunds, answers per
 * idempotency key and webhooks. Only the test gateway uses these queries, on its own statements
 * and transactions, the way a remote processor keeps its state apart from the marketplace's.
 */

export type TestGatewayEventType =
  | 'charge.authorized'
  | 'charge.failed'
  | 'charge.captured'
  | 'charge.voided'
  | 'refund.succeeded'
  | 'refund.failed';

export type ChargeStatus = 'authorized' | 'declined' | 'captured' | 'voided';

export interface ChargeRow {
  id: string;
  merchant_reference: string;
  amount: number;
  currency: string;
  status: ChargeStatus;
  decline_code: string | null;
  refunded_amount: number;
  settles_by_webhook: boolean;
  refunds_fail: boolean;
  webhooks_lost: boolean;
  webhooks_twice: boolean;
}

export interface EventRow {
  id: string;
  type: TestGatewayEventType;
  body: string;
  /** Delivered twice at once (a charge of tok_duplicate_webhook). */
  twice: boolean;
}

/** The answer of a key still being decided: only its own transaction ever sees it. */
const DECIDING = '{"status":"deciding"}';

/**
 * Claims an idempotency key in the processor's transaction, in one statement: a new key gets a row
 * (answered `first`; its outcome is written by `requestDecided` when decided), and a request with a
 * key being decided by another transaction waits on that row until it commits, then gets the row
 * as committed (ON CONFLICT DO UPDATE locks and returns the newest version, whatever the
 * statement's snapshot). Requests with one key are thus serialised across every process.
 */
export async function claimKey(
  tx: Queryable,
  key: string,
  fingerprint: string,
): Promise<{ first: true } | { first: false; fingerprint: string; outcome: GatewayOutcome }> {
  const { rows } = await tx.query<{ fingerprint: string; outcome: GatewayOutcome; first: boolean }>(
    `INSERT INTO test_gateway_requests (idempotency_key, fingerprint, outcome) VALUES ($1, $2, '${DECIDING}')
     ON CONFLICT (idempotency_key) DO UPDATE SET idempotency_key = EXCLUDED.idempotency_key
     RETURNING fingerprint, outcome, (xmax = 0) AS first`,
    [key, fingerprint],
  );
  const row = rows[0]!;
  return row.first ? { first: true } : { first: false, fingerprint: row.fingerprint, outcome: row.outcome };
}

/** A key's answer as committed (a request that found its key taken reads the answer given). */
export async function requestByKey(db: Queryable, key: string): Promise<{ fingerprint: string; outcome: GatewayOutcome } | undefined> {
  const { rows } = await db.query<{ fingerprint: string; outcome: GatewayOutcome }>(
    'SELECT fingerprint, outcome FROM test_gateway_requests WHERE idempotency_key = $1',
    [key],
  );
  return rows[0];
}

/** The constraint a request's INSERT violates when another request has its key (see requestInsert). */
export const REQUEST_KEY_CONSTRAINT = 'test_gateway_requests_pkey';

// The writes below are statements, not calls: a decision collects them and they run together, as
// one statement, when it is made (see the test gateway's #once).

/**
 * A new key with its answer, for a decision that read nothing: it fails with a unique violation
 * (of REQUEST_KEY_CONSTRAINT) if another request has the key, once that request's transaction has ended.
 */
export function requestInsert(key: string, fingerprint: string, outcome: GatewayOutcome): Statement {
  return {
    text: 'INSERT INTO test_gateway_requests (idempotency_key, fingerprint, outcome) VALUES ($1, $2, $3)',
    values: [key, fingerprint, JSON.stringify(outcome)],
  };
}

/** The answer decided for a key claimed by this transaction (see claimKey). */
export function requestDecided(key: string, outcome: GatewayOutcome): Statement {
  return {
    text: 'UPDATE test_gateway_requests SET outcome = $2 WHERE idempotency_key = $1',
    values: [key, JSON.stringify(outcome)],
  };
}

export function chargeInsert(charge: ChargeRow): Statement {
  return {
    text: `INSERT INTO test_gateway_charges
       (id, merchant_reference, amount, currency, status, decline_code, refunded_amount, settles_by_webhook, refunds_fail, webhooks_lost, webhooks_twice)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
    values: [
      charge.id,
      charge.merchant_reference,
      charge.amount,
      charge.currency,
      charge.status,
      charge.decline_code,
      charge.refunded_amount,
      charge.settles_by_webhook,
      charge.refunds_fail,
      charge.webhooks_lost,
      charge.webhooks_twice,
    ],
  };
}

export async function lockCharge(tx: Queryable, id: string): Promise<ChargeRow | undefined> {
  const { rows } = await tx.query<ChargeRow>('SELECT * FROM test_gateway_charges WHERE id = $1 FOR UPDATE', [id]);
  return rows[0];
}

export function chargeStatusUpdate(id: string, status: ChargeStatus): Statement {
  return { text: 'UPDATE test_gateway_charges SET status = $2, updated_at = now() WHERE id = $1', values: [id, status] };
}

export function refundedAdd(id: string, amount: number): Statement {
  return { text: 'UPDATE test_gateway_charges SET refunded_amount = refunded_amount + $2, updated_at = now() WHERE id = $1', values: [id, amount] };
}

export function refundInsert(refund: { id: string; chargeId: string; refundReference: string; amount: number; currency: string; declineCode: string | null }): Statement {
  return {
    text: `INSERT INTO test_gateway_refunds (id, charge_id, refund_reference, amount, currency, status, decline_code)
     VALUES ($1, $2, $3, $4, $5, $6, $7)`,
    values: [refund.id, refund.chargeId, refund.refundReference, refund.amount, refund.currency, refund.declineCode ? 'declined' : 'succeeded', refund.declineCode],
  };
}

/** A new event; a lost one is made as taken from the queue already, so that no process ever sends it. */
export function eventInsert(event: { id: string; chargeId: string; merchantReference: string; type: TestGatewayEventType; body: string; lost: boolean; twice: boolean }): Statement {
  return {
    text: `INSERT INTO test_gateway_events (id, charge_id, merchant_reference, type, body, sent_at, twice)
     VALUES ($1, $2, $3, $4, $5, CASE WHEN $6::boolean THEN now() END, $7)`,
    values: [event.id, event.chargeId, event.merchantReference, event.type, event.body, event.lost, event.twice],
  };
}

/** The processor's decision on a refund request of a charge, by the merchant's refund reference. */
export async function refundDecision(
  db: Queryable,
  chargeId: string,
  refundReference: string,
): Promise<{ status: 'succeeded' | 'declined'; decline_code: string | null; amount: number; currency: string } | undefined> {
  const { rows } = await db.query<{ status: 'succeeded' | 'declined'; decline_code: string | null; amount: number; currency: string }>(
    'SELECT status, decline_code, amount, currency::text AS currency FROM test_gateway_refunds WHERE charge_id = $1 AND refund_reference = $2 ORDER BY created_at LIMIT 1',
    [chargeId, refundReference],
  );
  return rows[0];
}

/** Takes one waiting event from the queue to send it; undefined when it was taken already (by any process). */
export async function claimEvent(db: Queryable, id: string): Promise<EventRow | undefined> {
  const { rows } = await db.query<EventRow>(
    'UPDATE test_gateway_events SET sent_at = now() WHERE id = $1 AND sent_at IS NULL RETURNING id, type, body, twice',
    [id],
  );
  return rows[0];
}

/** Puts a taken event back in the queue, to be sent again (by the next start of any process). */
export async function returnEvent(db: Queryable, id: string): Promise<void> {
  await db.query('UPDATE test_gateway_events SET sent_at = NULL WHERE id = $1', [id]);
}

/** Takes the oldest waiting event from the queue. */
export async function claimOldestEvent(db: Queryable): Promise<EventRow | undefined> {
  const { rows } = await db.query<EventRow>(
    `UPDATE test_gateway_events SET sent_at = now()
      WHERE id = (SELECT id FROM test_gateway_events WHERE sent_at IS NULL ORDER BY seq LIMIT 1 FOR UPDATE SKIP LOCKED)
      RETURNING id, type, body, twice`,
  );
  return rows[0];
}

export async function readEvent(db: Queryable, id: string): Promise<EventRow | undefined> {
  const { rows } = await db.query<EventRow>('SELECT id, type, body, twice FROM test_gateway_events WHERE id = $1', [id]);
  return rows[0];
}

/** Events waiting to be sent, oldest first. */
export async function waitingEvents(db: Queryable, limit: number): Promise<{ id: string; type: TestGatewayEventType }[]> {
  const { rows } = await db.query<{ id: string; type: TestGatewayEventType }>(
    'SELECT id, type FROM test_gateway_events WHERE sent_at IS NULL ORDER BY seq LIMIT $1',
    [limit],
  );
  return rows;
}

/** Events about one merchant reference, oldest first. */
export async function eventsAbout(db: Queryable, merchantReference: string, limit: number): Promise<{ id: string; type: TestGatewayEventType }[]> {
  const { rows } = await db.query<{ id: string; type: TestGatewayEventType }>(
    'SELECT id, type FROM test_gateway_events WHERE merchant_reference = $1 ORDER BY seq LIMIT $2',
    [merchantReference, limit],
  );
  return rows;
}
