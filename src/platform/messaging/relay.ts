import type { Logger } from 'pino';
import type { Pool } from '../db/pool.ts';
import { type DomainName, domainTables } from '../domains.ts';
import type { Metrics } from '../metrics.ts';
import { BATCH_LOCK_HELD, INDEX_ACCESS_ONLY, beginAndClaim, sqlLiteral } from './batch-lock.ts';
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
 * A relay round's claim and the settings of its transaction. The claim locks and marks the oldest
 * pending rows, walking the pending index in seq order and stopping at the limit. The planner is
 * told so (no bitmap, no sequential scan): its estimate of the pending rows is always tiny, and with
 * it the plan PostgreSQL made once per connection (generic plans, ADR 0008) was a bitmap scan of
 * every entry the pending index holds, sorted, and a hash join over the whole outbox. A bitmap scan
 * never marks dead index entries, so each claim visited every row published since the last VACUUM
 * (137 dead entries and 45 heap pages for one live row, measured in the checkout benchmark); an
 * index scan marks them as it passes and the next claim skips them.
 */
export function relayClaim(table: string, batchSizeMax: number): { claim: string; settings: string[] } {
  return {
    claim: `UPDATE ${table} o SET published_at = now()
           FROM (SELECT id FROM ${table}
                  WHERE published_at IS NULL AND ${BATCH_LOCK_HELD}
                  ORDER BY seq LIMIT ${sqlLiteral(batchSizeMax)} FOR UPDATE) batch
          WHERE o.id = batch.id
          RETURNING o.seq, o.id, o.aggregate_id, o.aggregate_type, o.event_type, o.payload, o.headers`,
    settings: ['SET LOCAL synchronous_commit = off', ...INDEX_ACCESS_ONLY],
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
      // The durable hand-off is the transport's (the subscriber's inbox commit, or the broker's ack).
      // Marking rows published need not wait for a disk flush: if a server crash loses the mark, the
      // rows are sent again and the receivers drop them as duplicates. One flush saved per batch.
      // BEGIN, the lock and the claim in one round trip: rows are locked and marked by one statement,
      // which claims nothing while another relay of this domain holds the batch lock. The mark
      // commits only if the transport took the batch.
      const { claim, settings } = relayClaim(this.#table, this.batchSizeMax);
      const rows = await beginAndClaim<OutboxRow & { seq: number }>(client, `bazaar.relay.${this.domain}`, claim, { settings });
      if (rows.length === 0) {
        await client.query('COMMIT');
        return false;
      }
      rows.sort((a, b) => a.seq - b.seq);
      await this.transport.publish(this.domain, rows.map(toEnvelope));
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
