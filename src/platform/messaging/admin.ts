import type { Pool } from '../db/pool.ts';
import { type DomainName, domainTables } from '../domains.ts';

export interface DeadLetter {
  id: string;
  domain: DomainName;
  consumer: string;
  eventId: string;
  eventType: string;
  source: string;
  attempts: number;
  lastError: string;
  parkedAt: string;
}

export interface OutboxStatus {
  domain: DomainName;
  backlog: number;
  oldestUnpublishedAgeSeconds: number;
  published: number;
  /** Published events a subscriber domain has not received yet (it could not be reached), per subscriber. */
  held: Record<string, number>;
}

/** The backlog and its age, read through the pending rows' partial index (cheap: the public /metrics asks). */
export async function outboxBacklog(domain: DomainName, pool: Pool): Promise<Omit<OutboxStatus, 'published' | 'held'>> {
  const { rows } = await pool.query<{ backlog: number; age: number | null }>(
    `SELECT count(*)::int8 AS backlog, extract(epoch FROM now() - min(created_at))::float8 AS age
       FROM ${domainTables(domain).outbox} WHERE published_at IS NULL`,
  );
  const row = rows[0];
  return { domain, backlog: row?.backlog ?? 0, oldestUnpublishedAgeSeconds: Math.max(0, row?.age ?? 0) };
}

export interface HeldFor {
  subscriber: string;
  /** Events held for it now. */
  held: number;
  /** How long it has had events held. */
  heldForSeconds: number;
  lastError: string | null;
}

/** Subscriber domains with events held for them (one small row each: cheap enough for /metrics). */
export async function heldFor(domain: DomainName, pool: Pool): Promise<HeldFor[]> {
  const { rows } = await pool.query<{ subscriber: string; held: number; age: number; last_error: string | null }>(
    `SELECT subscriber, held, extract(epoch FROM now() - since)::float8 AS age, last_error
       FROM ${domainTables(domain).heldSubscribers} ORDER BY subscriber`,
  );
  return rows.map((r) => ({ subscriber: r.subscriber, held: r.held, heldForSeconds: Math.max(0, r.age), lastError: r.last_error }));
}

/** The backlog and how many rows were published (a count of the whole kept log: for admins and the CLI). */
export async function outboxStatus(domain: DomainName, pool: Pool): Promise<OutboxStatus> {
  const backlog = await outboxBacklog(domain, pool);
  const { rows } = await pool.query<{ published: number }>(
    `SELECT count(*)::int8 AS published FROM ${domainTables(domain).outbox} WHERE published_at IS NOT NULL`,
  );
  const held = await heldFor(domain, pool);
  return { ...backlog, published: rows[0]?.published ?? 0, held: Object.fromEntries(held.map((h) => [h.subscriber, h.held])) };
}

/** Where a list of parked events continues: when the last one was parked (UTC, to the microsecond) and its id. */
export interface ParkedKey {
  parkedAt: string;
  id: string;
}

/**
 * A domain's parked events, newest first (the parked index serves the order), after `after` when
 * given. Each carries its key (`parkedKey`: parked_at as fixed-width UTC text to the microsecond,
 * which a millisecond Date would cut), to continue the list from.
 */
export async function listDeadLetters(domain: DomainName, pool: Pool, limit: number, after?: ParkedKey): Promise<(DeadLetter & { parkedKey: string })[]> {
  const table = domainTables(domain).deadLetters;
  const columns = `id, consumer, event_id, event_type, source, attempts, last_error, parked_at,
    to_char(parked_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS parked_key`;
  const { rows } = after
    ? await pool.query(
        `SELECT ${columns} FROM ${table}
          WHERE replayed_at IS NULL AND (parked_at, id) < ($1::timestamptz, $2::uuid)
          ORDER BY parked_at DESC, id DESC LIMIT $3`,
        [after.parkedAt, after.id, limit],
      )
    : await pool.query(`SELECT ${columns} FROM ${table} WHERE replayed_at IS NULL ORDER BY parked_at DESC, id DESC LIMIT $1`, [limit]);
  return rows.map((r) => ({
    id: r.id,
    domain,
    consumer: r.consumer,
    eventId: r.event_id,
    eventType: r.event_type,
    source: r.source,
    attempts: r.attempts,
    lastError: r.last_error,
    parkedAt: (r.parked_at as Date).toISOString(),
    parkedKey: r.parked_key,
  }));
}

/** Sends a parked event back for delivery: its inbox row is pending again with a fresh attempt count. */
export async function replayDeadLetter(domain: DomainName, pool: Pool, id: string): Promise<boolean> {
  const t = domainTables(domain);
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const parked = await client.query<{ consumer: string; event_id: string }>(
      `UPDATE ${t.deadLetters} SET replayed_at = now() WHERE id = $1 AND replayed_at IS NULL RETURNING consumer, event_id`,
      [id],
    );
    const row = parked.rows[0];
    if (!row) {
      await client.query('ROLLBACK');
      return false;
    }
    await client.query(
      `UPDATE ${t.inbox} SET status = 'pending', attempts = 0, next_attempt_at = now(), last_error = NULL
        WHERE consumer = $1 AND event_id = $2 AND status = 'dead'`,
      [row.consumer, row.event_id],
    );
    await client.query('COMMIT');
    return true;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}

/**
 * Retention: deletes published outbox rows older than `olderThanDays`, except those of `keepTypes`.
 * Unpublished rows are never deleted, nor rows held for a subscriber that has not received them yet;
 * the outbox trigger allows this only inside a transaction that says so.
 */
export async function pruneOutbox(domain: DomainName, pool: Pool, olderThanDays: number, keepTypes: readonly string[] = []): Promise<number> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query("SET LOCAL bazaar.outbox_prune = 'on'");
    // The run is recorded with the highest seq it deleted, overall and per event type: a replay of
    // this log (a read model's rebuild, ADR 0012) learns from it that the log no longer holds every
    // event of the types it reads.
    const t = domainTables(domain);
    const result = await client.query<{ deleted: string }>(
      `WITH deleted AS (
         DELETE FROM ${t.outbox} o
          WHERE published_at IS NOT NULL AND published_at < now() - make_interval(days => $1)
            AND NOT (event_type = ANY($2::text[]))
            AND NOT EXISTS (SELECT 1 FROM ${t.heldDeliveries} h WHERE h.event_id = o.id)
         RETURNING seq, event_type
       ), run AS (
         INSERT INTO ${t.outboxPrunes} (up_to_seq, rows_deleted, older_than, event_types)
         SELECT max(seq), count(*), now() - make_interval(days => $1),
                (SELECT jsonb_object_agg(k.event_type, k.up_to) FROM (SELECT event_type, max(seq) AS up_to FROM deleted GROUP BY event_type) k)
           FROM deleted HAVING count(*) > 0
       )
       SELECT count(*)::int8 AS deleted FROM deleted`,
      [olderThanDays, keepTypes],
    );
    await client.query('COMMIT');
    return Number(result.rows[0]?.deleted ?? 0);
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}
