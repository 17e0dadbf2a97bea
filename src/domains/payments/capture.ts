import { withTransaction } from '../../platform/db/pool.ts';
import { AppError, notFound } from '../../platform/http/errors.ts';
import type { Trace } from '../../platform/messaging/envelope.ts';
import { type PaymentsDeps, gatewayNamed } from './deps.ts';
import { type GatewayOutcome, callGateway, gatewayKey } from './gateway.ts';
import { applyCapture, unlessGatewayDisagrees } from './outcomes.ts';
import { type IntentRow, lockIntentForCapture } from './sql.ts';
import { type PaymentResult, resultOf } from './view.ts';

const CAPTURED = new Set(['captured', 'partially_refunded', 'refunded']);

/**
 * Captures the whole authorized amount and posts the capture journal. Idempotent: a captured
 * intent answers its state; the gateway gets the same key on every attempt, so asking again after
 * an unknown outcome never captures twice. What the gateway did is the answer, not an error:
 * captured, processing (no answer: outcome unknown, ask again), or still authorized with the
 * gateway's declineCode (refused for good: the authorization is to be voided).
 */
export async function capture(deps: PaymentsDeps, intentId: string, trace: Trace | null = null): Promise<PaymentResult> {
  // Lock first, then decide: one statement that waits on the row lock keeps the snapshot it took
  // before, and would not see a void recorded meanwhile (it would capture a cancelled order). The
  // decision runs in a second statement, whose snapshot is taken once the lock is held.
  const found = await withTransaction(deps.pool, async (tx) => {
    await tx.query('SELECT 1 FROM payment_intents WHERE id = $1 FOR UPDATE', [intentId]);
    return lockIntentForCapture(tx, intentId);
  });
  if (!found) throw notFound('payment intent');
  if (CAPTURED.has(found.status)) return resultOf(found);
  if (found.status === 'processing') {
    throw new AppError('INVALID_STATE_TRANSITION', 'the authorization outcome is not known yet; capture once the payment is authorized');
  }
  if (found.status !== 'authorized') throw new AppError('INVALID_STATE_TRANSITION', `a ${found.status} payment cannot be captured`);
  if (found.void_outstanding) {
    throw new AppError('INVALID_STATE_TRANSITION', 'a void of this payment was requested; it cannot be captured');
  }
  const { after, outcome } = await sendCapture(deps, found, trace);
  return captureResult(after, outcome);
}

/** The answer to a capture call: the intent's state, or what the gateway said when it did not capture. */
export function captureResult(after: IntentRow, outcome: GatewayOutcome): PaymentResult {
  if (after.status !== 'authorized') return resultOf(after);
  if (outcome.status === 'declined') return { intentId: after.id, status: 'authorized', declineCode: outcome.code };
  return { intentId: after.id, status: 'processing' };
}

/** Sends the capture to the gateway (same key on every attempt, by any caller) and applies the answer. */
export async function sendCapture(deps: PaymentsDeps, intent: IntentRow, trace: Trace | null): Promise<{ after: IntentRow; outcome: GatewayOutcome }> {
  const gateway = gatewayNamed(deps, intent.gateway);
  if (!intent.gateway_reference) throw new Error(`authorized intent ${intent.id} has no gateway reference`);
  const chargeReference = intent.gateway_reference;
  const outcome = await callGateway(
    () => gateway.capture({ idempotencyKey: gatewayKey('capture', intent.id), chargeReference, amount: intent.amount, currency: intent.currency }),
    (error) => deps.log.warn({ err: error, intentId: intent.id }, 'gateway capture failed without an answer'),
  );
  const applied = await unlessGatewayDisagrees(async () => ({ after: await withTransaction(deps.pool, (tx) => applyCapture(tx, deps, intent.id, outcome, trace, true)) }));
  // Disagreeing, the answer is as good as none: the capture stays outstanding.
  if (!applied) return { after: intent, outcome: { status: 'pending' } };
  return { after: applied.after ?? intent, outcome };
}
