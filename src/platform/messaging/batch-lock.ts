import type pg from 'pg';
import { type Tx, executePrepared } from '../db/pool.ts';

const LOCK_NAME = /^[a-z_.]{1,100}$/;
const LITERAL = /^[a-z0-9_.-]{1,200}$/;

/**
 * The statement that tries the transaction-scoped advisory lock letting one batch of a kind (a
 * domain's relay, a domain's consumers) run at a time, and remembers for this transaction whether it
 * was taken (a transaction-local setting read by BATCH_LOCK_HELD). The lock must be taken by a
 * statement BEFORE the one that claims: in READ COMMITTED a statement's snapshot is taken when it
 * starts, so a claim that took the lock itself could get it from a batch that committed after that
 * snapshot, and claim again the rows that batch had just handled. The name is a fixed name from the
 * code, checked against a strict pattern before it is written into the SQL.
 */
export function takeBatchLock(lockName: string): string {
  if (!LOCK_NAME.test(lockName)) throw new Error(`invalid batch lock name ${lockName}`);
  return `SELECT set_config('bazaar.batch_lock', pg_try_advisory_xact_lock(hashtext('${lockName}'))::text, true)`;
}

/** Holds in a statement after takeBatchLock when this transaction took the lock. */
export const BATCH_LOCK_HELD = "current_setting('bazaar.batch_lock', true) = 'true'";

/**
 * Settings for a relay's or consumer's transaction: every statement in it finds its rows through an
 * index. Plans are made once per connection (ADR 0008), often while a table is nearly empty, and the
 * planner then prefers reading the whole table, a choice kept while the table grows. JIT is off
 * with them: a scan that has no index path left (a table of a few rows read whole) is priced at
 * 10^10 once sequential scans are "off", far above jit_above_cost, and PostgreSQL then compiled the
 * statement on every execution (about 150 ms, measured on the relay's claim).
 */
export const INDEX_ACCESS_ONLY = ['SET LOCAL enable_seqscan = off', 'SET LOCAL enable_bitmapscan = off', 'SET LOCAL jit = off'];

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
 * batch lock's statement (takeBatchLock), the claiming statement (gated by BATCH_LOCK_HELD), then
 * the `after` statements. The statements carry no parameters (the simple protocol runs several at
 * once), so whatever they need is written in by sqlLiteral. Returns the claimed rows (none when
 * another batch holds the lock).
 */
export async function beginAndClaim<R extends pg.QueryResultRow>(
  client: Tx,
  lockName: string,
  claim: string,
  options: { settings?: string[]; after?: string[] } = {},
): Promise<R[]> {
  // The claim runs as a statement prepared on the connection: planning it cost more than running it.
  const { prepare, execute } = executePrepared(client, claim);
  const statements = [...(prepare ? [prepare] : []), 'BEGIN', ...(options.settings ?? []), takeBatchLock(lockName), execute, ...(options.after ?? [])];
  const results = (await client.query(statements.join('; '))) as unknown as pg.QueryResult<R>[];
  const claimed = results[(prepare ? 3 : 2) + (options.settings?.length ?? 0)];
  if (!claimed) throw new Error('the claiming statement gave no result');
  return claimed.rows;
}
