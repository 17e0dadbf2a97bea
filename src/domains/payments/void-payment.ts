import { type Tx, withTransaction } from '../../platform/db/pool.ts';
import { AppError, notFound } from '../../platform/http/errors.ts';
import type { Trace } from '../../platform/messaging/envelope.ts';
import { type PaymentsDeps, gatewayNamed } from './deps.ts';
import { callGateway, gatewayKey } from './gateway.ts';
import { applyVoid } from './outcomes.ts';
import { type IntentRow, insertTransaction, lockIntent, operationOutstanding } from './sql.ts';
import { type PaymentResult, resultOf } from './view.ts';

const FINISHED_WITHOUT_MONEY = new Set(['voided', 'failed', 'canceled']);
const CAPTURED = new Set(['captured', 'partially_refunded', 'refunded']);

/**
 * Records that the authorization must be released (a pending void row), unless that is already
 * recorded or nothing is held. Runs under the intent's lock (the caller locked it). Answers
 * whether a void is now waiting to be sent.
 */
export async function requestVoid(tx: Tx, intent: IntentRow): Promise<boolean> {
  if (FINISHED_WITHOUT_MONEY.has(intent.status)) return false;
  if (CAPTURED.has(intent.status)) throw new AppError('INVALID_STATE_TRANSITION', 'a captured payment is refunded, not voided');
  if (await operationOutstanding(tx, intent.id, 'capture')) {
    throw new AppError('CONFLICT', 'a capture of this payment is in flight; retry when it has an outcome');
  }
  if (!(await operationOutstanding(tx, intent.id, 'void'))) {
    await insertTransaction(tx, { intentId: intent.id, type: 'void', status: 'pending', amount: intent.amount, currency: intent.currency });
  }
  return true;
}

/**
 * Releases an authorization. Idempotent. While the authorization's outcome is unknown
 * (processing), the void is recorded and sent by the payments worker as soon as the gateway says
 * the payment was authorized; meanwhile the answer is `processing`. A captured payment is not
 * voided but refunded (refund(), per order): INVALID_STATE_TRANSITION; while a capture's outcome is
 * unknown, CONFLICT.
 */
export async function voidPayment(deps: PaymentsDeps, intentId: string, trace: Trace | null = null): Promise<PaymentResult> {
  const intent = await withTransaction(deps.pool, async (tx) => {
    const found = await lockIntent(tx, intentId);
    if (!found) throw notFound('payment intent');
    await requestVoid(tx, found);
    return found;
  });
  if (intent.status !== 'authorized') {
    if (intent.status === 'processing') deps.wakeWorker();
    return resultOf(intent);
  }
  return resultOf(await sendVoid(deps, intent, trace));
}

/** Sends the void to the gateway (same key on every attempt) and applies the answer. */
export async function sendVoid(deps: PaymentsDeps, intent: IntentRow, trace: Trace | null): Promise<IntentRow> {
  const gateway = gatewayNamed(deps, intent.gateway);
  if (!intent.gateway_reference) throw new Error(`authorized intent ${intent.id} has no gateway reference`);
  const chargeReference = intent.gateway_reference;
  const outcome = await callGateway(
    () => gateway.void({ idempotencyKey: gatewayKey('void', intent.id), chargeReference }),
    (error) => deps.log.warn({ err: error, intentId: intent.id }, 'gateway void failed without an answer'),
  );
  return (await withTransaction(deps.pool, (tx) => applyVoid(tx, deps, intent.id, outcome, trace))) ?? intent;
}
