import type { Metrics } from '../metrics.ts';
import { errorMessage } from '../error-message.ts';
import type { Logger } from 'pino';
import type { Pool, Queryable, Tx } from '../db/pool.ts';
import { DOMAIN_NAMES, type DomainName, domainTables, isDomainName } from '../domains.ts';
import { newId } from '../ids.ts';
import { type EventEnvelope, traceOf } from './envelope.ts';
import { ContractViolation, assertContract } from './outbox.ts';
import { toEnvelope } from './relay.ts';
import type { HandlerContext, ReplayContext, Subscription } from './subscription.ts';

/**
 * A replay of the source domains' event logs (their outboxes, kept after publication) into ONE
 * consumer: how a read model is rebuilt (ADR 0012). In order:
 *
 * 1. A session advisory lock per consumer on the subscriber's database (one replay at a time, in
 *    any process; it goes with the connection if the process dies).
 * 2. One transaction in the subscriber's database, under the domain's consumer batch lock (so no
 *    consumer round is half way through this consumer's events): the consumer is paused (a
 *    `running` row in `<domain>_consumer_replays`, which consumer rounds skip), its inbox records
 *    and dead letters are deleted and the read model starts over, empty (`readModel.reset`; the
 *    search domain's models are built beside their live tables, swapped in at step 5).
 * 3. Per source, one REPEATABLE READ snapshot of its outbox, taken after that commit: every event of
 *    the consumer's types in it, published or not, in `seq` order, is applied in batches, each in
 *    one transaction that also records the event in the inbox as processed. Within one aggregate
 *    the rows a snapshot holds are a prefix of its events (they are written after the aggregate is
 *    locked), so every event left out is newer, per aggregate, than every event replayed.
 * 4. Meanwhile the transports keep delivering into the inbox. A live event that the replay also
 *    applies is recorded once (the inbox key); one that the snapshot does not hold waits, pending,
 *    and is applied by the consumer after the replay, in arrival order: no loss, no double
 *    application, and no event applied before an older event of its aggregate.
 * 5. The consumer is resumed (`done`) in the transaction that lets the read model say it is live.
 *
 * A handler that fails during a replay has its event parked at once as a dead letter (what the
 * consumer does after its retries), and the replay goes on. A replay that fails (a database lost,
 * the process stopping) leaves the consumer paused, nothing lost: its events wait in the inbox
 * until a replay of it is done.
 */

export type ReplayStatusName = 'running' | 'done' | 'failed' | 'superseded';

export interface ReplaySourceProgress {
  source: DomainName;
  /** Outbox seq of the last event read from this source; null before any. */
  lastSeq: number | null;
  events: number;
  /** The highest seq a retention run deleted from this log; null when none was ever pruned. */
  prunedUpToSeq: number | null;
  done: boolean;
}

export interface ReplayStatus {
  id: string;
  consumer: string;
  status: ReplayStatusName;
  sources: ReplaySourceProgress[];
  eventsApplied: number;
  eventsParked: number;
  lastError: string | null;
  startedAt: string;
  finishedAt: string | null;
}

export type ReplayRefusal = 'unknown_consumer' | 'not_replayable' | 'running' | 'log_incomplete';

export class ReplayRefused extends Error {
  constructor(
    readonly reason: ReplayRefusal,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'ReplayRefused';
  }
}

export interface ReplayOptions {
  batchSizeMax: number;
  /** Replay even though older events of a source were pruned (the read model then lacks what they said). */
  allowIncompleteLog?: boolean;
  /** Called after each batch has committed (tests use it to send live events in the middle). */
  afterBatch?: (progress: ReplaySourceProgress) => Promise<void>;
}

/** The source domains whose events a consumer takes (an event type's family is its source domain), in a fixed order. */
export function replaySources(subscription: Subscription): DomainName[] {
  const families = new Set(subscription.events.map((type) => type.split('.')[0] ?? ''));
  for (const family of families) {
    if (!isDomainName(family)) throw new ReplayRefused('not_replayable', `events of ${family} have no source domain whose log could be replayed`);
  }
  return DOMAIN_NAMES.filter((d) => families.has(d));
}

interface ReplayRow {
  id: string;
  consumer: string;
  status: ReplayStatusName;
  sources: ReplaySourceProgress[];
  events_applied: string | number;
  events_parked: string | number;
  last_error: string | null;
  started_at: Date;
  finished_at: Date | null;
  /** Recorded running, its lock held by nobody: the process that ran it is gone. */
  abandoned: boolean;
}

/** What a replay left running by a process that is gone reads as. */
export const ABANDONED_REPLAY_ERROR = 'the process that ran this rebuild stopped before it finished; a new rebuild starts it over';

function statusOf(row: ReplayRow): ReplayStatus {
  return {
    id: row.id,
    consumer: row.consumer,
    // Its row still says running; nothing runs it, and nothing will.
    status: row.abandoned ? 'failed' : row.status,
    sources: row.sources,
    eventsApplied: Number(row.events_applied),
    eventsParked: Number(row.events_parked),
    lastError: row.abandoned ? (row.last_error ?? ABANDONED_REPLAY_ERROR) : row.last_error,
    startedAt: row.started_at.toISOString(),
    finishedAt: row.finished_at?.toISOString() ?? null,
  };
}

const REPLAY_LOCK_PREFIX = 'bazaar.replay.';
const lockName = (consumer: string) => `${REPLAY_LOCK_PREFIX}${consumer}`;
/** The replay lock's name prefix as an SQL literal, for a statement that looks for the lock of a consumer it reads. */
const REPLAY_LOCK_PREFIX_SQL = `'${REPLAY_LOCK_PREFIX}'`;

/**
 * Whether a replay's lock is held, for a statement on the subscriber's database that reads the
 * replay's consumer as `consumer` (an SQL expression). A running replay holds its lock (a session
 * advisory lock on hashtext of its name, a bigint key split into classid and objid) for as long as
 * its connection lives.
 */
export function replayLockHeld(consumer: string): string {
  return `EXISTS (SELECT 1 FROM pg_locks l, LATERAL (SELECT hashtext(${REPLAY_LOCK_PREFIX_SQL} || ${consumer})::bigint AS k) x
                   WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
                     AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
                     AND l.classid = ((x.k >> 32) & 4294967295)::oid AND l.objid = (x.k & 4294967295)::oid)`;
}

const REPLAY_COLUMNS = `id, consumer, status, sources, events_applied, events_parked, last_error, started_at, finished_at,
  (status = 'running' AND NOT ${replayLockHeld('consumer')}) AS abandoned`;

/** One replay of a consumer, by id; undefined when the subscriber's database has none. */
export async function readReplay(pool: Queryable, domain: DomainName, consumer: string, id: string): Promise<ReplayStatus | undefined> {
  const { rows } = await pool.query<ReplayRow>(`SELECT ${REPLAY_COLUMNS} FROM ${domainTables(domain).consumerReplays} WHERE id = $1 AND consumer = $2`, [id, consumer]);
  return rows[0] ? statusOf(rows[0]) : undefined;
}

/** A consumer's latest replay, if it ever had one. */
export async function latestReplay(pool: Queryable, domain: DomainName, consumer: string): Promise<ReplayStatus | undefined> {
  const { rows } = await pool.query<ReplayRow>(
    `SELECT ${REPLAY_COLUMNS} FROM ${domainTables(domain).consumerReplays} WHERE consumer = $1 ORDER BY started_at DESC, id DESC LIMIT 1`,
    [consumer],
  );
  return rows[0] ? statusOf(rows[0]) : undefined;
}

export class ConsumerReplay {
  readonly id = newId();
  readonly domain: DomainName;
  readonly sources: DomainName[];
  readonly #tables;
  readonly #progress: ReplaySourceProgress[];
  #conn: Tx | undefined;
  #applied = 0;
  #parked = 0;

  constructor(
    readonly pools: ReadonlyMap<DomainName, Pool>,
    readonly subscription: Subscription,
    readonly options: ReplayOptions,
    readonly clock: { now(): Date },
    readonly log: Logger,
    /** Counts the events a replay parks with every other dead letter (an alert on it sees them). */
    readonly metrics?: Metrics,
  ) {
    if (!subscription.readModel) throw new ReplayRefused('not_replayable', `consumer ${subscription.consumer} keeps no read model that can be rebuilt`);
    this.domain = subscription.domain;
    this.sources = replaySources(subscription);
    this.#tables = domainTables(this.domain);
    this.#progress = this.sources.map((source) => ({ source, lastSeq: null, events: 0, prunedUpToSeq: null, done: false }));
  }

  #pool(domain: DomainName): Pool {
    const pool = this.pools.get(domain);
    if (!pool) throw new Error(`no database pool for ${domain}`);
    return pool;
  }

  #context(tx: Tx): ReplayContext {
    return { tx, replayId: this.id, sources: this.sources };
  }

  /**
   * Takes the consumer's replay lock, checks the logs, pauses the consumer and empties its inbox
   * records and read model. Refuses (ReplayRefused) while another replay of it runs, or when a log
   * was pruned and `allowIncompleteLog` is not set. Then `run` does the rest.
   */
  async begin(): Promise<ReplayStatus> {
    const { consumer } = this.subscription;
    // Everything here runs on this one connection: requests that each held one of the pool's
    // connections while waiting for another could take them all and wait for ever (found with five
    // rebuild requests at once on a pool of five).
    const conn = await this.#pool(this.domain).connect();
    let locked = false;
    let recorded = false;
    try {
      const lock = await conn.query<{ locked: boolean }>('SELECT pg_try_advisory_lock(hashtext($1)) AS locked', [lockName(consumer)]);
      locked = lock.rows[0]?.locked === true;
      if (!locked) {
        const running = await latestReplay(conn, this.domain, consumer);
        throw new ReplayRefused('running', `a rebuild of ${consumer} is running`, { rebuildId: running?.id });
      }
      for (const p of this.#progress) p.prunedUpToSeq = await this.#prunedUpTo(p.source === this.domain ? conn : this.#pool(p.source), p.source);
      const pruned = this.#progress.filter((p) => p.prunedUpToSeq !== null);
      if (pruned.length > 0 && !this.options.allowIncompleteLog) {
        throw new ReplayRefused('log_incomplete', `older events of ${pruned.map((p) => p.source).join(', ')} were pruned: a rebuild would lack what they said`, {
          prunedUpToSeq: Object.fromEntries(pruned.map((p) => [p.source, p.prunedUpToSeq])),
        });
      }
      const t = this.#tables;
      await conn.query('BEGIN');
      try {
        // Waits for a consumer round of this domain in flight, and holds the next ones off.
        await conn.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`bazaar.inbox.${this.domain}`]);
        await conn.query(
          `UPDATE ${t.consumerReplays} SET status = 'superseded', last_error = $2, finished_at = now(), updated_at = now()
            WHERE consumer = $1 AND status IN ('running', 'failed')`,
          [consumer, `superseded by rebuild ${this.id}`],
        );
        await conn.query(`INSERT INTO ${t.consumerReplays} (id, consumer, status, sources) VALUES ($1, $2, 'running', $3)`, [
          this.id,
          consumer,
          JSON.stringify(this.#progress),
        ]);
        await conn.query(`DELETE FROM ${t.deadLetters} WHERE consumer = $1`, [consumer]);
        await conn.query(`DELETE FROM ${t.inbox} WHERE consumer = $1`, [consumer]);
        await this.subscription.readModel?.reset(this.#context(conn));
        await conn.query('COMMIT');
        recorded = true;
      } catch (error) {
        await conn.query('ROLLBACK').catch(() => undefined);
        throw error;
      }
      const status = await readReplay(conn, this.domain, consumer, this.id);
      if (!status) throw new Error(`replay ${this.id} was not recorded`);
      this.#conn = conn;
      this.log.info({ consumer, replayId: this.id, sources: this.sources }, 'replay of the event log started');
      return status;
    } catch (error) {
      // Recorded as running (the consumer paused, its copies emptied) but not going to run: failed,
      // as /ready then says, until a rebuild is done.
      if (recorded) await this.#recordFailure(conn, errorMessage(error)).catch(() => undefined);
      if (locked) await conn.query('SELECT pg_advisory_unlock(hashtext($1))', [lockName(consumer)]).catch(() => undefined);
      conn.release(error instanceof ReplayRefused ? undefined : (error as Error));
      throw error;
    }
  }

  /**
   * The highest seq of an event of the consumer's types of `source` that a retention run deleted;
   * null when none was. A run recorded without its types (before platform migration 0009) counts
   * as having deleted every type.
   */
  async #prunedUpTo(pool: Pool | Tx, source: DomainName): Promise<number | null> {
    const { rows } = await pool.query<{ up_to: string | null }>(
      `SELECT max(CASE WHEN p.event_types IS NULL THEN p.up_to_seq
                       ELSE (SELECT max((p.event_types ->> t)::int8) FROM unnest($1::text[]) AS t) END) AS up_to
         FROM ${domainTables(source).outboxPrunes} p`,
      [this.#typesOf(source)],
    );
    return rows[0]?.up_to == null ? null : Number(rows[0].up_to);
  }

  #typesOf(source: DomainName): string[] {
    return this.subscription.events.filter((type) => type.startsWith(`${source}.`));
  }

  /** Replays every source's log and resumes the consumer; a failure is recorded (the consumer stays paused), never thrown. */
  async run(signal: AbortSignal): Promise<ReplayStatusName> {
    const conn = this.#conn;
    if (!conn) throw new Error('begin() first');
    const { consumer } = this.subscription;
    let brokenConnection: Error | undefined;
    try {
      for (const progress of this.#progress) await this.#replaySource(conn, progress, signal);
      await conn.query('BEGIN');
      try {
        await conn.query(
          `UPDATE ${this.#tables.consumerReplays} SET status = 'done', sources = $2, finished_at = now(), updated_at = now() WHERE id = $1 AND status = 'running'`,
          [this.id, JSON.stringify(this.#progress)],
        );
        await this.subscription.readModel?.finish?.(this.#context(conn));
        await conn.query('COMMIT');
      } catch (error) {
        await conn.query('ROLLBACK').catch(() => undefined);
        throw error;
      }
      this.log.info({ consumer, replayId: this.id, applied: this.#applied, parked: this.#parked }, 'replay of the event log done; the consumer is live again');
      return 'done';
    } catch (error) {
      const message = errorMessage(error);
      this.log.error({ err: error, consumer, replayId: this.id }, 'replay of the event log failed; the consumer stays paused until a rebuild is done');
      await this.#recordFailure(conn, message).catch((e: Error) => {
        brokenConnection = e;
      });
      return 'failed';
    } finally {
      await conn.query('SELECT pg_advisory_unlock(hashtext($1))', [lockName(consumer)]).catch((e: Error) => {
        brokenConnection ??= e;
      });
      conn.release(brokenConnection);
      this.#conn = undefined;
    }
  }

  /** Records this replay failed (its consumer stays paused, /ready names it) unless it ended otherwise. */
  async #recordFailure(conn: Tx, message: string): Promise<void> {
    await conn.query(
      `UPDATE ${this.#tables.consumerReplays} SET status = 'failed', last_error = $2, sources = $3, finished_at = now(), updated_at = now()
        WHERE id = $1 AND status = 'running'`,
      [this.id, message.slice(0, 2000), JSON.stringify(this.#progress)],
    );
  }

  /** Reads one source's log from a snapshot taken now, in seq order, and applies it batch by batch. */
  async #replaySource(conn: Tx, progress: ReplaySourceProgress, signal: AbortSignal): Promise<void> {
    const source = progress.source;
    const types = this.#typesOf(source);
    const outbox = domainTables(source).outbox;
    const reader = await this.#pool(source).connect();
    try {
      await reader.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      // The first statement fixes the snapshot: after the commit that paused the consumer.
      progress.prunedUpToSeq = await this.#prunedUpTo(reader, source);
      // begin() found this log whole; a prune since (while earlier sources were replayed) would leave
      // the model without what the deleted events said, reported done all the same.
      if (progress.prunedUpToSeq !== null && !this.options.allowIncompleteLog) {
        throw new Error(`older events of ${source} were pruned while the rebuild ran: the read model would lack what they said; rebuild it again`);
      }
      for (;;) {
        if (signal.aborted) throw new Error('the replay was interrupted: the process is stopping');
        const { rows } = await reader.query<Parameters<typeof toEnvelope>[0] & { seq: string }>(
          `SELECT seq, id, aggregate_id, aggregate_type, event_type, payload, headers FROM ${outbox}
            WHERE seq > $1 AND event_type = ANY($2::text[]) ORDER BY seq LIMIT $3`,
          [progress.lastSeq ?? 0, types, this.options.batchSizeMax],
        );
        if (rows.length === 0) break;
        const last = rows[rows.length - 1] as (typeof rows)[number];
        progress.lastSeq = Number(last.seq);
        progress.events += rows.length;
        await this.#applyBatch(conn, progress, rows.map(toEnvelope));
        await this.options.afterBatch?.({ ...progress });
      }
      await reader.query('COMMIT');
      progress.done = true;
    } catch (error) {
      await reader.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      reader.release();
    }
  }

  /**
   * Applies a batch of the log in one transaction of the subscriber: the events are recorded in the
   * inbox as processed (a live delivery of the same event, pending or still to come, is then a
   * duplicate), the handler runs, and the replay's progress is noted.
   */
  async #applyBatch(conn: Tx, progress: ReplaySourceProgress, events: EventEnvelope[]): Promise<void> {
    const { consumer } = this.subscription;
    await conn.query('BEGIN');
    try {
      await this.subscription.readModel?.scope?.(this.#context(conn));
      const { rows } = await conn.query<{ event_id: string }>(
        `INSERT INTO ${this.#tables.inbox} AS i (consumer, event_id, source, aggregate_id, event_type, envelope, status, attempts, processed_at)
         SELECT $1, e.id, e.source, e.aggregate_id, e.event_type, e.envelope, 'processed', 1, now()
           FROM unnest($2::uuid[], $3::text[], $4::uuid[], $5::text[], $6::jsonb[]) AS e(id, source, aggregate_id, event_type, envelope)
         ON CONFLICT (consumer, event_id) DO UPDATE SET status = 'processed', processed_at = now(), attempts = i.attempts + 1, last_error = NULL
          WHERE i.status = 'pending'
         RETURNING event_id`,
        [
          consumer,
          events.map((e) => e.id),
          events.map((e) => e.source),
          events.map((e) => e.subject),
          events.map((e) => e.type),
          events.map((e) => JSON.stringify(e)),
        ],
      );
      const fresh = new Set(rows.map((r) => r.event_id));
      const toApply = events.filter((e) => fresh.has(e.id));
      const parked = await this.#apply(conn, toApply);
      this.#applied += toApply.length - parked;
      this.#parked += parked;
      await conn.query(
        `UPDATE ${this.#tables.consumerReplays}
            SET sources = $2, events_applied = $3, events_parked = $4, updated_at = now() WHERE id = $1`,
        [this.id, JSON.stringify(this.#progress), this.#applied, this.#parked],
      );
      const last = events[events.length - 1];
      if (last && progress.lastSeq !== null) await this.subscription.readModel?.progress?.(this.#context(conn), progress.source, progress.lastSeq, last.id);
      await conn.query('COMMIT');
    } catch (error) {
      await conn.query('ROLLBACK').catch(() => undefined);
      throw error;
    }
  }

  /** Runs the handlers over the events (folded when the consumer can); returns how many were parked. */
  async #apply(tx: Tx, events: EventEnvelope[]): Promise<number> {
    if (events.length === 0) return 0;
    const { subscription } = this;
    await tx.query('SAVEPOINT replay_batch');
    try {
      for (const e of events) assertContract(e.type, e.data);
      if (subscription.handleBatch && events.length > 1) await subscription.handleBatch(this.#handlerContext(tx, events[0] as EventEnvelope), events);
      else for (const e of events) await subscription.handle(this.#handlerContext(tx, e), e);
      await tx.query('RELEASE SAVEPOINT replay_batch');
      return 0;
    } catch {
      // Which event failed is not known: one savepoint per event, where it shows.
      await tx.query('ROLLBACK TO SAVEPOINT replay_batch');
    }
    let parked = 0;
    for (const e of events) {
      await tx.query('SAVEPOINT replay_event');
      try {
        assertContract(e.type, e.data);
        await subscription.handle(this.#handlerContext(tx, e), e);
        await tx.query('RELEASE SAVEPOINT replay_event');
      } catch (error) {
        await tx.query('ROLLBACK TO SAVEPOINT replay_event');
        await this.#park(tx, e, error);
        parked++;
      }
    }
    return parked;
  }

  #handlerContext(tx: Tx, event: EventEnvelope): HandlerContext {
    return {
      tx,
      now: this.clock.now(),
      trace: traceOf(event),
      // A replayed consumer's events were written when it first handled them: writing them again
      // would send every downstream consumer duplicates with new ids.
      emit: async () => {
        throw new Error(`consumer ${this.subscription.consumer} emits events: it cannot be replayed`);
      },
    };
  }

  async #park(tx: Tx, event: EventEnvelope, error: unknown): Promise<void> {
    const { consumer } = this.subscription;
    const message = errorMessage(error);
    await tx.query(`UPDATE ${this.#tables.inbox} SET status = 'dead', last_error = $3 WHERE consumer = $1 AND event_id = $2`, [consumer, event.id, message]);
    await tx.query(
      `INSERT INTO ${this.#tables.deadLetters} (id, consumer, event_id, event_type, source, envelope, attempts, last_error)
       VALUES ($1, $2, $3, $4, $5, $6, 1, $7)`,
      [newId(), consumer, event.id, event.type, event.source, JSON.stringify(event), message],
    );
    this.metrics?.deadLetters.inc({ domain: this.domain, consumer });
    this.log.error(
      { consumer, eventId: event.id, error: message, contract: error instanceof ContractViolation },
      'replay: event parked as a dead letter (its handler failed); the replay goes on',
    );
  }
}
