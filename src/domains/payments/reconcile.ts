import { withTransaction } from '../../platform/db/pool.ts';
import { type PaymentsDeps, gatewayNamed } from './deps.ts';
import { gatewayKey } from './gateway.ts';
import { applyOutcome } from './outcomes.ts';
import { refundAtGateway, sendRefund } from './refund.ts';
import type { IntentRow } from './sql.ts';

/**
 * Reconciliation: asking the gateway (retrieve) for an outcome it has not told. An authorization
 * whose call timed out, or that the gateway answered pending, learns its outcome only by webhook,
 * and a refund the gateway settles later replays its pending answer to every re-send: a webhook
 * lost for good would leave them without an outcome forever (and a void asked for meanwhile never
 * sent). The payments worker asks about those older than the reconcile age. What the gateway says
 * is applied by the webhook's own path (applyOutcome), so a webhook that comes after all changes
 * nothing. Each function answers whether the outcome is known now.
 */

/** What asking about an authorization found: its outcome (applied), still pending, or a request the gateway never received. */
export type AuthorizationAsked = 'known' | 'pending' | 'not_received';

export async function reconcileAuthorization(deps: PaymentsDeps, intent: IntentRow): Promise<AuthorizationAsked> {
  const gateway = gatewayNamed(deps, intent.gateway);
  const found = await gateway.retrieve({ operation: 'authorization', idempotencyKey: gatewayKey('authorize', intent.id), merchantReference: intent.id });
  if (found.status === 'not_found') {
    // Nothing is held on the card, but failing the intent here could hide a hold: the request may
    // still arrive (checkout retries it under the same key while it waits), and an authorization
    // applied to a failed intent is never voided. Payments keep no token to send it again.
    deps.log.warn({ intentId: intent.id }, 'reconciliation: the gateway never received this authorization; it stays processing');
    return 'not_received';
  }
  if (found.status === 'pending') return 'pending';
  await withTransaction(deps.pool, (tx) => applyOutcome(tx, deps, { kind: 'authorization', intentId: intent.id }, found, null));
  return 'known';
}

/** A refund the gateway never received is sent now, under its key. */
export async function reconcileRefund(deps: PaymentsDeps, refundId: string): Promise<boolean> {
  const { refundRow, gateway, chargeReference, idempotencyKey } = await refundAtGateway(deps, refundId);
  const found = await gateway.retrieve({ operation: 'refund', idempotencyKey, chargeReference, refundReference: refundRow.refund_reference });
  if (found.status === 'not_found') return (await sendRefund(deps, refundId, null)).status !== 'pending';
  if (found.status === 'pending') return false;
  await withTransaction(deps.pool, (tx) => applyOutcome(tx, deps, { kind: 'refund', refundId }, found, null));
  return true;
}
