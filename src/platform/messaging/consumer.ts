import type { Logger } from 'pino';
import type { Clock } from '../clock.ts';
import type { Pool, Tx } from '../db/pool.ts';
import { type DomainName, domainTables } from '../domains.ts';
import { newId } from '../ids.ts';
import type { Metrics } from '../metrics.ts';
import { type EventEnvelope, withTrace } from './envelope.ts';
import { ContractViolation, appendEvents, assertContract } from './outbox.ts';
import type { Subscription } from './subscription.ts';

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

/** Exponential backoff with full jitter, capped. */
export function retryDelayMs(attempt: number, baseMs: number, maxMs: number, random = Math.random): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.min(attempt - 1, 30));
  return Math.max(1, Math.round(ceiling / 2 + (random() * ceiling) / 2));
}

/**
 * Applies the events in a domain's inbox to its consumers. For each event, in one transaction
 * (a savepoint inside the batch): run the handler, write the handler's own outbox rows, mark the
 * inbox row processed. A failing handler is retried with backoff and parked as a dead letter after
 * `attemptsMax` attempts; later events of the same aggregate wait behind an event being retried,
 * while events of other aggregates keep flowing.
 */
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

  async runOnce(): Promise<boolean> {
    if (this.#handlers.size === 0) return false;
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      const lock = await client.query<{ locked: boolean }>('SELECT pg_try_advisory_xact_lock(hashtext($1)) AS locked', [
        `bazaar.inbox.${this.domain}`,
      ]);
      if (!lock.rows[0]?.locked) {
        await client.query('COMMIT');
        return false;
      }
      const inbox = this.#tables.inbox;
      const { rows } = await client.query<InboxRow>(
        `SELECT i.consumer, i.event_id, i.aggregate_id, i.envelope, i.attempts
           FROM ${inbox} i
          WHERE i.status = 'pending' AND i.next_attempt_at <= now() AND i.consumer = ANY($2::text[])
            AND NOT EXISTS (
              SELECT 1 FROM ${inbox} e
               WHERE e.consumer = i.consumer AND e.aggregate_id = i.aggregate_id
                 AND e.status = 'pending' AND e.seq < i.seq AND e.next_attempt_at > now())
          ORDER BY i.seq
          LIMIT $1`,
        [this.options.batchSizeMax, this.consumers],
      );
      const blocked = new Set<string>();
      for (const row of rows) {
        const key = `${row.consumer}\u0000${row.aggregate_id}`;
        if (blocked.has(key)) continue;
        const ok = await this.#apply(client, row);
        if (!ok) blocked.add(key);
      }
      await client.query('COMMIT');
      return rows.length === this.options.batchSizeMax;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }

  async #apply(tx: Tx, row: InboxRow): Promise<boolean> {
    const subscription = this.#handlers.get(row.consumer);
    if (!subscription) return false;
    const event = row.envelope;
    await tx.query('SAVEPOINT apply_event');
    try {
      assertContract(event.type, event.data);
      const now = this.clock.now();
      await withTrace({ correlationId: event.correlationid, causationId: event.id }, () =>
        subscription.handle(
          {
            tx,
            now,
            emit: async (events) => {
              await appendEvents(tx, this.domain, events, now);
            },
          },
          event,
        ),
      );
      await tx.query(
        `UPDATE ${this.#tables.inbox} SET status = 'processed', processed_at = now(), attempts = attempts + 1, last_error = NULL
          WHERE consumer = $1 AND event_id = $2`,
        [row.consumer, row.event_id],
      );
      await tx.query('RELEASE SAVEPOINT apply_event');
      this.metrics?.deliveries.inc({ domain: this.domain, consumer: row.consumer });
      return true;
    } catch (error) {
      await tx.query('ROLLBACK TO SAVEPOINT apply_event');
      await this.#recordFailure(tx, row, error as Error);
      return false;
    }
  }

  async #recordFailure(tx: Tx, row: InboxRow, error: Error): Promise<void> {
    const attempts = row.attempts + 1;
    const message = (error.message || String(error)).slice(0, 2000);
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
