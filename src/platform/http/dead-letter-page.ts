import type { Pool } from '../db/pool.ts';
import { type DomainName, domainTables } from '../domains.ts';
import { isUuid } from '../ids.ts';
import type { DeadLetter } from '../messaging/admin.ts';
import { decodeCursor, encodeCursor, isCursorInstantMicroseconds } from './cursor.ts';
import { AppError } from './errors.ts';

/** The sort key of a parked event: when it was parked, to the microsecond, then its id. */
interface Key {
  t: string;
  i: string;
}

interface Row extends DeadLetter {
  key: Key;
}

const COLUMNS = `id, consumer, event_id, event_type, source, attempts, last_error, parked_at,
  to_char(parked_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS parked_key`;

function keyOf(cursor: string | undefined): Key | undefined {
  const key = decodeCursor<{ t: string; i: string }>(cursor, ['t', 'i']);
  if (key === undefined) return undefined;
  if (!isCursorInstantMicroseconds(key.t) || !isUuid(key.i)) throw new AppError('INVALID_CURSOR');
  return { t: key.t, i: key.i };
}

/** One domain's parked events after the key, newest first (the parked index serves the order). */
async function parkedAfter(domain: DomainName, pool: Pool, after: Key | undefined, limit: number): Promise<Row[]> {
  const table = domainTables(domain).deadLetters;
  const { rows } = after
    ? await pool.query(
        `SELECT ${COLUMNS} FROM ${table}
          WHERE replayed_at IS NULL AND (parked_at, id) < ($1::timestamptz, $2::uuid)
          ORDER BY parked_at DESC, id DESC LIMIT $3`,
        [after.t, after.i, limit],
      )
    : await pool.query(`SELECT ${COLUMNS} FROM ${table} WHERE replayed_at IS NULL ORDER BY parked_at DESC, id DESC LIMIT $1`, [limit]);
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
    key: { t: r.parked_key, i: r.id },
  }));
}

/** Newer first: the fixed-width UTC text and lower-case uuids compare as PostgreSQL orders them. */
function newerFirst(a: Row, b: Row): number {
  if (a.key.t !== b.key.t) return a.key.t < b.key.t ? 1 : -1;
  return a.key.i < b.key.i ? 1 : a.key.i > b.key.i ? -1 : 0;
}

/**
 * One page of parked events across the given domains, newest first: each domain gives at most one
 * more than the page, and the merge of those tells whether there is a next page.
 */
export async function deadLetterPage(
  pools: readonly (readonly [DomainName, Pool])[],
  cursor: string | undefined,
  limit: number,
): Promise<{ items: DeadLetter[]; nextCursor: string | null }> {
  const after = keyOf(cursor);
  const rows = (await Promise.all(pools.map(([domain, pool]) => parkedAfter(domain, pool, after, limit + 1)))).flat().sort(newerFirst);
  const page = rows.slice(0, limit);
  const last = page.at(-1);
  return {
    items: page.map(({ key: _key, ...item }) => item),
    nextCursor: rows.length > limit && last ? encodeCursor({ t: last.key.t, i: last.key.i }) : null,
  };
}
