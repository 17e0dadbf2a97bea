import { errorMessage } from '../error-message.ts';
import type { Logger } from 'pino';
import type { Clock } from '../clock.ts';
import { type Pool, type Tx, commitWith } from '../db/pool.ts';
import { type DomainName, domainTables } from '../domains.ts';
import { newId } from '../ids.ts';
import type { Metrics } from '../metrics.ts';
import { BATCH_LOCK_HELD, INDEX_ACCESS_ONLY, beginAndClaim, sqlLiteral } from './batch-lock.ts';
import { type EventEnvelope, traceOf } from './envelope.ts';
import { ContractViolation, appendEvents, assertContract } from './outbox.ts';
import type { Subscription } from './subscription.ts';
import { BUSY, type RoundOutcome } from './worker-loop.ts';

export interface ConsumerOptions {
  batchSizeMax: number;
  attemptsMax: number;
  retryDelayBaseMs: number;
  retryDelayMaxMs: number;
}

interface InboxRow {
  consumer: string;
  event_id: string;
  aggregate_id: string;
  envelope: EventEnvelope;
  attempts: number;
}

function aggregateKey(row: InboxRow): string {
  return `${row.consumer}\u0000${row.aggregate_id}`;
}

/** Exponential backoff with full jitter, capped. */
export function retryDelayMs(attempt: number, baseMs: number, maxMs: number, random = Math.random): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.min(attempt - 1, 30));
  return Math.max(1, Math.round(ceiling / 2 + (random() * ceiling) / 2));
}

/**
 * Applies the events in a domain's inbox to its consumers. For each event, in one transaction
 * (the batch's, with savepoints so that a failing event undoes only its own work): run the handler,
 * write the handler's own outbox rows, mark the inbox row processed. A failing handler is retried
 * with backoff and parked as a dead letter after `attemptsMax` attempts; later events of the same
 * aggregate wait behind an event being retried, while events of other aggregates keep flowing.
 */
/** Settings of a consumer round's transaction (see INDEX_ACCESS_ONLY). */
export const CONSUMER_ROUND_SETTINGS = INDEX_ACCESS_ONLY;

/** Marks a batch's events processed: $1 the consumers, $2 the event ids. */
export function markProcessed(inbox: string): string {
  return `UPDATE ${inbox} SET status = 'processed', processed_at = now(), attempts = attempts + 1, last_error = NULL
            WHERE (consumer, event_id) IN (SELECT * FROM unnest($1::text[], $2::uuid[]))`;
}

export class InboxConsumer {
  readonly #handlers = new Map<string, Subscription>();
  readonly #tables;

  constructor(
    readonly domain: DomainName,
    readonly pool: Pool,
    subscriptions: readonly Subscription[],
    readonly options: ConsumerOptions,
    readonly clock: Clock,
    readonly metrics: Metrics | undefined,
    readonly log: Logger,
  ) {
    for (const s of subscriptions) {
      if (s.domain !== domain) continue;
      if (this.#handlers.has(s.consumer)) throw new Error(`consumer ${s.consumer} is registered twice`);
      this.#handlers.set(s.consumer, s);
    }
    this.#tables = domainTables(domain);
  }

  get consumers(): string[] {
    return [...this.#handlers.keys()];
  }

  /** Applies one batch; true when there may be more waiting, BUSY when another worker held the batch lock. */
  async runOnce(): Promise<RoundOutcome> {
    if (this.#handlers.size === 0) return false;
    const client = await this.pool.connect();
    try {
      const inbox = this.#tables.inbox;
      const limit = sqlLiteral(this.options.batchSizeMax);
      const names = `ARRAY[${this.consumers.map(sqlLiteral).join(', ')}]::text[]`;
      // BEGIN, the batch lock, the batch and the batch's savepoint in one round trip; the batch is
      // empty while another worker of this domain holds the lock. Rolling back to the savepoint undoes
      // the handlers' work only (the select changes nothing).
      // Shaped so that its cost follows the batch, not the backlog or the history, whatever the
      // planner's statistics (an inbox filled since the last ANALYZE is the usual case): per consumer,
      // pending rows are read in seq order from the (consumer, seq) index and the scan stops at the
      // limit; an event is skipped while an earlier event of its aggregate waits for a retry, which is
      // one ordered probe of the (consumer, aggregate_id, seq) index. The round's statements (the
      // handlers' and the batch's mark too) read through indexes only: a plan made on a nearly empty
      // inbox marked each batch by reading the whole inbox. A consumer whose event log is being
      // replayed into it (a read model's rebuild, replay.ts) is skipped: its live events wait.
      const { rows, locked } = await beginAndClaim<InboxRow>(
        client,
        `bazaar.inbox.${this.domain}`,
        `SELECT x.consumer, x.event_id, x.aggregate_id, x.envelope, x.attempts
           FROM (SELECT u.name FROM unnest(${names}) AS u(name)
                  WHERE NOT EXISTS (SELECT 1 FROM ${this.#tables.consumerReplays} r WHERE r.consumer = u.name AND r.status IN ('running', 'failed'))) c
           CROSS JOIN LATERAL (
             SELECT i.seq, i.consumer, i.event_id, i.aggregate_id, i.envelope, i.attempts
               FROM ${inbox} i
              WHERE i.consumer = c.name AND i.status = 'pending' AND i.next_attempt_at <= now()
                AND (SELECT e.seq FROM ${inbox} e
                      WHERE e.consumer = i.consumer AND e.aggregate_id = i.aggregate_id AND e.status = 'pending'
                        AND e.seq < i.seq AND e.next_attempt_at > now()
                      ORDER BY e.consumer, e.aggregate_id, e.seq
                      LIMIT 1) IS NULL
              ORDER BY i.seq
              LIMIT ${limit}) x
          WHERE ${BATCH_LOCK_HELD}
          ORDER BY x.seq
          LIMIT ${limit}`,
        { settings: CONSUMER_ROUND_SETTINGS, after: ['SAVEPOINT apply_batch'] },
      );
      if (rows.length === 0) {
        await client.query('COMMIT');
        return locked ? false : BUSY;
      }
      const applied = await this.#applyBatch(client, rows);
      if (applied.length > 0) {
        // One statement marks the whole batch processed; it commits with the effects or not at all,
        // and goes with the COMMIT in one round trip.
        await commitWith(
          client,
          markProcessed(inbox),
          [applied.map((r) => r.consumer), applied.map((r) => r.event_id)],
        );
      } else await client.query('COMMIT');
      for (const row of applied) this.metrics?.deliveries.inc({ domain: this.domain, consumer: row.consumer });
      for (const consumer of new Set(applied.map((r) => r.consumer))) {
        // The round is committed: a hook that throws is logged, and fails nothing.
        try {
          this.#handlers.get(consumer)?.afterCommit?.();
        } catch (error) {
          this.log.error({ err: error, consumer }, 'a consumer hook after commit failed');
        }
      }
      return rows.length === this.options.batchSizeMax;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }

  /**
   * Applies a batch under one savepoint (`apply_batch`, opened with the transaction): on a database
   * a few hundred microseconds away, round trips per event are what bounds a consumer, so the common
   * case pays none per event. When a handler fails, the batch's work is rolled back to that
   * savepoint, the failure is recorded for that event alone (its later events wait), and the rest is
   * applied again, one savepoint per event. A handler may therefore run more than once per attempt;
   * its effects live only in `ctx.tx`, so only the last run counts.
   */
  async #applyBatch(tx: Tx, rows: InboxRow[]): Promise<InboxRow[]> {
    // Events of a consumer that folds batches go to it together (in seq order); consumers are
    // independent of each other, so their events need no interleaving.
    const folded = new Map<string, InboxRow[]>();
    for (const row of rows) {
      if (!this.#handlers.get(row.consumer)?.handleBatch) continue;
      const group = folded.get(row.consumer) ?? [];
      group.push(row);
      folded.set(row.consumer, group);
    }
    for (let k = 0; k < rows.length; k++) {
      const row = rows[k]!;
      const group = folded.get(row.consumer);
      if (group && group.length > 1) {
        if (group[0] !== row) continue;
        try {
          await this.#handleGroup(tx, group);
          continue;
        } catch {
          // Which event failed is not known: start over one event per savepoint, where it shows.
          await tx.query('ROLLBACK TO SAVEPOINT apply_batch');
          return this.#applyOneByOne(tx, rows, new Set());
        }
      }
      try {
        await this.#handle(tx, row);
      } catch (error) {
        await tx.query('ROLLBACK TO SAVEPOINT apply_batch');
        await this.#recordFailure(tx, row, error);
        return this.#applyOneByOne(tx, [...rows.slice(0, k), ...rows.slice(k + 1)], new Set([aggregateKey(row)]));
      }
    }
    return rows;
  }

  /** Applies each event in a savepoint of its own, so a failure undoes only that event's work. */
  async #applyOneByOne(tx: Tx, rows: InboxRow[], blocked: Set<string>): Promise<InboxRow[]> {
    const applied: InboxRow[] = [];
    let savepointOpen = false;
    for (const row of rows) {
      if (blocked.has(aggregateKey(row))) continue;
      // The previous event's savepoint is released in the round trip that opens this one.
      await tx.query(savepointOpen ? 'RELEASE SAVEPOINT apply_event; SAVEPOINT apply_event' : 'SAVEPOINT apply_event');
      savepointOpen = true;
      try {
        await this.#handle(tx, row);
        applied.push(row);
      } catch (error) {
        await tx.query('ROLLBACK TO SAVEPOINT apply_event');
        await this.#recordFailure(tx, row, error);
        blocked.add(aggregateKey(row));
      }
    }
    return applied;
  }

  /** Checks the payload against its contract and runs the consumer's handler in `tx`. */
  async #handle(tx: Tx, row: InboxRow): Promise<void> {
    const subscription = this.#handlers.get(row.consumer);
    // The batch query selects only this instance's consumers.
    if (!subscription) throw new Error(`no handler for consumer ${row.consumer}`);
    const event = row.envelope;
    assertContract(event.type, event.data);
    const now = this.clock.now();
    const trace = traceOf(event);
    await subscription.handle(
      {
        tx,
        now,
        trace,
        emit: async (events) => {
          await appendEvents(tx, this.domain, events, trace, now);
        },
      },
      event,
    );
  }

  /** Runs a consumer's batch handler over its events of this batch, each checked against its contract. */
  async #handleGroup(tx: Tx, rows: readonly InboxRow[]): Promise<void> {
    const subscription = this.#handlers.get((rows[0] as InboxRow).consumer);
    if (!subscription?.handleBatch) throw new Error('no batch handler');
    for (const row of rows) assertContract(row.envelope.type, row.envelope.data);
    const now = this.clock.now();
    const first = (rows[0] as InboxRow).envelope;
    const trace = traceOf(first);
    await subscription.handleBatch(
      {
        tx,
        now,
        trace,
        emit: async (events) => {
          await appendEvents(tx, this.domain, events, trace, now);
        },
      },
      rows.map((r) => r.envelope),
    );
  }

  async #recordFailure(tx: Tx, row: InboxRow, error: unknown): Promise<void> {
    const attempts = row.attempts + 1;
    const message = errorMessage(error);
    // A payload that breaks its contract will never succeed: park it at once.
    const park = attempts >= this.options.attemptsMax || error instanceof ContractViolation;
    const labels = { domain: this.domain, consumer: row.consumer };
    if (park) {
      await tx.query(
        `UPDATE ${this.#tables.inbox} SET status = 'dead', attempts = $3, last_error = $4 WHERE consumer = $1 AND event_id = $2`,
        [row.consumer, row.event_id, attempts, message],
      );
      await tx.query(
        `INSERT INTO ${this.#tables.deadLetters} (id, consumer, event_id, event_type, source, envelope, attempts, last_error)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
        [newId(), row.consumer, row.event_id, row.envelope.type, row.envelope.source, JSON.stringify(row.envelope), attempts, message],
      );
      this.metrics?.deadLetters.inc(labels);
      this.log.error({ consumer: row.consumer, eventId: row.event_id, attempts, error: message }, 'event parked as a dead letter');
      return;
    }
    const delay = retryDelayMs(attempts, this.options.retryDelayBaseMs, this.options.retryDelayMaxMs);
    await tx.query(
      `UPDATE ${this.#tables.inbox}
          SET attempts = $3, last_error = $4, next_attempt_at = now() + make_interval(secs => $5::double precision / 1000)
        WHERE consumer = $1 AND event_id = $2`,
      [row.consumer, row.event_id, attempts, message, delay],
    );
    this.metrics?.retries.inc(labels);
    this.log.warn({ consumer: row.consumer, eventId: row.event_id, attempts, delayMs: delay, error: message }, 'event handler failed; will retry');
  }
}
