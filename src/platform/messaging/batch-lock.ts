import type pg from 'pg';
import type { Tx } from '../db/pool.ts';

const LOCK_NAME = /^[a-z_.]{1,100}$/;
const LITERAL = /^[a-z0-9_.-]{1,200}$/;

/**
 * An SQL condition that takes the transaction-scoped advisory lock letting one batch of a kind (a
 * domain's relay, a domain's consumers) run at a time, and holds when it was taken. Written as an
 * uncorrelated subquery, it is evaluated once per statement: put it in the WHERE of the statement
 * that claims the batch, and that statement claims nothing unless this transaction holds the lock.
 * The name is a fixed name from the code, checked against a strict pattern before it is written
 * into the SQL.
 */
export function batchLockCondition(lockName: string): string {
  if (!LOCK_NAME.test(lockName)) throw new Error(`invalid batch lock name ${lockName}`);
  return `(SELECT pg_try_advisory_xact_lock(hashtext('${lockName}')))`;
}

/** A fixed name or number from the code as an SQL literal, for the parameterless statements below. */
export function sqlLiteral(value: string | number): string {
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) throw new Error(`invalid SQL integer ${value}`);
    return String(value);
  }
  if (!LITERAL.test(value)) throw new Error(`invalid SQL name literal ${value}`);
  return `'${value}'`;
}

/**
 * Opens a transaction and claims a batch in ONE round trip: `BEGIN`, the `settings` statements, the
 * claiming statement (gated by batchLockCondition), then the `after` statements. The statements carry
 * no parameters (the simple protocol runs several at once), so whatever they need is written in by
 * batchLockCondition and sqlLiteral. Returns the claimed rows (none when another batch holds the lock).
 */
export async function beginAndClaim<R extends pg.QueryResultRow>(client: Tx, claim: string, options: { settings?: string[]; after?: string[] } = {}): Promise<R[]> {
  const statements = ['BEGIN', ...(options.settings ?? []), claim, ...(options.after ?? [])];
  const results = (await client.query(statements.join('; '))) as unknown as pg.QueryResult<R>[];
  const claimed = results[1 + (options.settings?.length ?? 0)];
  if (!claimed) throw new Error('the claiming statement gave no result');
  return claimed.rows;
}
