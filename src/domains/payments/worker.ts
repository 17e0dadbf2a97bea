import { sendCapture } from './capture.ts';
import { releaseAfterCaptures } from './handlers.ts';
import type { PaymentsDeps } from './deps.ts';
import { reconcileAuthorization, reconcileRefund } from './reconcile.ts';
import { sendRefund } from './refund.ts';
import type { IntentRow } from './sql.ts';
import { operationOutstanding, outstandingSql } from './sql.ts';
import { sendVoid } from './void-payment.ts';

const BATCH_SIZE_MAX = 20;
const RETRY_DELAY_BASE_MS = 1000;
const RETRY_DELAY_MAX_MS = 5 * 60 * 1000;
/**
 * An authorization the gateway said it never received is asked about again only this often: it
 * may still arrive (checkout re-sends it while it waits), but after a gateway outage there can be
 * many, and each would otherwise be asked every five minutes for thirty days.
 */
const NOT_RECEIVED_RETRY_MS = 60 * 60 * 1000;
/** Authorizations and refunds older than this without an outcome are left to an operator (they show in the admin views). */
const GIVE_UP_WINDOW = '30 days';
/**
 * How often the worker looks for cancellations that waited for a capture's outcome: such captures
 * take seconds at least (a gateway timing out), and the worker is woken after every webhook.
 */
const CANCELLED_CAPTURES_EVERY_MS = 1000;

export interface PaymentsWorkerOptions {
  /** How long an authorization or refund may stay without an outcome before the gateway is asked for it (retrieve). */
  reconcileAfterMs: number;
}

/**
 * Sends what was recorded but not (or not successfully) sent to the gateway: voids asked for while
 * an authorization was unknown or by a cancelled order, captures left without an answer (a timeout
 * or a crash: until it is known, the payment can be neither voided nor refunded), and refunds
 * without an outcome (asked by a cancelled order, or interrupted by a crash or a timeout). Every
 * send reuses the key stored with the record, so a send that already reached the gateway is
 * answered, not repeated. A re-send cannot tell every outcome: an authorization is never re-sent
 * (payments keep no card token) and a refund the gateway settles later replays its pending answer;
 * those still without an outcome after reconcileAfterMs are asked for instead (reconcile.ts), the
 * authorizations first, so that a void waiting for one is sent in the same pass.
 */
export class PaymentsWorker {
  readonly #retry = new Map<string, { attempts: number; nextAtMs: number }>();
  /** Authorizations the gateway said it never received, and when to ask about them again. */
  readonly #notReceived = new Map<string, number>();
  /** When (performance.now) cancellations waiting for a capture were last looked for. */
  #cancelledCapturesAtMs = Number.NEGATIVE_INFINITY;

  constructor(
    readonly deps: PaymentsDeps,
    readonly options: PaymentsWorkerOptions,
  ) {}

  /** `everything`: also what is looked for only every so often (a pass asked for by a test or an operator). */
  async runOnce(everything = false): Promise<boolean> {
    // What waits for its retry delay is left out of the queries (and kept in the retry state), so
    // that twenty records the gateway keeps pending cannot fill every batch and hide newer ones.
    const now = this.deps.clock.now().getTime();
    const waiting = [...this.#retry].filter(([, state]) => state.nextAtMs > now).map(([id]) => id);
    const seen = new Set<string>(waiting);
    for (const [id, atMs] of this.#notReceived) if (atMs <= now) this.#notReceived.delete(id);
    // Unchanged since before this (the injected clock's now, less the age) and still without an
    // outcome: ask. (A processing intent changes only when the gateway names its charge.)
    const overdue = new Date(now - this.options.reconcileAfterMs);
    const unknown = await this.deps.pool.query<IntentRow>(
      `SELECT i.* FROM payment_intents i
        WHERE i.status = 'processing'
          AND i.updated_at <= $3 AND i.updated_at > now() - interval '${GIVE_UP_WINDOW}'
          AND NOT (i.id = ANY($2::uuid[]))
        ORDER BY i.updated_at
        LIMIT $1`,
      [BATCH_SIZE_MAX, [...waiting, ...this.#notReceived.keys()], overdue],
    );
    for (const intent of unknown.rows) {
      seen.add(intent.id);
      if (!this.#due(intent.id)) continue;
      let notReceived = false;
      await this.#attempt(intent.id, async () => {
        const asked = await reconcileAuthorization(this.deps, intent);
        notReceived = asked === 'not_received';
        return asked === 'known' || notReceived;
      });
      // Asked again in an hour, in a wait of its own: a void or capture of the intent, once the
      // authorization arrives after all, is not held back by it.
      if (notReceived) this.#notReceived.set(intent.id, now + NOT_RECEIVED_RETRY_MS);
    }
    // Before the voids and refunds: what it asks for is sent in this same round.
    const at = performance.now();
    if (everything || at - this.#cancelledCapturesAtMs >= CANCELLED_CAPTURES_EVERY_MS) {
      this.#cancelledCapturesAtMs = at;
      await releaseAfterCaptures(this.deps.pool, this.deps.log, BATCH_SIZE_MAX).catch((error: unknown) =>
        this.deps.log.warn({ err: error }, 'payments worker: settling cancellations that waited for a capture failed'),
      );
    }
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
      await this.#attempt(intent.id, async () => (await sendVoid(this.deps, intent, null)).status !== 'authorized');
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
      await this.#attempt(intent.id, async () => (await sendCapture(this.deps, intent, null)).outcome.status !== 'pending');
    }
    const refunds = await this.deps.pool.query<{ id: string; overdue: boolean }>(
      `SELECT r.id, r.created_at <= $3 AS overdue FROM refunds r
        WHERE r.created_at > now() - interval '${GIVE_UP_WINDOW}'
          AND NOT EXISTS (SELECT 1 FROM payment_transactions t
                           WHERE t.refund_id = r.id AND t.status IN ('succeeded', 'failed'))
          AND NOT (r.id = ANY($2::uuid[]))
        ORDER BY r.created_at
        LIMIT $1`,
      [BATCH_SIZE_MAX, waiting, overdue],
    );
    for (const { id, overdue: ask } of refunds.rows) {
      seen.add(id);
      if (!this.#due(id)) continue;
      await this.#attempt(id, async () => (ask ? reconcileRefund(this.deps, id) : (await sendRefund(this.deps, id, null)).status !== 'pending'));
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
