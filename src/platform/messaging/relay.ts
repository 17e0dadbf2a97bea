import { errorMessage } from '../error-message.ts';
import type { Logger } from 'pino';
import type { Pool, Tx } from '../db/pool.ts';
import { type DomainName, domainTables } from '../domains.ts';
import type { Metrics } from '../metrics.ts';
import { BATCH_LOCK_HELD, INDEX_ACCESS_ONLY, type RoundSettings, beginAndClaim, sqlLiteral } from './batch-lock.ts';
import type { EventEnvelope } from './envelope.ts';
import type { InboxEntry } from './inbox.ts';
import { DeliveryTimeout, type Transport } from './transport.ts';
import { BUSY, type RoundOutcome } from './worker-loop.ts';
import { inTurn } from './in-turn.ts';

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
export function relayClaim(table: string, batchSizeMax: number, heldSubscribers?: string): { claim: string; settings: RoundSettings } {
  const claim = `UPDATE ${table} o SET published_at = now()
           FROM (SELECT id FROM ${table}
                  WHERE published_at IS NULL AND ${BATCH_LOCK_HELD}
                  ORDER BY seq LIMIT ${sqlLiteral(batchSizeMax)} FOR UPDATE) batch
          WHERE o.id = batch.id
          RETURNING o.seq, o.id, o.aggregate_id, o.aggregate_type, o.event_type, o.payload, o.headers`;
  return {
    // With held deliveries, the claim also tells which subscribers have some and whether they are
    // due to be tried (one row, its event columns null, when nothing was claimed), in the same round
    // trip. It reads the small per-subscriber table, never the held rows themselves.
    claim: heldSubscribers
      ? `WITH claimed AS (${claim})
         SELECT c.*, h.held
           FROM (SELECT coalesce(json_agg(json_build_object('subscriber', subscriber, 'due', retry_at <= now())), '[]') AS held
                   FROM ${heldSubscribers} WHERE ${BATCH_LOCK_HELD}) h
           LEFT JOIN claimed c ON true`
      : claim,
    settings: { synchronous_commit: 'off', ...INDEX_ACCESS_ONLY },
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

/** How long a subscriber that failed is left alone before its held events are tried again (doubling up to the max; shared by every process). */
const HELD_RETRY_BASE_MS = 500;
const HELD_RETRY_MAX_MS = 30_000;
/** Held events given to a subscriber per round, a few batches: one that is catching up overtakes the new events. */
const HELD_BATCHES_PER_ROUND = 4;

/** What a round did for a subscriber: reached it (its backoff ends), failed to (it grows), or left it alone. */
type Attempt = 'reached' | 'failed' | 'skipped';
const ATTEMPT_CODE: Record<Attempt, number> = { reached: -1, skipped: 0, failed: 1 };

/** Errors that say a database cannot be reached (its events are held quietly); anything else is logged as an error. */
function isConnectionError(error: unknown): boolean {
  const e = error as { code?: unknown; message?: unknown };
  const code = typeof e?.code === 'string' ? e.code : '';
  if (code.startsWith('08') || code.startsWith('57P') || ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENOTFOUND', 'EPIPE'].includes(code)) return true;
  return error instanceof DeliveryTimeout || /Connection terminated|timeout exceeded when trying to connect/i.test(String(e?.message ?? ''));
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
  readonly #held: string;
  readonly #heldSubscribers: string;
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
    this.#heldSubscribers = tables.heldSubscribers;
  }

  /** Relays one batch; true when there may be more waiting, BUSY when another relay held the batch lock. */
  async runOnce(): Promise<RoundOutcome> {
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
      const { rows, locked } = await beginAndClaim<OutboxRow & { seq: number }>(client, `bazaar.relay.${this.domain}`, claim, { settings });
      if (rows.length === 0) {
        await client.query('COMMIT');
        return locked ? false : BUSY;
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
   * subscriber that cannot be reached (or does not answer within the transport's delivery timeout)
   * does not hold back the others: its share of the batch is held (the held deliveries table, in
   * this transaction) and the rows are marked published. While a subscriber has held events, its
   * newer ones are held behind them, and a round in which it is due (after a backoff shared by all
   * processes) first gives it the oldest held ones, so it gets every aggregate's events in outbox
   * order. All of it under the relay's batch lock, so rounds of several processes never interleave.
   */
  async #relayPerSubscriber(client: Tx, transport: Transport & PerSubscriberDelivery): Promise<RoundOutcome> {
    const { claim, settings } = relayClaim(this.#table, this.batchSizeMax, this.#heldSubscribers);
    const { rows: result, locked } = await beginAndClaim<ClaimedRow & { held: { subscriber: DomainName; due: boolean }[] }>(
      client,
      `bazaar.relay.${this.domain}`,
      claim,
      { settings },
    );
    const held = new Map((result[0]?.held ?? []).map((h) => [h.subscriber, h.due]));
    const rows = result.filter((r) => r.id !== null) as (ClaimedRow & { id: string })[];
    if (rows.length === 0 && held.size === 0) {
      await client.query('COMMIT');
      return locked ? false : BUSY;
    }
    rows.sort((a, b) => a.seq - b.seq);
    const fresh = transport.entriesFor(rows.map(toEnvelope));
    const seqOf = new Map(rows.map((r) => [r.id, r.seq]));
    const book = new HeldBook();
    let more = rows.length === this.batchSizeMax;
    // Subscribers are reached at once, each on its own database; only this source's own statement
    // (reading held rows) waits for the others on its connection, in turn (a pg client runs one
    // query at a time: pg queues a second with a deprecation warning, pg 9 refuses it). Every branch
    // is let finish before the round ends (allSettled): none may still use the connection after it
    // is rolled back.
    const onSource = inTurn();
    const settled = await Promise.allSettled(
      [...new Set([...fresh.keys(), ...held.keys()])].map(async (subscriber) => {
        const entries = fresh.get(subscriber) ?? [];
        const hold = () => book.hold(subscriber, [...new Set(entries.map((e) => e.event.id))], seqOf);
        if (held.has(subscriber)) {
          // Not due yet (its backoff): its new events wait behind the held ones, untried.
          if (!held.get(subscriber)) {
            if (entries.length > 0) hold();
            return;
          }
          const caughtUp = await this.#deliverHeld((text, values) => onSource(() => client.query(text, values)), transport, subscriber, book);
          if (caughtUp !== 'done') {
            if (caughtUp === 'more') more = true;
            hold();
            return;
          }
        }
        if (entries.length === 0) return;
        try {
          await transport.deliverTo(subscriber, entries);
        } catch (error) {
          this.#failed(subscriber, error, book);
          hold();
        }
      }),
    );
    const failed = settled.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
    await book.write(client, this.#held, this.#heldSubscribers);
    await client.query('COMMIT');
    if (rows.length > 0) this.metrics?.eventsPublished.inc({ domain: this.domain }, rows.length);
    return more;
  }

  /**
   * Gives a subscriber that is due its oldest held events ('done' when that was all of them, 'more'
   * when more wait, 'held' when it failed again); the book forgets the delivered ones.
   */
  async #deliverHeld(
    query: (text: string, values: unknown[]) => Promise<{ rows: unknown[] }>,
    transport: PerSubscriberDelivery,
    subscriber: DomainName,
    book: HeldBook,
  ): Promise<'done' | 'more' | 'held'> {
    const limit = this.batchSizeMax * HELD_BATCHES_PER_ROUND;
    // A held row whose outbox row is gone (pruned by a version from before held deliveries) cannot
    // be delivered: it is forgotten, loudly.
    const { rows } = (await query(
      `SELECT h.seq AS held_seq, h.event_id AS held_event_id, o.seq, o.id, o.aggregate_id, o.aggregate_type, o.event_type, o.payload, o.headers
         FROM ${this.#held} h LEFT JOIN ${this.#table} o ON o.id = h.event_id
        WHERE h.subscriber = $1
        ORDER BY h.seq
        LIMIT $2`,
      [subscriber, limit],
    )) as { rows: (ClaimedRow & { held_seq: number; held_event_id: string })[] };
    const present = rows.filter((r) => r.id !== null);
    if (present.length < rows.length) {
      this.log.error({ subscriber, events: rows.filter((r) => r.id === null).map((r) => r.held_event_id) }, 'relay: held events whose outbox rows were deleted cannot be delivered');
    }
    // Routes are taken afresh: a subscriber that no longer wants an event simply gets nothing.
    const entries = transport.entriesFor(present.map(toEnvelope)).get(subscriber) ?? [];
    try {
      if (entries.length > 0) await transport.deliverTo(subscriber, entries);
    } catch (error) {
      this.#failed(subscriber, error, book);
      return 'held';
    }
    book.attempt(subscriber, 'reached');
    book.forget(subscriber, rows.map((r) => r.held_seq));
    return rows.length === limit ? 'more' : 'done';
  }

  #failed(subscriber: DomainName, error: unknown, book: HeldBook): void {
    book.attempt(subscriber, 'failed', errorMessage(error));
    if (isConnectionError(error)) this.log.warn({ err: error, subscriber }, 'relay: a subscriber could not be reached; its events are held for it, the others go on');
    else this.log.error({ err: error, subscriber }, 'relay: delivering to a subscriber failed; its events are held for it, the others go on');
  }
}

/**
 * What a round changes in the held deliveries, written by one statement before its COMMIT (and a
 * second one when a subscriber has caught up): rows forgotten (delivered) and added (held), and per
 * subscriber its count and backoff (shared by every process through the table).
 */
class HeldBook {
  readonly #added: { subscriber: DomainName; seq: number; id: string }[] = [];
  readonly #forgotten: { subscriber: DomainName; seq: number }[] = [];
  readonly #attempts = new Map<DomainName, { attempt: Attempt; error: string | null }>();

  hold(subscriber: DomainName, eventIds: string[], seqOf: Map<string, number>): void {
    for (const id of eventIds) this.#added.push({ subscriber, seq: seqOf.get(id) as number, id });
    if (!this.#attempts.has(subscriber)) this.#attempts.set(subscriber, { attempt: 'skipped', error: null });
  }

  forget(subscriber: DomainName, seqs: number[]): void {
    for (const seq of seqs) this.#forgotten.push({ subscriber, seq });
  }

  attempt(subscriber: DomainName, attempt: Attempt, error: string | null = null): void {
    const known = this.#attempts.get(subscriber);
    // A failure of the same round wins over its earlier success (held rows delivered, new ones not).
    if (known?.attempt === 'failed' && attempt !== 'failed') return;
    this.#attempts.set(subscriber, { attempt, error: error?.slice(0, 1000) ?? null });
  }

  async write(client: Tx, held: string, subscribers: string): Promise<void> {
    if (this.#attempts.size === 0) return;
    const outcomes = [...this.#attempts];
    // The subscriber rows are read and written by this statement alone: the relay's batch lock is held.
    await client.query(
      `WITH forgotten AS (
         DELETE FROM ${held} h USING unnest($1::text[], $2::int8[]) AS f(subscriber, seq)
          WHERE h.subscriber = f.subscriber AND h.seq = f.seq
         RETURNING h.subscriber
       ), added AS (
         INSERT INTO ${held} (subscriber, seq, event_id)
         SELECT * FROM unnest($3::text[], $4::int8[], $5::uuid[]) ON CONFLICT DO NOTHING
         RETURNING subscriber
       ), delta AS (
         SELECT subscriber, sum(n)::int8 AS n
           FROM (SELECT subscriber, -1 AS n FROM forgotten UNION ALL SELECT subscriber, 1 FROM added) x
          GROUP BY subscriber
       )
       INSERT INTO ${subscribers} AS s (subscriber, held, attempts, retry_at, last_error)
       SELECT o.subscriber,
              greatest(coalesce(cur.held, 0) + coalesce(d.n, 0), 0),
              CASE o.attempt WHEN 1 THEN coalesce(cur.attempts, 0) + 1 WHEN -1 THEN 0 ELSE coalesce(cur.attempts, 0) END,
              CASE o.attempt
                WHEN 1 THEN now() + least(${HELD_RETRY_MAX_MS}, ${HELD_RETRY_BASE_MS} * 2 ^ least(coalesce(cur.attempts, 0), 16)) * interval '1 ms'
                WHEN -1 THEN now()
                ELSE coalesce(cur.retry_at, now())
              END,
              CASE WHEN o.attempt = -1 THEN NULL ELSE coalesce(o.error, cur.last_error) END
         FROM unnest($6::text[], $7::int[], $8::text[]) AS o(subscriber, attempt, error)
         LEFT JOIN delta d USING (subscriber)
         LEFT JOIN ${subscribers} cur ON cur.subscriber = o.subscriber
       ON CONFLICT (subscriber) DO UPDATE
         SET held = EXCLUDED.held, attempts = EXCLUDED.attempts, retry_at = EXCLUDED.retry_at, last_error = EXCLUDED.last_error`,
      [
        this.#forgotten.map((f) => f.subscriber),
        this.#forgotten.map((f) => f.seq),
        this.#added.map((a) => a.subscriber),
        this.#added.map((a) => a.seq),
        this.#added.map((a) => a.id),
        outcomes.map(([subscriber]) => subscriber),
        outcomes.map(([, o]) => ATTEMPT_CODE[o.attempt]),
        outcomes.map(([, o]) => o.error),
      ],
    );
    // A subscriber that has caught up has no row any more (a second statement, only then).
    const reached = outcomes.filter(([, o]) => o.attempt === 'reached').map(([subscriber]) => subscriber);
    if (reached.length > 0) await client.query(`DELETE FROM ${subscribers} WHERE held = 0 AND subscriber = ANY($1::text[])`, [reached]);
  }
}
