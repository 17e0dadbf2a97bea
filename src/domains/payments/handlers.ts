import type { Logger } from 'pino';
import { OrderCancelledV1 } from '../../contracts/orders.ts';
import { type Pool, type Tx, withTransaction } from '../../platform/db/pool.ts';
import type { Subscription } from '../../platform/messaging/subscription.ts';
import { type OrderCancellation, cancellationRefundKey, recordCancelledOrder } from './cancelled-orders.ts';
import type { PaymentsDeps } from './deps.ts';
import { recordRefund } from './record-refund.ts';
import { type AllocationRow, type IntentRow, lockIntent, operationOutstanding, outstandingSql } from './sql.ts';
import { requestVoid } from './void-payment.ts';

/** What a cancellation did to one allocation of the order: nothing to do, a void or a refund asked for, or waiting for a capture in flight. */
type PartRelease = 'none' | 'void' | 'refund' | 'awaiting_capture';

/**
 * What a cancelled order means for its payment, decided from payments' own records (not from the
 * event's wasPaid): an authorization still held is voided, a capture is refunded for what is left
 * of the order's part (refunds still pending count as done; if one is declined later, its amount is
 * refunded then: see cancelled-orders.ts, which is why the cancellation itself is recorded). An
 * authorization whose capture is in flight waits for its outcome (cancelled_order_captures), which
 * the payments worker acts on. Only the intention is recorded here, in the handler's transaction;
 * the payments worker sends it to the gateway. Replays find the refund under the same key, or the
 * void already asked for, and add nothing.
 */
export async function releaseOrderPayment(tx: Tx, cancellation: OrderCancellation): Promise<{ voids: number; refunds: number; awaitingCapture: number }> {
  await recordCancelledOrder(tx, cancellation);
  const { rows: allocations } = await tx.query<AllocationRow>(
    'SELECT * FROM payment_allocations WHERE order_id = $1 ORDER BY created_at, id LIMIT 20',
    [cancellation.orderId],
  );
  const released = { voids: 0, refunds: 0, awaitingCapture: 0 };
  for (const found of allocations) {
    const part = await releasePart(tx, cancellation, found);
    if (part === 'void') released.voids += 1;
    if (part === 'refund') released.refunds += 1;
    if (part === 'awaiting_capture') released.awaitingCapture += 1;
  }
  return released;
}

/** `locked`: the allocation's intent, when the caller holds its lock already. */
async function releasePart(tx: Tx, cancellation: OrderCancellation, found: AllocationRow, locked?: IntentRow): Promise<PartRelease> {
  const intent = locked ?? (await lockIntent(tx, found.payment_intent_id));
  if (!intent) return 'none';
  if (intent.status === 'processing' || intent.status === 'authorized') {
    // Neither voided (it may be captured a moment later) nor refunded (nothing is captured yet).
    if (intent.status === 'authorized' && (await operationOutstanding(tx, intent.id, 'capture'))) {
      await tx.query('INSERT INTO cancelled_order_captures (order_id, payment_intent_id) VALUES ($1, $2) ON CONFLICT DO NOTHING', [
        cancellation.orderId,
        intent.id,
      ]);
      return 'awaiting_capture';
    }
    return (await requestVoid(tx, intent)) ? 'void' : 'none';
  }
  if (intent.status !== 'captured' && intent.status !== 'partially_refunded') return 'none';
  const { rows } = await tx.query<AllocationRow>('SELECT * FROM payment_allocations WHERE id = $1', [found.id]);
  const allocation = rows[0] as AllocationRow;
  const left = allocation.captured_amount - allocation.refunded_amount;
  if (left <= 0) return 'none';
  const { created } = await recordRefund(
    tx,
    {
      idempotencyKey: cancellationRefundKey(cancellation.orderId, intent.id),
      intentId: intent.id,
      orderId: cancellation.orderId,
      sellerId: allocation.seller_id,
      amount: left,
      reason: cancellation.reason,
      requestedBy: cancellation.cancelledBy,
    },
    { onExisting: 'accept' },
  );
  return created ? 'refund' : 'none';
}

/**
 * Settles, at most `limit` of them, the cancellations that waited for a capture now that it has
 * an outcome: the order's part refunded when it captured, the authorization voided when not. Each
 * in its own transaction, taken by deleting its row (a worker of another process finds it gone).
 * Returns how many voids and refunds it asked for.
 */
export async function releaseAfterCaptures(pool: Pool, log: Logger, limit: number): Promise<number> {
  const { rows } = await pool.query<{ order_id: string; payment_intent_id: string; reason: string; cancelled_by: string | null }>(
    `SELECT w.order_id, w.payment_intent_id, c.reason, c.cancelled_by
       FROM cancelled_order_captures w JOIN cancelled_orders c ON c.order_id = w.order_id
      WHERE NOT ${outstandingSql('w.payment_intent_id', 'capture')}
      ORDER BY w.created_at LIMIT $1`,
    [limit],
  );
  let asked = 0;
  for (const row of rows) {
    // Each alone: one that fails (logged, tried again next time) holds back none of the others.
    asked += await withTransaction(pool, async (tx) => {
      // The intent's lock first, as every other path of payments takes it.
      const intent = await lockIntent(tx, row.payment_intent_id);
      const taken = await tx.query('DELETE FROM cancelled_order_captures WHERE order_id = $1 AND payment_intent_id = $2 RETURNING 1', [
        row.order_id,
        row.payment_intent_id,
      ]);
      if (taken.rowCount === 0) return 0;
      const { rows: allocations } = await tx.query<AllocationRow>(
        'SELECT * FROM payment_allocations WHERE order_id = $1 AND payment_intent_id = $2 ORDER BY created_at, id',
        [row.order_id, row.payment_intent_id],
      );
      const cancellation = { orderId: row.order_id, reason: row.reason, cancelledBy: row.cancelled_by };
      let n = 0;
      // A new capture in flight (asked again) puts the row back: it waits for that one.
      for (const allocation of allocations) if ((await releasePart(tx, cancellation, allocation, intent)) !== 'none') n += 1;
      return n;
    }).catch((error: unknown) => {
      log.warn({ err: error, orderId: row.order_id, intentId: row.payment_intent_id }, 'a cancellation that waited for a capture could not be settled; tried again next time');
      return 0;
    });
  }
  return asked;
}

export function paymentsSubscriptions(deps: PaymentsDeps): Subscription[] {
  return [
    {
      consumer: 'payments.release_cancelled_order',
      domain: 'payments',
      events: [OrderCancelledV1.type],
      async handle(ctx, event) {
        const data = event.data as OrderCancelledV1;
        const released = await releaseOrderPayment(ctx.tx, { orderId: data.orderId, reason: data.reason, cancelledBy: data.cancelledBy });
        // The worker polls too; waking it may be early (before this commit), never harmful.
        if (released.voids + released.refunds + released.awaitingCapture > 0) deps.wakeWorker();
      },
    },
  ];
}
