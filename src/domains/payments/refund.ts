import { randomBytes } from 'node:crypto';
import { type Static, Type } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { type Queryable, type Tx, withTransaction } from '../../platform/db/pool.ts';
import { AppError, notFound } from '../../platform/http/errors.ts';
import { newId } from '../../platform/ids.ts';
import { type PaymentsDeps, gatewayNamed } from './deps.ts';
import { callGateway, gatewayKey } from './gateway.ts';
import { applyRefund } from './outcomes.ts';
import { requestHash } from './request-hash.ts';
import { type AllocationRow, type IntentRow, type RefundRow, insertTransaction, lockIntent, readIntent, readRefund, refundStatus } from './sql.ts';

const Uuid = Type.String({ pattern: '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' });

export const RefundInputSchema = Type.Object(
  {
    idempotencyKey: Type.String({ minLength: 1, maxLength: 255 }),
    orderId: Uuid,
    /** The seller of the order: a refund is refused for an order of another seller. */
    sellerId: Uuid,
    amount: Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER }),
    /** When given, must be the payment's currency. */
    currency: Type.Optional(Type.String({ pattern: '^[A-Z]{3}$' })),
    reason: Type.String({ minLength: 1, maxLength: 1000 }),
    /** Who asked (a seller or admin); null or absent when the system did. */
    requestedBy: Type.Optional(Type.Union([Uuid, Type.Null()])),
  },
  { additionalProperties: false },
);
export type RefundInput = Static<typeof RefundInputSchema>;
const checkRefundInput = TypeCompiler.Compile(RefundInputSchema);

export interface RefundView {
  refundId: string;
  reference: string;
  intentId: string;
  orderId: string;
  amount: number;
  currency: string;
  reason: string;
  /** pending until the gateway answers (at once, or later by webhook). */
  status: 'pending' | 'succeeded' | 'failed';
  failureCode: string | null;
  createdAt: string;
}

/**
 * Refunds part or all of what an order's payment captured, once per idempotency key. The refunded
 * totals of the intent and of the order's allocation are raised by conditional UPDATEs before the
 * gateway is called, so concurrent refunds can never exceed what was captured; a refund the
 * gateway declines gives its amount back.
 */
export async function refund(deps: PaymentsDeps, raw: RefundInput): Promise<RefundView & { replayed: boolean }> {
  if (!checkRefundInput.Check(raw)) {
    const first = [...checkRefundInput.Errors(raw)][0];
    throw new AppError('VALIDATION_FAILED', `${first?.path || '/'} ${first?.message ?? 'is not valid'}`);
  }
  const { row, created } = await withTransaction(deps.pool, (tx) => recordRefund(tx, raw, { onExisting: 'compare' }));
  const view = (await readRefundView(deps.pool, row.id)) as RefundView;
  // A replay of a refund still pending asks the gateway again (same key): it may know by now.
  const current = view.status === 'pending' ? await sendRefund(deps, row.id) : view;
  return { ...current, replayed: !created };
}

/**
 * Records a refund (row, raised totals, pending transaction) in the caller's transaction. With
 * onExisting 'accept', an existing refund under the key is returned whatever its body (the
 * cancellation handler, whose amount depends on when it runs); with 'compare', another body is
 * refused (422).
 */
export async function recordRefund(
  tx: Tx,
  input: RefundInput & { intentId?: string },
  options: { onExisting: 'compare' | 'accept' },
): Promise<{ row: RefundRow; created: boolean }> {
  const hash = requestHash({
    orderId: input.orderId,
    sellerId: input.sellerId,
    amount: input.amount,
    currency: input.currency ?? null,
    reason: input.reason,
  });
  const existing = await refundByKey(tx, input.idempotencyKey);
  if (existing) return { row: sameRequest(existing, hash, options.onExisting), created: false };

  const { rows } = await tx.query<AllocationRow>(
    `SELECT * FROM payment_allocations
      WHERE order_id = $1 AND ($2::uuid IS NULL OR payment_intent_id = $2)
      ORDER BY captured_amount DESC, created_at DESC LIMIT 1`,
    [input.orderId, input.intentId ?? null],
  );
  const found = rows[0];
  // Another seller's order is answered as missing: its existence is not theirs to learn.
  if (!found || found.seller_id !== input.sellerId) throw notFound('payment of this order');
  const intent = (await lockIntent(tx, found.payment_intent_id)) as IntentRow;
  const allocation = (await tx.query<AllocationRow>('SELECT * FROM payment_allocations WHERE id = $1 FOR UPDATE', [found.id])).rows[0] as AllocationRow;
  if (input.currency !== undefined && input.currency !== intent.currency) {
    throw new AppError('VALIDATION_FAILED', `the payment of this order is in ${intent.currency}, not ${input.currency}`);
  }
  if (allocation.captured_amount === 0) {
    throw new AppError('INVALID_STATE_TRANSITION', `the payment of this order is ${intent.status}; only captured payments are refunded`);
  }

  const id = newId();
  const inserted = await tx.query<RefundRow>(
    `INSERT INTO refunds (id, payment_intent_id, order_id, refund_reference, idempotency_key, request_hash, amount, currency, reason, requested_by)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
     ON CONFLICT (idempotency_key) DO NOTHING
     RETURNING *`,
    [id, intent.id, input.orderId, refundReference(), input.idempotencyKey, hash, input.amount, intent.currency, input.reason, input.requestedBy ?? null],
  );
  const created = inserted.rows[0];
  if (!created) {
    const raced = await refundByKey(tx, input.idempotencyKey);
    if (!raced) throw new Error('refund vanished');
    return { row: sameRequest(raced, hash, options.onExisting), created: false };
  }

  const refundable = allocation.captured_amount - allocation.refunded_amount;
  const raisedIntent = await tx.query(
    `UPDATE payment_intents SET refunded_amount = refunded_amount + $2, updated_at = now(), version = version + 1
      WHERE id = $1 AND refunded_amount + $2 <= captured_amount`,
    [intent.id, input.amount],
  );
  const raisedAllocation = await tx.query(
    `UPDATE payment_allocations SET refunded_amount = refunded_amount + $2, updated_at = now()
      WHERE id = $1 AND refunded_amount + $2 <= captured_amount`,
    [allocation.id, input.amount],
  );
  if (raisedIntent.rowCount !== 1 || raisedAllocation.rowCount !== 1) {
    throw new AppError('REFUND_EXCEEDS_CAPTURED', `at most ${refundable} ${intent.currency} minor units are left to refund for this order`, {
      refundableAmount: refundable,
      currency: intent.currency,
    });
  }
  await insertTransaction(tx, {
    intentId: intent.id,
    refundId: created.id,
    type: 'refund',
    status: 'pending',
    amount: created.amount,
    currency: created.currency,
  });
  return { row: created, created: true };
}

/** A recorded refund with what its gateway knows it by: the gateway, the charge and the key. */
export async function refundAtGateway(deps: PaymentsDeps, refundId: string) {
  const refundRow = await readRefund(deps.pool, refundId);
  if (!refundRow) throw notFound('refund');
  const intent = (await readIntent(deps.pool, refundRow.payment_intent_id)) as IntentRow;
  const chargeReference = intent.gateway_reference;
  if (!chargeReference) throw new Error(`captured intent ${intent.id} has no gateway reference`);
  return { refundRow, gateway: gatewayNamed(deps, intent.gateway), chargeReference, idempotencyKey: gatewayKey('refund', refundRow.id) };
}

/** Sends a recorded refund to the gateway (same key on every attempt) and applies the answer. */
export async function sendRefund(deps: PaymentsDeps, refundId: string): Promise<RefundView> {
  const { refundRow, gateway, chargeReference, idempotencyKey } = await refundAtGateway(deps, refundId);
  const outcome = await callGateway(
    () =>
      gateway.refund({
        idempotencyKey,
        chargeReference,
        refundReference: refundRow.refund_reference,
        amount: refundRow.amount,
        currency: refundRow.currency,
      }),
    (error) => deps.log.warn({ err: error, refundId }, 'gateway refund failed without an answer'),
  );
  await withTransaction(deps.pool, (tx) => applyRefund(tx, deps, refundRow.id, outcome));
  return (await readRefundView(deps.pool, refundRow.id)) as RefundView;
}

export async function readRefundView(db: Queryable, refundId: string): Promise<RefundView | undefined> {
  const row = await readRefund(db, refundId);
  if (!row) return undefined;
  const { status, failureCode } = await refundStatus(db, row.id);
  return {
    refundId: row.id,
    reference: row.refund_reference,
    intentId: row.payment_intent_id,
    orderId: row.order_id,
    amount: row.amount,
    currency: row.currency,
    reason: row.reason,
    status,
    failureCode,
    createdAt: row.created_at.toISOString(),
  };
}

async function refundByKey(db: Queryable, key: string): Promise<RefundRow | undefined> {
  const { rows } = await db.query<RefundRow>('SELECT * FROM refunds WHERE idempotency_key = $1', [key]);
  return rows[0];
}

function sameRequest(existing: RefundRow, hash: string, onExisting: 'compare' | 'accept'): RefundRow {
  if (onExisting === 'compare' && existing.request_hash !== hash) {
    throw new AppError('IDEMPOTENCY_KEY_REUSED', 'this idempotency key was used for another refund');
  }
  return existing;
}

/** Unique, human-readable: RF-20260101-3f9a1c2b7d (date and 40 random bits). */
function refundReference(): string {
  const day = new Date().toISOString().slice(0, 10).replaceAll('-', '');
  return `RF-${day}-${randomBytes(5).toString('hex')}`;
}
