import type { Queryable } from '../../platform/db/pool.ts';
import type { Statement } from '../../platform/db/statements.ts';
import { newId } from '../../platform/ids.ts';

/** Rows of payments_db as the queries return them (bigint columns arrive as JS numbers). */
export type IntentStatus =
  | 'requires_confirmation'
  | 'processing'
  | 'authorized'
  | 'captured'
  | 'partially_refunded'
  | 'refunded'
  | 'voided'
  | 'failed'
  | 'canceled';

export interface IntentRow {
  id: string;
  order_id: string | null;
  checkout_session_id: string | null;
  buyer_id: string;
  amount: number;
  currency: string;
  gateway: string;
  idempotency_key: string;
  request_hash: string;
  status: IntentStatus;
  gateway_reference: string | null;
  captured_amount: number;
  refunded_amount: number;
  failure_code: string | null;
  created_at: Date;
  updated_at: Date;
  version: number;
}

export interface AllocationRow {
  id: string;
  payment_intent_id: string;
  order_id: string;
  seller_id: string;
  amount: number;
  currency: string;
  captured_amount: number;
  refunded_amount: number;
  created_at: Date;
}

export interface RefundRow {
  id: string;
  payment_intent_id: string;
  order_id: string;
  refund_reference: string;
  idempotency_key: string;
  request_hash: string;
  amount: number;
  currency: string;
  reason: string;
  requested_by: string | null;
  created_at: Date;
}

export type TransactionType = 'authorize' | 'capture' | 'void' | 'refund';
export type TransactionStatus = 'pending' | 'succeeded' | 'failed';

export async function readIntent(db: Queryable, intentId: string): Promise<IntentRow | undefined> {
  const { rows } = await db.query<IntentRow>('SELECT * FROM payment_intents WHERE id = $1', [intentId]);
  return rows[0];
}

/** An intent with whether a void and a capture were sent and have no outcome yet. */
export type IntentWithOperations = IntentRow & { void_outstanding: boolean; capture_outstanding: boolean };

/**
 * ONE statement, atomic on its own: locks the intent, tells whether a void and a capture were sent
 * and have no outcome yet (see operationOutstanding), and, when the intent is authorized with
 * neither outstanding, records a pending capture (one per capture until it has an outcome, so a
 * retry after no answer adds none). Returns the intent as found. The caller must hold the intent's
 * lock already (capture takes it in a statement before): a statement that waits for the lock keeps
 * its earlier snapshot and would not see a void or capture recorded meanwhile.
 */
export async function lockIntentForCapture(db: Queryable, intentId: string): Promise<IntentWithOperations | undefined> {
  const { rows } = await db.query<IntentWithOperations>(
    `WITH found AS (
       SELECT i.*,
              ${outstandingSql('i.id', 'void')} AS void_outstanding,
              ${outstandingSql('i.id', 'capture')} AS capture_outstanding
         FROM payment_intents i WHERE i.id = $1 FOR UPDATE OF i
     ), pending AS (
       INSERT INTO payment_transactions (id, payment_intent_id, type, amount, currency, status)
       SELECT $2, f.id, 'capture', f.amount, f.currency, 'pending' FROM found f
        WHERE f.status = 'authorized' AND NOT f.void_outstanding AND NOT f.capture_outstanding
     )
     SELECT * FROM found`,
    [intentId, newId()],
  );
  return rows[0];
}

/** Locks the intent: every change of an intent and its allocations happens under this lock. */
export async function lockIntent(db: Queryable, intentId: string): Promise<IntentRow | undefined> {
  const { rows } = await db.query<IntentRow>('SELECT * FROM payment_intents WHERE id = $1 FOR UPDATE', [intentId]);
  return rows[0];
}

/** What the journal and the intent's events need of an allocation. */
export type AllocationFacts = Pick<AllocationRow, 'id' | 'order_id' | 'seller_id' | 'amount'>;

/** The allocations `a` as a JSON array of AllocationFacts, in readAllocations' order. */
const ALLOCATION_FACTS_JSON = `coalesce((SELECT json_agg(json_build_object('id', a.id, 'order_id', a.order_id, 'seller_id', a.seller_id, 'amount', a.amount)
                                          ORDER BY a.created_at, a.id) FROM a), '[]')`;

/** The intent row with its allocation facts read in the same statement (column `facts`). */
async function intentWithFacts(db: Queryable, text: string, intentId: string): Promise<{ intent: IntentRow; allocations: AllocationFacts[] } | undefined> {
  const { rows } = await db.query<IntentRow & { facts: AllocationFacts[] }>(text, [intentId]);
  const row = rows[0];
  if (!row) return undefined;
  const { facts: allocations, ...intent } = row;
  return { intent, allocations };
}

/** Locks the intent and reads its allocations (readAllocations' order and bound) in one round trip. */
export function lockIntentWithAllocations(db: Queryable, intentId: string): Promise<{ intent: IntentRow; allocations: AllocationFacts[] } | undefined> {
  return intentWithFacts(
    db,
    `WITH a AS (SELECT * FROM payment_allocations WHERE payment_intent_id = $1 ORDER BY created_at, id LIMIT 100)
     SELECT i.*, ${ALLOCATION_FACTS_JSON} AS facts FROM payment_intents i WHERE i.id = $1 FOR UPDATE OF i`,
    intentId,
  );
}

export async function readAllocations(db: Queryable, intentId: string): Promise<AllocationRow[]> {
  const { rows } = await db.query<AllocationRow>(
    'SELECT * FROM payment_allocations WHERE payment_intent_id = $1 ORDER BY created_at, id LIMIT 100',
    [intentId],
  );
  return rows;
}

/**
 * Locks the intent and, when it is authorized, marks every allocation captured in full, in ONE
 * round trip; returns the intent as locked and the allocations marked (none when it was not
 * authorized), in the order readAllocations gives.
 */
export function lockIntentCapturingAllocations(db: Queryable, intentId: string): Promise<{ intent: IntentRow; allocations: AllocationFacts[] } | undefined> {
  return intentWithFacts(
    db,
    `WITH i AS (
       SELECT * FROM payment_intents WHERE id = $1 FOR UPDATE
     ), a AS (
       UPDATE payment_allocations SET captured_amount = amount, updated_at = now()
        WHERE payment_intent_id = $1 AND EXISTS (SELECT 1 FROM i WHERE i.status = 'authorized')
       RETURNING id, order_id, seller_id, amount, created_at
     )
     SELECT i.*, ${ALLOCATION_FACTS_JSON} AS facts FROM i`,
    intentId,
  );
}

type IntentStatusChange = { status: IntentStatus; gatewayReference?: string | null; failureCode?: string | null; capturedAmount?: number };

/** The UPDATE of an intent's status, returning the row after it. */
export function intentStatusUpdate(intentId: string, change: IntentStatusChange): Statement {
  return {
    text: `UPDATE payment_intents
        SET status = $2,
            gateway_reference = coalesce(gateway_reference, $3),
            failure_code = coalesce($4, failure_code),
            captured_amount = coalesce($5, captured_amount),
            updated_at = now(), version = version + 1
      WHERE id = $1
      RETURNING *`,
    values: [intentId, change.status, change.gatewayReference ?? null, change.failureCode ?? null, change.capturedAmount ?? null],
  };
}

export async function setIntentStatus(db: Queryable, intentId: string, change: IntentStatusChange): Promise<IntentRow> {
  const { text, values } = intentStatusUpdate(intentId, change);
  const { rows } = await db.query<IntentRow>(text, values);
  return rows[0] as IntentRow;
}

export interface NewTransaction {
  intentId: string;
  type: TransactionType;
  status: TransactionStatus;
  amount: number;
  currency: string;
  refundId?: string | null;
  gatewayTransactionId?: string | null;
  failureCode?: string | null;
}

/** The INSERT of one append-only payment_transactions row. */
export function transactionInsert(t: NewTransaction): Statement {
  return {
    text: `INSERT INTO payment_transactions
       (id, payment_intent_id, refund_id, gateway_transaction_id, type, amount, currency, status, failure_code)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
    values: [
      newId(),
      t.intentId,
      t.refundId ?? null,
      t.gatewayTransactionId ?? null,
      t.type,
      t.amount,
      t.currency,
      t.status,
      t.status === 'failed' ? (t.failureCode ?? 'failed') : null,
    ],
  };
}

export async function insertTransaction(db: Queryable, t: NewTransaction): Promise<void> {
  const { text, values } = transactionInsert(t);
  await db.query(text, values);
}

/**
 * SQL: whether an operation of `type` on the intent `intentId` (a column or parameter reference from
 * the code) was sent and has no final outcome yet: more pending rows (one per attempt) than final ones.
 */
export function outstandingSql(intentId: string, type: 'capture' | 'void'): string {
  return `(SELECT count(*) FILTER (WHERE t.status = 'pending') > count(*) FILTER (WHERE t.status <> 'pending')
             FROM payment_transactions t WHERE t.payment_intent_id = ${intentId} AND t.type = '${type}')`;
}

/**
 * Whether an operation of this type was sent and has no final outcome yet: more pending rows
 * (one per attempt) than final rows. For void it means "a void was asked for and is not done".
 */
export async function operationOutstanding(db: Queryable, intentId: string, type: 'capture' | 'void'): Promise<boolean> {
  const { rows } = await db.query<{ outstanding: boolean }>(`SELECT ${outstandingSql('$1::uuid', type)} AS outstanding`, [intentId]);
  return rows[0]?.outstanding ?? false;
}

export async function readRefund(db: Queryable, refundId: string): Promise<RefundRow | undefined> {
  const { rows } = await db.query<RefundRow>('SELECT * FROM refunds WHERE id = $1', [refundId]);
  return rows[0];
}

/** The refund's final outcome, or pending while there is none. */
export async function refundStatus(db: Queryable, refundId: string): Promise<{ status: TransactionStatus; failureCode: string | null }> {
  const { rows } = await db.query<{ status: TransactionStatus; failure_code: string | null }>(
    `SELECT status, failure_code FROM payment_transactions
      WHERE refund_id = $1 AND status IN ('succeeded', 'failed') LIMIT 1`,
    [refundId],
  );
  const row = rows[0];
  return row ? { status: row.status, failureCode: row.failure_code } : { status: 'pending', failureCode: null };
}
