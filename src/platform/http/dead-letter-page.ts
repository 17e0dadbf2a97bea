import type { Pool } from '../db/pool.ts';
import type { DomainName } from '../domains.ts';
import { isUuid } from '../ids.ts';
import { type DeadLetter, type ParkedKey, listDeadLetters } from '../messaging/admin.ts';
import { decodeCursor, encodeCursor, isCursorInstantMicroseconds } from './cursor.ts';
import { AppError } from './errors.ts';

type Row = Awaited<ReturnType<typeof listDeadLetters>>[number];

/** The list (cursor.ts): parked events of these domains. */
export const deadLetterScope = (domains: readonly DomainName[]) => `dead-letters:${[...domains].sort().join(',')}`;

function keyOf(domains: readonly DomainName[], cursor: string | undefined): ParkedKey | undefined {
  const key = decodeCursor<{ t: string; i: string }>(deadLetterScope(domains), cursor, ['t', 'i']);
  if (key === undefined) return undefined;
  if (!isCursorInstantMicroseconds(key.t) || !isUuid(key.i)) throw new AppError('INVALID_CURSOR');
  return { parkedAt: key.t, id: key.i };
}

/** Newer first: the fixed-width UTC text and lower-case uuids compare as PostgreSQL orders them. */
function newerFirst(a: Row, b: Row): number {
  if (a.parkedKey !== b.parkedKey) return a.parkedKey < b.parkedKey ? 1 : -1;
  return a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
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
  const domains = pools.map(([domain]) => domain);
  const after = keyOf(domains, cursor);
  const rows = (await Promise.all(pools.map(([domain, pool]) => listDeadLetters(domain, pool, limit + 1, after)))).flat().sort(newerFirst);
  const page = rows.slice(0, limit);
  const last = page.at(-1);
  return {
    items: page.map(({ parkedKey: _key, ...item }) => item),
    nextCursor: rows.length > limit && last ? encodeCursor(deadLetterScope(domains), { t: last.parkedKey, i: last.id }) : null,
  };
}
