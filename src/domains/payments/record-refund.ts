import { randomBytes } from 'node:crypto';
import type { Queryable, Tx } from '../../platform/db/pool.ts';
import { AppError } from '../../platform/http/errors.ts';
import { newId } from '../../platform/ids.ts';
import type { RefundInput } from './refund.ts';
import { requestHash } from './request-hash.ts';
import { type AllocationRow, type IntentRow, type RefundRow, insertTransaction, lockIntent } from './sql.ts';

/**
 * Records a refund (row, raised totals, pending transaction) in the caller's transaction. With
 * onExisting 'accept', an existing refund under the key is returned whatever its body (the
 * cancellation handler, whose amount depends on when it runs); with 'compare', another body is
 * refused (422).
 */
export async function recordRefund(
  tx: Tx,
  input: RefundInput & { intentId?: string },
  options: { onExisting: 'compare' | 'accept'; referenceOf?: () => string },
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
  // Another seller's order is answered as missing: its existence is not theirs to learn. Payments
  // knows an order only by the payment that paid it, so an order of the seller's own that nothing
  // was charged for (a total of 0, ADR 0015) is answered the same way, saying so.
  if (!found || found.seller_id !== input.sellerId) {
    throw new AppError('NOT_FOUND', 'no payment of this order to refund: it is not your order, or nothing was charged for it (an order with a total of 0)');
  }
  const intent = (await lockIntent(tx, found.payment_intent_id)) as IntentRow;
  const allocation = (await tx.query<AllocationRow>('SELECT * FROM payment_allocations WHERE id = $1 FOR UPDATE', [found.id])).rows[0] as AllocationRow;
  if (input.currency !== undefined && input.currency !== intent.currency) {
    throw new AppError('VALIDATION_FAILED', `the payment of this order is in ${intent.currency}, not ${input.currency}`);
  }
  if (allocation.captured_amount === 0) {
    throw new AppError('INVALID_STATE_TRANSITION', `the payment of this order is ${intent.status}; only captured payments are refunded`);
  }

  const referenceOf = options.referenceOf ?? refundReference;
  let created: RefundRow | undefined;
  for (let draw = 1; ; draw++) {
    // Any conflict does nothing: the key's (a concurrent twin) or the reference's (40 random bits
    // a day: drawn again), told apart by the key.
    const inserted = await tx.query<RefundRow>(
      `INSERT INTO refunds (id, payment_intent_id, order_id, refund_reference, idempotency_key, request_hash, amount, currency, reason, requested_by)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
       ON CONFLICT DO NOTHING
       RETURNING *`,
      [newId(), intent.id, input.orderId, referenceOf(), input.idempotencyKey, hash, input.amount, intent.currency, input.reason, input.requestedBy ?? null],
    );
    created = inserted.rows[0];
    if (created) break;
    const raced = await refundByKey(tx, input.idempotencyKey);
    if (raced) return { row: sameRequest(raced, hash, options.onExisting), created: false };
    if (draw === REFERENCE_DRAWS_MAX) throw new Error(`no free refund reference in ${REFERENCE_DRAWS_MAX} draws`);
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

/** Draws of a refund reference before giving up (each taken one in 2^40 a day). */
const REFERENCE_DRAWS_MAX = 5;

/** Unique, human-readable: RF-20260101-3f9a1c2b7d (date and 40 random bits). */
function refundReference(): string {
  const day = new Date().toISOString().slice(0, 10).replaceAll('-', '');
  return `RF-${day}-${randomBytes(5).toString('hex')}`;
}
