import { createHash } from 'node:crypto';
import pg from 'pg';
import { withArrayLiterals } from './array-literal.ts';
import { inlineParameters } from './inline-parameters.ts';

/** int8 (bigint) arrives as a JS number: money is minor units well inside 2^53, and counters too. */
pg.types.setTypeParser(20, (value: string) => {
  const n = Number(value);
  if (!Number.isSafeInteger(n)) throw new RangeError(`bigint ${value} exceeds the safe integer range`);
  return n;
});

export type Pool = pg.Pool;
export type Tx = pg.PoolClient;
/** Anything that can run a query: a pool, or a client inside a transaction. */
export type Queryable = Pick<pg.Pool, 'query'>;

/** Statement names by SQL text; bounded, since a text built at run time must not grow it forever. */
const statementNames = new Map<string, string>();
const STATEMENT_NAMES_MAX = 4000;

function statementName(text: string): string | undefined {
  let name = statementNames.get(text);
  if (name === undefined) {
    if (statementNames.size >= STATEMENT_NAMES_MAX) return undefined;
    name = `bz_${createHash('sha1').update(text).digest('base64url').slice(0, 20)}`;
    statementNames.set(text, name);
  }
  return name;
}

/**
 * A client that runs every parameterised statement as a named prepared statement, so that the
 * server parses and plans each distinct text once per connection instead of on every call (planning
 * was a third of the server's work in the checkout benchmark). Statements without parameters keep
 * the simple protocol, which also carries several statements in one text. Array values are turned
 * into their literals here, faster than pg would (array-literal.ts).
 */
class PreparingClient extends pg.Client {
  // biome-ignore lint/suspicious/noExplicitAny: pg's query is overloaded; this passes its arguments through unchanged.
  override query(config: any, values?: any, callback?: any): any {
    if (typeof config === 'string' && Array.isArray(values)) {
      const name = statementName(config);
      const prepared = withArrayLiterals(values);
      if (name) return super.query({ name, text: config, values: prepared }, callback);
      return super.query(config, prepared, callback);
    }
    return super.query(config, values, callback);
  }
}

/** `prepare: false` keeps the simple unnamed statements (for a pooler in transaction mode that cannot keep prepared statements). */
export function createPool(url: string, max: number, applicationName: string, options: { prepare?: boolean } = {}): Pool {
  const pool = new pg.Pool({
    Client: options.prepare === false ? pg.Client : PreparingClient,
    connectionString: url,
    max,
    application_name: applicationName,
    idleTimeoutMillis: 30000,
    connectionTimeoutMillis: 10000,
  });
  // A connection dropped by the server must not crash the process; the pool replaces it.
  pool.on('error', () => undefined);
  return pool;
}

/**
 * Runs `work` in one transaction: the aggregate is the transaction boundary, so a change and its
 * outbox rows commit or roll back together.
 */
export async function withTransaction<T>(pool: Pool, work: (tx: Tx) => Promise<T>, isolation?: 'serializable' | 'repeatable read'): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query(isolation ? `BEGIN ISOLATION LEVEL ${isolation.toUpperCase()}` : 'BEGIN');
    const result = await work(client);
    if (!committed.delete(client)) await client.query('COMMIT');
    return result;
  } catch (error) {
    committed.delete(client);
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}

/** Transactions of withTransaction that commitWith committed already. */
const committed = new WeakSet<Tx>();

/**
 * Runs the last statement of a withTransaction transaction and its COMMIT in one message (one
 * round trip) and answers the statement's result: where the transaction holds a row that every
 * request needs (a popular coupon), the lock is let go as soon as the statement is done, not an
 * event-loop turn and a round trip later. The values are inlined as literals (the simple protocol
 * carries no parameters; inline-parameters.ts), so the statement is planned on every call. Nothing
 * may run on `tx` after it. If the statement fails (bazaar_abort included), the COMMIT does not
 * run and withTransaction rolls back as usual.
 */
export async function commitWith<R extends pg.QueryResultRow>(tx: Tx, text: string, values: readonly unknown[]): Promise<pg.QueryResult<R>> {
  const results = (await tx.query(`${inlineParameters(text, values)};\nCOMMIT`)) as unknown as pg.QueryResult<R>[];
  committed.add(tx);
  const first = results[0];
  if (!first) throw new Error('commitWith: no result for the statement');
  return first;
}

/** Whether `error` is PostgreSQL's unique violation (23505) of `constraint`. */
export function isUniqueViolation(error: unknown, constraint: string): boolean {
  const e = error as { code?: unknown; constraint?: unknown } | null;
  return typeof e === 'object' && e !== null && e.code === '23505' && e.constraint === constraint;
}

/** The reason of a statement failed by bazaar_abort (platform migration 0003), else undefined. */
export function abortReason(error: unknown): string | undefined {
  const e = error as { code?: unknown; message?: unknown } | null;
  return typeof e === 'object' && e !== null && e.code === 'BZ002' && typeof e.message === 'string' ? e.message : undefined;
}

export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
