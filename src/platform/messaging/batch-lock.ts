import type pg from 'pg';
import type { Tx } from '../db/pool.ts';

const LOCK_NAME = /^[a-z_.]{1,100}$/;

/**
 * Opens a transaction and tries the transaction-scoped advisory lock that lets one batch of a kind
 * (a domain's relay, a domain's consumers) run at a time, in ONE round trip: `BEGIN`, the optional
 * `settings` statements, the lock, then the `afterLock` statements. The statements carry no parameters
 * (the simple protocol runs several at once); the lock name is a fixed name from the code, checked
 * against a strict pattern before it is written into the SQL. Returns whether the lock was taken.
 */
export async function beginWithBatchLock(client: Tx, lockName: string, options: { settings?: string[]; afterLock?: string[] } = {}): Promise<boolean> {
  if (!LOCK_NAME.test(lockName)) throw new Error(`invalid batch lock name ${lockName}`);
  const statements = [
    'BEGIN',
    ...(options.settings ?? []),
    `SELECT pg_try_advisory_xact_lock(hashtext('${lockName}')) AS locked`,
    ...(options.afterLock ?? []),
  ];
  const results = (await client.query(statements.join('; '))) as unknown as pg.QueryResult<{ locked?: boolean }>[];
  const lock = results.find((r) => r.command === 'SELECT');
  return lock?.rows[0]?.locked === true;
}
