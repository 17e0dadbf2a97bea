import type pg from 'pg';
import { type Tx, executePrepared } from '../db/pool.ts';

const LOCK_NAME = /^[a-z_.]{1,100}$/;
const LITERAL = /^[a-z0-9_.-]{1,200}$/;

/** Transaction-local settings of a round (setting name → value), applied with its batch lock. */
export type RoundSettings = Readonly<Record<string, string>>;

const SETTING = /^[a-z_.]{1,100}$/;

/** set_config calls (local to the transaction, as SET LOCAL) for each of `settings`. */
function setConfigs(settings: RoundSettings): string[] {
  return Object.entries(settings).map(([name, value]) => {
    if (!SETTING.test(name) || !SETTING.test(value)) throw new Error(`invalid round setting ${name}=${value}`);
    return `set_config('${name}', '${value}', true)`;
  });
}

/** One statement applying `settings` for the rest of the transaction (tests use it to plan as a round does). */
export function applySettings(settings: RoundSettings): string {
  return `SELECT ${setConfigs(settings).join(', ')}`;
}

/**
 * The statement that applies the round's `settings` and tries the transaction-scoped advisory lock
 * letting one batch of a kind (a domain's relay, a domain's consumers) run at a time, remembering
 * for this transaction whether it was taken (a transaction-local setting read by BATCH_LOCK_HELD):
 * one statement where a SET LOCAL each took one more. The lock must be taken by a statement BEFORE
 * the one that claims: in READ COMMITTED a statement's snapshot is taken when it starts, so a claim
 * that took the lock itself could get it from a batch that committed after that snapshot, and claim
 * again the rows that batch had just handled. The name is a fixed name from the code, checked
 * against a strict pattern before it is written into the SQL.
 */
export function takeBatchLock(lockName: string, settings: RoundSettings = {}): string {
  if (!LOCK_NAME.test(lockName)) throw new Error(`invalid batch lock name ${lockName}`);
  return `SELECT ${[...setConfigs(settings), `set_config('bazaar.batch_lock', pg_try_advisory_xact_lock(hashtext('${lockName}'))::text, true) AS batch_lock`].join(', ')}`;
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
export const INDEX_ACCESS_ONLY: RoundSettings = { enable_seqscan: 'off', enable_bitmapscan: 'off', jit: 'off' };

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
 * Opens a transaction and claims a batch in ONE round trip: `BEGIN`, the batch lock's statement with
 * the round's `settings` (takeBatchLock), the claiming statement (gated by BATCH_LOCK_HELD), then
 * the `after` statements. The statements carry no parameters (the simple protocol runs several at
 * once), so whatever they need is written in by sqlLiteral. Returns the claimed rows (none when
 * another batch holds the lock) and whether the lock was taken.
 */
export async function beginAndClaim<R extends pg.QueryResultRow>(
  client: Tx,
  lockName: string,
  claim: string,
  options: { settings?: RoundSettings; after?: string[] } = {},
): Promise<{ rows: R[]; locked: boolean }> {
  // The claim runs as a statement prepared on the connection: planning it cost more than running it.
  const { prepare, execute } = executePrepared(client, claim);
  const statements = [...(prepare ? [prepare] : []), 'BEGIN', takeBatchLock(lockName, options.settings), execute, ...(options.after ?? [])];
  const results = (await client.query(statements.join('; '))) as unknown as pg.QueryResult<R>[];
  const lock = results[prepare ? 2 : 1] as unknown as pg.QueryResult<{ batch_lock: string }> | undefined;
  const claimed = results[prepare ? 3 : 2];
  if (!lock || !claimed) throw new Error('the claiming statement gave no result');
  return { rows: claimed.rows, locked: lock.rows[0]?.batch_lock === 'true' };
}
