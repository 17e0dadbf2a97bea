import type { Tx } from '../../platform/db/pool.ts';
import { type Statement, commitTogetherReturning, runTogetherReturning } from '../../platform/db/statements.ts';
import type { Trace } from '../../platform/messaging/envelope.ts';
import { appendEvents } from '../../platform/messaging/outbox.ts';
import { isCancellationRefund, refundRestOfCancelledOrder } from './cancelled-orders.ts';
import { captureSplit, refundSplit } from './commission.ts';
import type { PaymentsDeps } from './deps.ts';
import { emitIntentEvent, intentEventStatement } from './events.ts';
import type { GatewayOutcome } from './gateway.ts';
import { GATEWAY_CLEARING, type LedgerEntry, PLATFORM_COMMISSION, allocationLedger, journalStatements, postJournal, sellerPayable } from './ledger.ts';
import {
  type AllocationFacts,
  type AllocationRow,
  type IntentRow,
  type RefundRow,
  insertTransaction,
  intentStatusUpdate,
  lockIntent,
  lockIntentCapturingAllocations,
  lockIntentWithAllocations,
  operationOutstanding,
  readRefund,
  refundStatus,
  setIntentStatus,
  transactionInsert,
} from './sql.ts';

/**
 * Applying what the gateway said, whether it came as the answer to a call or later by webhook.
 * Each applier locks the intent, acts only when the intent is in the state the outcome is about,
 * and is therefore safe to run twice: a duplicated webhook or a retried call changes nothing more.
 * With `last` (the caller's transaction runs nothing after it), a success's final write carries the
 * COMMIT (commitWith): one round trip less, and the intent's row lock let go at once.
 */

/** What an outcome is about: an operation on an intent, or a refund. */
export type OutcomeTarget = { kind: 'authorization' | 'capture' | 'void'; intentId: string } | { kind: 'refund'; refundId: string };

/**
 * Applies an outcome the gateway told later, by webhook or when asked (retrieve): both take this
 * one path, so the statuses, transactions, journals and events are the same whichever came, and the
 * one that comes second finds them there and changes nothing.
 */
export async function applyOutcome(tx: Tx, deps: PaymentsDeps, target: OutcomeTarget, outcome: GatewayOutcome, trace: Trace | null): Promise<void> {
  if (target.kind === 'refund') await applyRefund(tx, deps, target.refundId, outcome, trace);
  else await INTENT_APPLIERS[target.kind](tx, deps, target.intentId, outcome, trace);
}

const INTENT_APPLIERS = { authorization: applyAuthorization, capture: applyCapture, void: applyVoid } as const;

/** A success the gateway told for another amount or currency than ours: not applied (see refuseOtherwise). */
export class GatewayDisagreement extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GatewayDisagreement';
  }
}

/**
 * Applies a call's answer; one that disagrees (GatewayDisagreement, logged where it was found)
 * reads as no answer yet: undefined, the operation outstanding as after a timeout. The payments
 * worker then asks again, backing off, and the caller gets its documented answer (processing,
 * pending), not an error.
 */
export async function unlessGatewayDisagrees<T>(apply: () => Promise<T>): Promise<T | undefined> {
  try {
    return await apply();
  } catch (error) {
    if (error instanceof GatewayDisagreement) return undefined;
    throw error;
  }
}

/** Whether an outcome is a success naming another amount or currency than `ours` (one naming neither agrees). */
export function saysOtherAmount(outcome: GatewayOutcome, ours: { amount: number | string; currency: string }): boolean {
  if (outcome.status !== 'succeeded') return false;
  return (outcome.amount !== undefined && outcome.amount !== Number(ours.amount)) || (outcome.currency !== undefined && outcome.currency !== ours.currency);
}

/**
 * Throws GatewayDisagreement when a success the gateway told (a call's answer, a retrieve, a
 * webhook) names another amount or currency than ours: the whole payment authorized or captured,
 * or the refund. Such a success is not applied, whichever way it came (a partial authorisation is
 * never taken as the whole), and is logged as an error for a person to settle with the processor.
 * Thrown, not returned: the caller's transaction changes nothing, and the caller that sent the call
 * reads it as no answer (unlessGatewayDisagrees), so that the payments worker tries again later,
 * backing off, instead of taking it as done and sending it again at once. See also webhooks.ts.
 */
function refuseOtherwise(deps: PaymentsDeps, outcome: Extract<GatewayOutcome, { status: 'succeeded' }>, ours: { id: string; amount: number | string; currency: string }, what: string): void {
  if (!saysOtherAmount(outcome, ours)) return;
  const message = `the gateway says the ${what} succeeded for another amount or currency: not applied`;
  deps.log.error({ id: ours.id, said: { amount: outcome.amount, currency: outcome.currency }, ours: { amount: Number(ours.amount), currency: ours.currency } }, message);
  throw new GatewayDisagreement(`${message} (${what} of ${ours.id})`);
}

export async function applyAuthorization(
  tx: Tx,
  deps: PaymentsDeps,
  intentId: string,
  outcome: GatewayOutcome,
  trace: Trace | null,
  last = false,
): Promise<IntentRow | undefined> {
  const locked = await lockIntentWithAllocations(tx, intentId);
  const intent = locked?.intent;
  if (intent?.status !== 'processing') return intent;
  const now = deps.clock.now();
  switch (outcome.status) {
    case 'succeeded': {
      refuseOtherwise(deps, outcome, intent, 'authorization');
      // The status, the transaction and the event in one statement (the event's facts do not change with the status).
      const allocations = locked?.allocations ?? [];
      // With `last` (nothing follows in the transaction), sent with the COMMIT.
      const [updated] = await (last ? commitTogetherReturning<IntentRow> : runTogetherReturning<IntentRow>)(
        tx,
        intentStatusUpdate(intent.id, { status: 'authorized', gatewayReference: outcome.chargeReference ?? null }),
        [
          transactionInsert({
            intentId: intent.id,
            type: 'authorize',
            status: 'succeeded',
            amount: intent.amount,
            currency: intent.currency,
            gatewayTransactionId: outcome.transactionId,
          }),
          intentEventStatement(intent, 'payments.payment_authorized.v1', now, trace, { authorizedAt: now.toISOString() }, allocations),
        ],
      );
      return updated;
    }
    case 'declined': {
      const updated = await setIntentStatus(tx, intent.id, { status: 'failed', failureCode: outcome.code });
      await insertTransaction(tx, {
        intentId: intent.id,
        type: 'authorize',
        status: 'failed',
        amount: intent.amount,
        currency: intent.currency,
        gatewayTransactionId: outcome.transactionId ?? null,
        failureCode: outcome.code,
      });
      await emitIntentEvent(tx, updated, 'payments.payment_failed.v1', now, trace, { declineCode: outcome.code, failedAt: now.toISOString() });
      return updated;
    }
    case 'pending': {
      // The gateway may already have named the charge: keep it, so its webhook finds the intent.
      if (outcome.chargeReference && !intent.gateway_reference) {
        await tx.query('UPDATE payment_intents SET gateway_reference = $2, updated_at = now(), version = version + 1 WHERE id = $1', [
          intent.id,
          outcome.chargeReference,
        ]);
      }
      return intent;
    }
  }
}

/**
 * Whether a decline of an operation is to be recorded: only while one is outstanding (more pending
 * rows than final ones; the intent is locked). The same decline can come more than once: the
 * call's own answer, a client's retry or the worker's resend under the same key, a webhook. Each
 * recorded would count as the outcome of another attempt, and the next attempt would then look
 * answered while still at the gateway (a void or a cancellation going ahead beside a capture).
 */
async function recordsDecline(tx: Tx, intentId: string, type: 'capture' | 'void'): Promise<boolean> {
  return operationOutstanding(tx, intentId, type);
}

export async function applyCapture(
  tx: Tx,
  deps: PaymentsDeps,
  intentId: string,
  outcome: GatewayOutcome,
  trace: Trace | null,
  last = false,
): Promise<IntentRow | undefined> {
  if (outcome.status === 'succeeded') return captured(tx, deps, intentId, outcome, trace, last);
  const intent = await lockIntent(tx, intentId);
  // Still pending: nothing to apply yet. Declined: recorded, once per capture sent (see
  // recordsDecline); the authorization stays (to be voided).
  if (intent?.status === 'authorized' && outcome.status === 'declined' && (await recordsDecline(tx, intent.id, 'capture'))) {
    await insertTransaction(tx, {
      intentId: intent.id,
      type: 'capture',
      status: 'failed',
      amount: intent.amount,
      currency: intent.currency,
      gatewayTransactionId: outcome.transactionId ?? null,
      failureCode: outcome.code,
    });
  }
  return intent;
}

/** A capture the gateway made: the intent captured, its allocations, the journal and the event. */
async function captured(
  tx: Tx,
  deps: PaymentsDeps,
  intentId: string,
  outcome: Extract<GatewayOutcome, { status: 'succeeded' }>,
  trace: Trace | null,
  last: boolean,
): Promise<IntentRow | undefined> {
  if (outcome.amount !== undefined || outcome.currency !== undefined) {
    // Checked before the statement below, which marks the allocations captured as it locks.
    const current = await lockIntent(tx, intentId);
    if (current?.status === 'authorized') refuseOtherwise(deps, outcome, current, 'capture');
  }
  const locked = await lockIntentCapturingAllocations(tx, intentId);
  const intent = locked?.intent;
  if (intent?.status !== 'authorized') return intent;
  const allocations = locked?.allocations ?? [];
  const now = deps.clock.now();
  const rest = [
    transactionInsert({
      intentId: intent.id,
      type: 'capture',
      status: 'succeeded',
      amount: intent.amount,
      currency: intent.currency,
      gatewayTransactionId: outcome.transactionId,
    }),
    intentEventStatement(intent, 'payments.payment_captured.v1', now, trace, { capturedAt: now.toISOString() }, allocations),
  ].filter((s): s is Statement => s !== undefined);
  // The journal's three statements come after: w0 is the intent's update, then `rest`, then the
  // journal's accounts, its header (which its entries read) and its entries.
  const journal = journalStatements(
    {
      kind: 'payment_captured',
      referenceId: intent.id,
      currency: intent.currency,
      description: `capture of payment ${intent.id}`,
      entries: allocations.flatMap((a) => captureEntries(a, deps.commissionBps)),
    },
    `w${rest.length + 2}`,
  );
  // The status, the transaction, the event and the journal in one statement (with `last`, sent
  // with the COMMIT; the journal's balance is checked at that commit).
  const [updated] = await (last ? commitTogetherReturning<IntentRow> : runTogetherReturning<IntentRow>)(
    tx,
    intentStatusUpdate(intent.id, { status: 'captured', capturedAmount: intent.amount }),
    [...rest, ...journal],
  );
  return updated;
}

function captureEntries(allocation: AllocationFacts, commissionBps: number): LedgerEntry[] {
  const split = captureSplit(allocation.amount, commissionBps);
  return [
    { account: GATEWAY_CLEARING, debit: allocation.amount, referenceId: allocation.id },
    { account: sellerPayable(allocation.seller_id), credit: split.sellerAmount, referenceId: allocation.id },
    { account: PLATFORM_COMMISSION, credit: split.commissionAmount, referenceId: allocation.id },
  ];
}

export async function applyVoid(tx: Tx, deps: PaymentsDeps, intentId: string, outcome: GatewayOutcome, trace: Trace | null): Promise<IntentRow | undefined> {
  const intent = await lockIntent(tx, intentId);
  if (intent?.status !== 'authorized' || outcome.status === 'pending') return intent;
  if (outcome.status === 'declined') {
    if (!(await recordsDecline(tx, intent.id, 'void'))) return intent;
    await insertTransaction(tx, {
      intentId: intent.id,
      type: 'void',
      status: 'failed',
      amount: intent.amount,
      currency: intent.currency,
      gatewayTransactionId: outcome.transactionId ?? null,
      failureCode: outcome.code,
    });
    return intent;
  }
  const now = deps.clock.now();
  const updated = await setIntentStatus(tx, intent.id, { status: 'voided' });
  await insertTransaction(tx, {
    intentId: intent.id,
    type: 'void',
    status: 'succeeded',
    amount: intent.amount,
    currency: intent.currency,
    gatewayTransactionId: outcome.transactionId,
  });
  await emitIntentEvent(tx, updated, 'payments.payment_voided.v1', now, trace, { voidedAt: now.toISOString() });
  return updated;
}

/**
 * A refund's outcome. Succeeded: post the reversing journal (proportional commission, see
 * refundSplit) and raise the intent's status. Failed: give the reserved amount back to the
 * refundable totals. Only the first final outcome counts (a unique index backs this up).
 */
export async function applyRefund(tx: Tx, deps: PaymentsDeps, refundId: string, outcome: GatewayOutcome, trace: Trace | null): Promise<RefundRow | undefined> {
  const refund = await readRefund(tx, refundId);
  if (!refund || outcome.status === 'pending') return refund;
  const intent = await lockIntent(tx, refund.payment_intent_id);
  if (!intent) return refund;
  const { rows } = await tx.query<AllocationRow>(
    'SELECT * FROM payment_allocations WHERE payment_intent_id = $1 AND order_id = $2 FOR UPDATE',
    [refund.payment_intent_id, refund.order_id],
  );
  const allocation = rows[0];
  if (!allocation) throw new Error(`refund ${refund.id} has no allocation`);
  if ((await refundStatus(tx, refund.id)).status !== 'pending') return refund;
  if (outcome.status === 'succeeded') refuseOtherwise(deps, outcome, refund, 'refund');

  if (outcome.status === 'declined') {
    await insertTransaction(tx, {
      intentId: intent.id,
      refundId: refund.id,
      type: 'refund',
      status: 'failed',
      amount: refund.amount,
      currency: refund.currency,
      gatewayTransactionId: outcome.transactionId ?? null,
      failureCode: outcome.code,
    });
    const { rows: given } = await tx.query<{ left: number }>(
      `UPDATE payment_allocations SET refunded_amount = refunded_amount - $2, updated_at = now() WHERE id = $1
       RETURNING captured_amount - refunded_amount AS left`,
      [allocation.id, refund.amount],
    );
    await tx.query(
      'UPDATE payment_intents SET refunded_amount = refunded_amount - $2, updated_at = now(), version = version + 1 WHERE id = $1',
      [intent.id, refund.amount],
    );
    if (await refundRestOfCancelledOrder(tx, refund, allocation, given[0]?.left ?? 0)) deps.wakeWorker();
    // Nobody asked for this refund through a route that shows its answer: an operator must hear of it.
    if (isCancellationRefund(refund)) {
      deps.log.error(
        { orderId: refund.order_id, refundId: refund.id, amount: Number(refund.amount), currency: refund.currency, failureCode: outcome.code },
        'the gateway declined the refund of a cancelled order: the buyer is not refunded; left to an operator',
      );
    }
    return refund;
  }

  await insertTransaction(tx, {
    intentId: intent.id,
    refundId: refund.id,
    type: 'refund',
    status: 'succeeded',
    amount: refund.amount,
    currency: refund.currency,
    gatewayTransactionId: outcome.transactionId,
  });
  const before = await allocationLedger(tx, allocation.id);
  const split = refundSplit({
    allocationAmount: allocation.captured_amount,
    commissionCharged: before.commissionCharged,
    commissionReversed: before.commissionReversed,
    refundedBefore: before.refunded,
    refundAmount: refund.amount,
  });
  await postJournal(tx, {
    kind: 'refund_succeeded',
    referenceId: refund.id,
    currency: refund.currency,
    description: `refund ${refund.refund_reference} of order ${refund.order_id}`,
    entries: [
      { account: sellerPayable(allocation.seller_id), debit: split.sellerAmount, referenceId: allocation.id },
      { account: PLATFORM_COMMISSION, debit: split.commissionAmount, referenceId: allocation.id },
      { account: GATEWAY_CLEARING, credit: refund.amount, referenceId: allocation.id },
    ],
  });
  const { rows: totals } = await tx.query<{ refunded: number }>(
    `SELECT coalesce(sum(amount), 0)::bigint AS refunded FROM payment_transactions
      WHERE payment_intent_id = $1 AND type = 'refund' AND status = 'succeeded'`,
    [intent.id],
  );
  const refundedTotal = totals[0]?.refunded ?? 0;
  await setIntentStatus(tx, intent.id, { status: refundedTotal >= intent.captured_amount ? 'refunded' : 'partially_refunded' });
  const now = deps.clock.now();
  await appendEvents(
    tx,
    'payments',
    [
      {
        type: 'payments.refund_succeeded.v1',
        aggregateId: intent.id,
        aggregateType: 'payment_intent',
        data: {
          refundId: refund.id,
          intentId: intent.id,
          orderId: refund.order_id,
          sellerId: allocation.seller_id,
          amount: refund.amount,
          currency: refund.currency,
          reason: refund.reason,
          orderPaidAmount: allocation.captured_amount,
          orderRefundedAmount: before.refunded + refund.amount,
          refundedAt: now.toISOString(),
        },
      },
    ],
    trace,
    now,
  );
  return refund;
}
