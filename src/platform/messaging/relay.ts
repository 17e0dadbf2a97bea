import type { Logger } from 'pino';
import type { Pool } from '../db/pool.ts';
import { type DomainName, domainTables } from '../domains.ts';
import type { Metrics } from '../metrics.ts';
import type { EventEnvelope } from './envelope.ts';
import type { Transport } from './transport.ts';

interface OutboxRow {
  id: string;
  aggregate_id: string;
  aggregate_type: string;
  event_type: string;
  payload: unknown;
  headers: { source: string; time: string; correlationid: string; causationid: string | null };
}

export function toEnvelope(row: OutboxRow): EventEnvelope {
  return {
    specversion: '1.0',
    id: row.id,
    type: row.event_type,
    source: row.headers.source,
    subject: row.aggregate_id,
    time: row.headers.time,
    datacontenttype: 'application/json',
    correlationid: row.headers.correlationid,
    causationid: row.headers.causationid,
    aggregatetype: row.aggregate_type,
    data: row.payload,
  };
}

/**
 * Moves a domain's outbox rows to the transport, in outbox order, and marks them published in the
 * same transaction that locked them. A crash before the commit re-sends the batch; receivers
 * deduplicate by event id, so nothing is lost and nothing is applied twice.
 *
 * One batch is in flight per domain at a time (a transaction-scoped advisory lock), so any number
 * of relay workers or processes may run: the others skip the round, and per-aggregate order holds.
 */
export class OutboxRelay {
  readonly #table: string;
  constructor(
    readonly domain: DomainName,
    readonly pool: Pool,
    readonly transport: Transport,
    readonly batchSizeMax: number,
    readonly metrics: Metrics | undefined,
    readonly log: Logger,
  ) {
    this.#table = domainTables(domain).outbox;
  }

  /** Relays one batch; returns true when there may be more waiting. */
  async runOnce(): Promise<boolean> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      const lock = await client.query<{ locked: boolean }>(
        'SELECT pg_try_advisory_xact_lock(hashtext($1)) AS locked',
        [`bazaar.relay.${this.domain}`],
      );
      if (!lock.rows[0]?.locked) {
        await client.query('COMMIT');
        return false;
      }
      const { rows } = await client.query<OutboxRow>(
        `SELECT id, aggregate_id, aggregate_type, event_type, payload, headers
           FROM ${this.#table}
          WHERE published_at IS NULL
          ORDER BY seq
          LIMIT $1
          FOR UPDATE`,
        [this.batchSizeMax],
      );
      if (rows.length === 0) {
        await client.query('COMMIT');
        return false;
      }
      await this.transport.publish(this.domain, rows.map(toEnvelope));
      await client.query(`UPDATE ${this.#table} SET published_at = now() WHERE id = ANY($1::uuid[])`, [rows.map((r) => r.id)]);
      await client.query('COMMIT');
      this.metrics?.eventsPublished.inc({ domain: this.domain }, rows.length);
      return rows.length === this.batchSizeMax;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }
}
