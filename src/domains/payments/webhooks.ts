import { type Tx, withTransaction } from '../../platform/db/pool.ts';
import { AppError } from '../../platform/http/errors.ts';
import { isUuid, newId } from '../../platform/ids.ts';
import { wellFormedJson } from '../../platform/unicode.ts';
import { findCardData } from '../../platform/card-data.ts';
import type { Trace } from '../../platform/messaging/envelope.ts';
import { type PaymentsDeps, gatewayNamed } from './deps.ts';
import type { GatewayWebhook } from './gateway.ts';
import { applyOutcome, saysOtherAmount } from './outcomes.ts';

export interface WebhookReceipt {
  eventId: string;
  /** The same gateway event was received before: acknowledged, nothing changed. */
  duplicate: boolean;
  /** Whether the event's payment or refund was found and its effect applied (or already there). */
  applied: boolean;
}

/**
 * A gateway webhook: verified by the adapter (bad signature → 401), recorded once per gateway event
 * id, and applied in the same transaction. A duplicate is acknowledged and changes nothing. One
 * that would change nothing (see recordIfNoOp) is only recorded, by one statement.
 */
export async function receiveWebhook(
  deps: PaymentsDeps,
  gatewayName: string,
  rawBody: Buffer,
  headers: Record<string, string | string[] | undefined>,
  trace: Trace | null,
): Promise<WebhookReceipt> {
  const gateway = gatewayNamed(deps, gatewayName);
  const hook = gateway.parseWebhook({ rawBody, headers, now: deps.clock.now() });
  const cardField = findCardData(hook.payload);
  if (cardField) throw new AppError('VALIDATION_FAILED', `the webhook carries what looks like card data (${cardField}); it was not stored`);

  if (await recordIfNoOp(deps, gatewayName, hook)) return { eventId: hook.eventId, duplicate: false, applied: true };

  const receipt = await withTransaction(deps.pool, async (tx) => {
    // Recorded as processed at once: the usual case, and it commits with the effect or not at all;
    // when the payment is not found, processed_at is cleared again before the commit.
    const inserted = await tx.query<{ id: string }>(
      `INSERT INTO gateway_webhook_events (id, gateway, event_id, event_type, payload, processed_at)
       VALUES ($1, $2, $3, $4, $5, now())
       ON CONFLICT (gateway, event_id) DO NOTHING
       RETURNING id`,
      [newId(), gatewayName, hook.eventId, hook.eventType.slice(0, 100), wellFormedJson(JSON.stringify(hook.payload))],
    );
    let rowId = inserted.rows[0]?.id;
    const fresh = rowId !== undefined;
    if (rowId === undefined) {
      // Seen before. Applied then: a duplicate. Not applied (its payment was not found): try again.
      const seen = await tx.query<{ id: string; processed_at: Date | null; same: boolean }>(
        'SELECT id, processed_at, payload = $3::jsonb AS same FROM gateway_webhook_events WHERE gateway = $1 AND event_id = $2 FOR UPDATE',
        [gatewayName, hook.eventId, wellFormedJson(JSON.stringify(hook.payload))],
      );
      const row = seen.rows[0];
      if (row && !row.same) {
        // One event id, two bodies: the record would no longer say what was applied, and one kept
        // for a person to settle would be settled by this (found by a helper). Neither is applied
        // again; a person compares them with the processor.
        deps.log.error(
          { gateway: gatewayName, eventId: hook.eventId, eventType: hook.eventType, applied: row.processed_at !== null },
          'a gateway sent an event again with another body under the same id: not applied; the first body is kept',
        );
        return { eventId: hook.eventId, duplicate: true, applied: false };
      }
      if (!row || row.processed_at) return { eventId: hook.eventId, duplicate: true, applied: false };
      rowId = row.id;
    }
    const applied = await applyWebhook(tx, deps, gatewayName, hook, trace);
    if (applied !== fresh) {
      await tx.query('UPDATE gateway_webhook_events SET processed_at = CASE WHEN $2 THEN now() END WHERE id = $1', [rowId, applied]);
    }
    return { eventId: hook.eventId, duplicate: false, applied };
  });
  // An authorization learned here may have a void waiting for it.
  if (receipt.applied) deps.wakeWorker();
  return receipt;
}

/** The status an intent must have for a webhook of this kind to change it (see the appliers in outcomes.ts). */
const ACTS_ON = { authorization: 'processing', capture: 'authorized', void: 'authorized' } as const;

/**
 * The usual webhook tells what the call's answer already told: its payment is past the state the
 * webhook acts on (statuses only move forward), so applying it would change nothing. Such a webhook
 * is recorded as processed by ONE statement, without a transaction or a lock; every other one
 * (about a refund, a payment still in that state, not found by our reference, seen before) goes
 * the full way below. True when recorded here.
 */
async function recordIfNoOp(deps: PaymentsDeps, gatewayName: string, hook: GatewayWebhook): Promise<boolean> {
  const { effect, merchantReference } = hook;
  if (effect.kind !== 'authorization' && effect.kind !== 'capture' && effect.kind !== 'void') return false;
  if (!merchantReference || !isUuid(merchantReference)) return false;
  // Only when it agrees with the payment, too (see disagrees): one that does not goes the full way, which says so.
  const succeeded = effect.outcome.status === 'succeeded' ? effect.outcome : undefined;
  const { rows } = await deps.pool.query<{ id: string }>(
    `INSERT INTO gateway_webhook_events (id, gateway, event_id, event_type, payload, processed_at)
     SELECT $1, $2, $3, $4, $5, now()
      WHERE EXISTS (SELECT 1 FROM payment_intents
                     WHERE id = $6 AND gateway = $2 AND status <> $7
                       AND ($8::text IS NULL OR gateway_reference IS NULL OR gateway_reference = $8)
                       AND ($9::int8 IS NULL OR amount = $9) AND ($10::text IS NULL OR currency = $10))
     ON CONFLICT (gateway, event_id) DO NOTHING
     RETURNING id`,
    [
      newId(),
      gatewayName,
      hook.eventId,
      hook.eventType.slice(0, 100),
      wellFormedJson(JSON.stringify(hook.payload)),
      merchantReference,
      ACTS_ON[effect.kind],
      hook.chargeReference ?? null,
      succeeded?.amount ?? null,
      succeeded?.currency ?? null,
    ],
  );
  return rows.length > 0;
}

async function applyWebhook(tx: Tx, deps: PaymentsDeps, gatewayName: string, hook: GatewayWebhook, trace: Trace | null): Promise<boolean> {
  const { effect } = hook;
  if (effect.kind === 'ignored') return true;
  if (effect.kind === 'refund') {
    const { rows } = await tx.query<{ id: string; amount: string | number; currency: string; charge: string | null }>(
      `SELECT r.id, r.amount, r.currency, i.gateway_reference AS charge FROM refunds r JOIN payment_intents i ON i.id = r.payment_intent_id
        WHERE r.refund_reference = $1 AND i.gateway = $2`,
      [effect.refundReference, gatewayName],
    );
    const refund = rows[0];
    if (!refund) return false;
    if (disagrees(deps, hook, { kind: 'refund', id: refund.id, amount: Number(refund.amount), currency: refund.currency, charge: refund.charge })) return false;
    await applyOutcome(tx, deps, { kind: 'refund', refundId: refund.id }, effect.outcome, trace);
    return true;
  }
  const intent = await findIntent(tx, gatewayName, hook);
  if (!intent) return false;
  if (disagrees(deps, hook, { kind: 'payment', id: intent.id, amount: Number(intent.amount), currency: intent.currency, charge: intent.charge })) return false;
  await applyOutcome(tx, deps, { kind: effect.kind, intentId: intent.id }, effect.outcome, trace);
  return true;
}

interface Named {
  kind: 'payment' | 'refund';
  id: string;
  amount: number;
  currency: string;
  /** The processor's charge of the payment, once known. */
  charge: string | null;
}

/**
 * Whether a signed webhook contradicts what it names: another charge than the payment's, or a
 * success for another amount or currency than the payment's (authorized and captured whole) or the
 * refund's. Such a webhook is not applied (a partial authorisation or capture is never taken as the
 * whole, a payment is never marked paid for what was not taken); it is kept unprocessed and logged
 * as an error for a person to look at, and a duplicate of it is tried again.
 */
function disagrees(deps: PaymentsDeps, hook: GatewayWebhook, named: Named): boolean {
  const outcome = hook.effect.kind === 'ignored' ? undefined : hook.effect.outcome;
  const said = {
    charge: hook.chargeReference ?? null,
    amount: outcome?.status === 'succeeded' ? (outcome.amount ?? null) : null,
    currency: outcome?.status === 'succeeded' ? (outcome.currency ?? null) : null,
  };
  const wrong = (said.charge !== null && named.charge !== null && said.charge !== named.charge) || (outcome !== undefined && saysOtherAmount(outcome, named));
  if (wrong) {
    deps.log.error(
      { eventId: hook.eventId, eventType: hook.eventType, [named.kind === 'refund' ? 'refundId' : 'intentId']: named.id, webhook: said, ours: { charge: named.charge, amount: named.amount, currency: named.currency } },
      `a gateway webhook disagrees with the ${named.kind} it names: not applied`,
    );
  }
  return wrong;
}

interface FoundIntent {
  id: string;
  amount: string | number;
  currency: string;
  charge: string | null;
}

/** The intent a webhook is about: by our reference when the gateway echoes it, else by the charge. */
async function findIntent(tx: Tx, gatewayName: string, hook: GatewayWebhook): Promise<FoundIntent | undefined> {
  const columns = 'id, amount, currency, gateway_reference AS charge';
  if (hook.merchantReference && isUuid(hook.merchantReference)) {
    const { rows } = await tx.query<FoundIntent>(`SELECT ${columns} FROM payment_intents WHERE id = $1 AND gateway = $2`, [hook.merchantReference, gatewayName]);
    if (rows[0]) return rows[0];
  }
  if (!hook.chargeReference) return undefined;
  const { rows } = await tx.query<FoundIntent>(`SELECT ${columns} FROM payment_intents WHERE gateway = $1 AND gateway_reference = $2`, [
    gatewayName,
    hook.chargeReference,
  ]);
  return rows[0];
}
