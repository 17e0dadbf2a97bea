import { sendCapture } from './capture.ts';
import type { PaymentsDeps } from './deps.ts';
import { sendRefund } from './refund.ts';
import type { IntentRow } from './sql.ts';
import { operationOutstanding, outstandingSql } from './sql.ts';
import { sendVoid } from './void-payment.ts';

const BATCH_SIZE_MAX = 20;
const RETRY_DELAY_BASE_MS = 1000;
const RETRY_DELAY_MAX_MS = 5 * 60 * 1000;
/** Refunds older than this without an outcome are left to an operator (they show in the admin views). */
const REFUND_RESUBMIT_WINDOW = '30 days';

/**
 * Sends what was recorded but not (or not successfully) sent to the gateway: voids asked for while
 * an authorization was unknown or by a cancelled order, captures left without an answer (a timeout
 * or a crash: until it is known, the payment can be neither voided nor refunded), and refunds
 * without an outcome (asked by a cancelled order, or interrupted by a crash or a timeout). Every
 * send reuses the key stored with the record, so a send that already reached the gateway is
 * answered, not repeated.
 */
export class PaymentsWorker {
  readonly #retry = new Map<string, { attempts: number; nextAtMs: number }>();

  constructor(readonly deps: PaymentsDeps) {}

  async runOnce(): Promise<boolean> {
    // What waits for its retry delay is left out of the queries (and kept in the retry state), so
    // that twenty records the gateway keeps pending cannot fill every batch and hide newer ones.
    const now = this.deps.clock.now().getTime();
    const waiting = [...this.#retry].filter(([, state]) => state.nextAtMs > now).map(([id]) => id);
    const seen = new Set<string>(waiting);
    const voids = await this.deps.pool.query<IntentRow>(
      `SELECT i.* FROM payment_intents i
        WHERE i.status = 'authorized'
          AND ${outstandingSql('i.id', 'void')}
          AND NOT (i.id = ANY($2::uuid[]))
        ORDER BY i.updated_at
        LIMIT $1`,
      [BATCH_SIZE_MAX, waiting],
    );
    for (const intent of voids.rows) {
      seen.add(intent.id);
      if (!this.#due(intent.id) || !(await operationOutstanding(this.deps.pool, intent.id, 'void'))) continue;
      await this.#attempt(intent.id, async () => (await sendVoid(this.deps, intent)).status !== 'authorized');
    }
    const captures = await this.deps.pool.query<IntentRow>(
      `SELECT i.* FROM payment_intents i
        WHERE i.status = 'authorized'
          AND ${outstandingSql('i.id', 'capture')}
          AND NOT (i.id = ANY($2::uuid[]))
        ORDER BY i.updated_at
        LIMIT $1`,
      [BATCH_SIZE_MAX, waiting],
    );
    for (const intent of captures.rows) {
      seen.add(intent.id);
      if (!this.#due(intent.id) || !(await operationOutstanding(this.deps.pool, intent.id, 'capture'))) continue;
      await this.#attempt(intent.id, async () => (await sendCapture(this.deps, intent)).outcome.status !== 'pending');
    }
    const refunds = await this.deps.pool.query<{ id: string }>(
      `SELECT r.id FROM refunds r
        WHERE r.created_at > now() - interval '${REFUND_RESUBMIT_WINDOW}'
          AND NOT EXISTS (SELECT 1 FROM payment_transactions t
                           WHERE t.refund_id = r.id AND t.status IN ('succeeded', 'failed'))
          AND NOT (r.id = ANY($2::uuid[]))
        ORDER BY r.created_at
        LIMIT $1`,
      [BATCH_SIZE_MAX, waiting],
    );
    for (const { id } of refunds.rows) {
      seen.add(id);
      if (!this.#due(id)) continue;
      await this.#attempt(id, async () => (await sendRefund(this.deps, id)).status !== 'pending');
    }
    // Forget retry state of work that is done.
    for (const id of this.#retry.keys()) if (!seen.has(id)) this.#retry.delete(id);
    return false;
  }

  #due(id: string): boolean {
    const state = this.#retry.get(id);
    return !state || state.nextAtMs <= this.deps.clock.now().getTime();
  }

  async #attempt(id: string, send: () => Promise<boolean>): Promise<void> {
    let done = false;
    try {
      done = await send();
    } catch (error) {
      this.deps.log.warn({ err: error, id }, 'payments worker: sending to the gateway failed');
    }
    if (done) {
      this.#retry.delete(id);
      return;
    }
    const attempts = (this.#retry.get(id)?.attempts ?? 0) + 1;
    const delay = Math.min(RETRY_DELAY_MAX_MS, RETRY_DELAY_BASE_MS * 2 ** Math.min(attempts - 1, 20));
    this.#retry.set(id, { attempts, nextAtMs: this.deps.clock.now().getTime() + delay });
  }
}
