import type { Logger } from 'pino';
import type { Pool, Tx } from '../db/pool.ts';
import { type DomainName, domainTables } from '../domains.ts';
import type { Metrics } from '../metrics.ts';
import { BATCH_LOCK_HELD, INDEX_ACCESS_ONLY, beginAndClaim, sqlLiteral } from './batch-lock.ts';
import type { EventEnvelope } from './envelope.ts';
import type { InboxEntry } from './inbox.ts';
import type { Transport } from './transport.ts';

type ClaimedRow = OutboxRow & { seq: number };

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
export function relayClaim(table: string, batchSizeMax: number, heldDeliveries?: string): { claim: string; settings: string[] } {
  const claim = `UPDATE ${table} o SET published_at = now()
           FROM (SELECT id FROM ${table}
                  WHERE published_at IS NULL AND ${BATCH_LOCK_HELD}
                  ORDER BY seq LIMIT ${sqlLiteral(batchSizeMax)} FOR UPDATE) batch
          WHERE o.id = batch.id
          RETURNING o.seq, o.id, o.aggregate_id, o.aggregate_type, o.event_type, o.payload, o.headers`;
  return {
    // With held deliveries, the claim also tells which subscribers have some (one row, its event
    // columns null, when nothing was claimed), in the same round trip.
    claim: heldDeliveries
      ? `WITH claimed AS (${claim})
         SELECT c.*, h.held
           FROM (SELECT coalesce(array_agg(DISTINCT subscriber), '{}') AS held FROM ${heldDeliveries} WHERE ${BATCH_LOCK_HELD}) h
           LEFT JOIN claimed c ON true`
      : claim,
    settings: ['SET LOCAL synchronous_commit = off', ...INDEX_ACCESS_ONLY],
  };
}

/**
 * A transport that puts events into each subscriber domain's inbox itself (the in-process one), so
 * that the relay can tell one subscriber's failure from another's and hold a subscriber's events
 * back without holding back the others.
 */
export interface PerSubscriberDelivery {
  /** The inbox entries each subscriber domain gets from these events. */
  entriesFor(events: EventEnvelope[]): Map<DomainName, InboxEntry[]>;
  /** Puts entries into one subscriber domain's inbox; resolves once they are committed there. */
  deliverTo(subscriber: DomainName, entries: InboxEntry[]): Promise<void>;
}

function deliversPerSubscriber(transport: Transport): transport is Transport & PerSubscriberDelivery {
  return typeof (transport as Partial<PerSubscriberDelivery>).deliverTo === 'function';
}

/** How long a subscriber that failed is left alone before its held events are tried again (doubling up to the max). */
const HELD_RETRY_BASE_MS = 500;
const HELD_RETRY_MAX_MS = 30_000;

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
  readonly #held: string;
  /** Subscribers that failed, and when their held events are tried again. */
  readonly #retry = new Map<DomainName, { attempts: number; atMs: number }>();
  constructor(
    readonly domain: DomainName,
    readonly pool: Pool,
    readonly transport: Transport,
    readonly batchSizeMax: number,
    readonly metrics: Metrics | undefined,
    readonly log: Logger,
  ) {
    const tables = domainTables(domain);
    this.#table = tables.outbox;
    this.#held = tables.heldDeliveries;
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
      if (deliversPerSubscriber(this.transport)) return await this.#relayPerSubscriber(client, this.transport);
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

  /**
   * A round of the in-process transport, which reaches each subscriber's database itself. A
   * subscriber that cannot be reached does not hold back the others: its share of the batch is
   * held (the held deliveries table, in this transaction) and the rows are marked published. While
   * a subscriber has held events, its newer ones are held behind them and the oldest are tried
   * first (after a backoff once it failed), so it gets every aggregate's events in outbox order.
   * All of it under the relay's batch lock, so rounds of several processes never interleave.
   */
  async #relayPerSubscriber(client: Tx, transport: Transport & PerSubscriberDelivery): Promise<boolean> {
    const { claim, settings } = relayClaim(this.#table, this.batchSizeMax, this.#held);
    const result = await beginAndClaim<ClaimedRow & { held: string[] }>(client, `bazaar.relay.${this.domain}`, claim, { settings });
    const held = new Set((result[0]?.held ?? []) as DomainName[]);
    const rows = result.filter((r) => r.id !== null) as (ClaimedRow & { id: string })[];
    if (rows.length === 0 && held.size === 0) {
      await client.query('COMMIT');
      return false;
    }
    rows.sort((a, b) => a.seq - b.seq);
    const fresh = transport.entriesFor(rows.map(toEnvelope));
    const seqOf = new Map(rows.map((r) => [r.id, r.seq]));
    const toHold: { subscriber: DomainName; entries: InboxEntry[] }[] = [];
    let more = rows.length === this.batchSizeMax;
    // Subscribers are reached at once, each on its own database; only this source's own
    // statements (reading and forgetting held rows) wait for each other on its connection. Every
    // branch is let finish before the round ends (allSettled): none may still use the connection
    // after it is rolled back and released.
    const settled = await Promise.allSettled(
      [...new Set([...fresh.keys(), ...held])].map(async (subscriber) => {
        const entries = fresh.get(subscriber) ?? [];
        if (held.has(subscriber)) {
          const caughtUp = await this.#deliverHeld(client, transport, subscriber);
          if (caughtUp === 'more') more = true;
          if (caughtUp !== 'done') {
            toHold.push({ subscriber, entries });
            return;
          }
        }
        if (entries.length === 0) return;
        try {
          await transport.deliverTo(subscriber, entries);
        } catch (error) {
          this.#failed(subscriber, error);
          toHold.push({ subscriber, entries });
        }
      }),
    );
    const failed = settled.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
    const holding = toHold.flatMap(({ subscriber, entries }) => [...new Set(entries.map((e) => e.event.id))].map((id) => ({ subscriber, id })));
    if (holding.length > 0) {
      await client.query(
        `INSERT INTO ${this.#held} (subscriber, seq, event_id)
         SELECT * FROM unnest($1::text[], $2::int8[], $3::uuid[]) ON CONFLICT DO NOTHING`,
        [holding.map((h) => h.subscriber), holding.map((h) => seqOf.get(h.id)), holding.map((h) => h.id)],
      );
    }
    await client.query('COMMIT');
    if (rows.length > 0) this.metrics?.eventsPublished.inc({ domain: this.domain }, rows.length);
    return more;
  }

  /**
   * Delivers the oldest held events of a subscriber and forgets them once its inbox has them:
   * 'done' when none is left, 'more' when a full batch went and more wait, 'held' when the
   * subscriber is still failing (or left alone for its backoff).
   */
  async #deliverHeld(client: Tx, transport: PerSubscriberDelivery, subscriber: DomainName): Promise<'done' | 'more' | 'held'> {
    const retry = this.#retry.get(subscriber);
    if (retry && retry.atMs > Date.now()) return 'held';
    const { rows } = await client.query<ClaimedRow & { id: string }>(
      `SELECT o.seq, o.id, o.aggregate_id, o.aggregate_type, o.event_type, o.payload, o.headers
         FROM ${this.#held} h JOIN ${this.#table} o ON o.id = h.event_id
        WHERE h.subscriber = $1
        ORDER BY h.seq
        LIMIT $2`,
      [subscriber, this.batchSizeMax],
    );
    // Routes are taken afresh: a subscriber that no longer wants an event simply gets nothing.
    const entries = transport.entriesFor(rows.map(toEnvelope)).get(subscriber) ?? [];
    try {
      if (entries.length > 0) await transport.deliverTo(subscriber, entries);
    } catch (error) {
      this.#failed(subscriber, error);
      return 'held';
    }
    if (this.#retry.delete(subscriber)) this.log.info({ subscriber }, 'relay: subscriber reachable again, delivering what was held for it');
    if (rows.length > 0) {
      await client.query(`DELETE FROM ${this.#held} WHERE subscriber = $1 AND seq = ANY($2::int8[])`, [subscriber, rows.map((r) => r.seq)]);
    }
    return rows.length === this.batchSizeMax ? 'more' : 'done';
  }

  #failed(subscriber: DomainName, error: unknown): void {
    const attempts = (this.#retry.get(subscriber)?.attempts ?? 0) + 1;
    const delayMs = Math.min(HELD_RETRY_MAX_MS, HELD_RETRY_BASE_MS * 2 ** Math.min(attempts - 1, 16));
    this.#retry.set(subscriber, { attempts, atMs: Date.now() + delayMs });
    if (attempts === 1 || attempts % 10 === 0) {
      this.log.warn({ err: error, subscriber, attempts }, 'relay: a subscriber could not be reached; its events are held for it, the others go on');
    }
  }
}
