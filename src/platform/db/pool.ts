import { createHash } from 'node:crypto';
import pg from 'pg';
import { withArrayLiterals } from './array-literal.ts';
import { inlineParameters, literalsOf } from './inline-parameters.ts';

/**
 * int8 (bigint) arrives as a JS number: one amount is minor units well inside 2^53 (an order's
 * total is bounded below it), and counters too. A sum over many orders is not: select it as text
 * and read it with exactInteger.
 */
pg.types.setTypeParser(20, (value: string) => {
  const n = Number(value);
  if (!Number.isSafeInteger(n)) throw new RangeError(`bigint ${value} exceeds the safe integer range`);
  return n;
});

/** An integer that may pass 2^53 (a lifetime sum of money): a number while it is exact, else a bigint. */
export type ExactInteger = number | bigint;

/** Reads an integer given as text (`sum(…)::text`) exactly. */
export function exactInteger(text: string | number | bigint): ExactInteger {
  if (typeof text !== 'string') return typeof text === 'bigint' ? narrowed(text) : text;
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : BigInt(text);
}

/** a − b, exactly. */
export function exactDifference(a: ExactInteger, b: ExactInteger): ExactInteger {
  if (typeof a === 'number' && typeof b === 'number' && Number.isSafeInteger(a - b)) return a - b;
  return narrowed(BigInt(a) - BigInt(b));
}

const narrowed = (n: bigint): ExactInteger => (n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n);

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

/** What a committed statement or transaction wrote that another loop of this process waits for. */
export type CommitSignal = 'outbox' | 'inbox';
const SIGNAL_BITS: Record<CommitSignal, number> = { outbox: 1, inbox: 2 };
const SIGNALS = Object.keys(SIGNAL_BITS) as CommitSignal[];
/** An outbox INSERT that leaves its rows pending: one that names published_at writes them published (nobody to relay them to). */
const OUTBOX_INSERT = /\bINSERT\s+INTO\s+\w+_outbox_events\s*\((?![^)]*\bpublished_at\b)/i;
/**
 * Marks an outbox INSERT that writes some rows published and leaves others pending (outboxInsert):
 * its column list names published_at, yet the relay is to be woken.
 */
export const OUTBOX_SOME_PENDING = '/* bazaar: some events pending */';
const INBOX_INSERT = /\bINSERT\s+INTO\s+\w+_inbox_events\b/i;
/** The channel a process without a listener of its own NOTIFYs instead (the Notifier of every running marketplace listens). */
export const SIGNAL_CHANNELS: Record<CommitSignal, string> = { outbox: 'bazaar_outbox', inbox: 'bazaar_inbox' };

/** Signal bits of parameterised statement texts (a fixed set, from the code), bounded like the statement names. */
const writesByText = new Map<string, number>();

function writesIn(text: string): number {
  return (OUTBOX_INSERT.test(text) || text.includes(OUTBOX_SOME_PENDING) ? SIGNAL_BITS.outbox : 0) | (INBOX_INSERT.test(text) ? SIGNAL_BITS.inbox : 0);
}

/** writesIn, remembered for a parameterised text; texts with values written in are each new, so not kept. */
function writesOf(text: string, parameterised: boolean): number {
  if (!parameterised) return writesIn(text);
  let bits = writesByText.get(text);
  if (bits === undefined) {
    bits = writesIn(text);
    if (writesByText.size < STATEMENT_NAMES_MAX) writesByText.set(text, bits);
  }
  return bits;
}

/**
 * Per pool, who wants to hear that rows were committed to its database's outbox or inbox: the relay
 * and the consumer loop of this process (runtime.ts). They are told when the connection is back
 * outside a transaction after a statement or transaction that inserted such rows, without a round
 * trip and without NOTIFY inside the transaction: PostgreSQL serialises the commits of all
 * transactions that NOTIFY, across the whole server, behind one lock held through their WAL flush
 * (docs/adr/0009-wake-ups-after-commit.md).
 */
export class CommitSignals {
  readonly #listeners = new Map<CommitSignal, Set<() => void>>(SIGNALS.map((k) => [k, new Set()]));
  /** Kinds to NOTIFY for, and whether a NOTIFY is on its way (at most one at a time per pool). */
  readonly #unheard = new Set<CommitSignal>();
  #notifying = false;

  /** `notify` runs an SQL text on another connection of the pool (for kinds nobody here listens to). */
  constructor(readonly notify: (sql: string) => Promise<unknown> = async () => undefined) {}

  /** Calls `listener` after each commit that wrote `kind` rows; returns the unsubscribe. */
  on(kind: CommitSignal, listener: () => void): () => void {
    const set = this.#listeners.get(kind) as Set<() => void>;
    set.add(listener);
    return () => set.delete(listener);
  }

  /**
   * Tells the listeners; where there are none in this process (a CLI command), NOTIFYs the kind's
   * channel for the running marketplace instead, from another connection, after this commit.
   */
  emit(kind: CommitSignal): void {
    const set = this.#listeners.get(kind) as Set<() => void>;
    for (const listener of set) listener();
    if (set.size === 0) {
      this.#unheard.add(kind);
      this.#sendNotifications();
    }
  }

  #sendNotifications(): void {
    if (this.#notifying || this.#unheard.size === 0) return;
    const kinds = [...this.#unheard];
    this.#unheard.clear();
    this.#notifying = true;
    void this.notify(`SELECT ${kinds.map((kind) => `pg_notify('${SIGNAL_CHANNELS[kind]}', '')`).join(', ')}`)
      .catch(() => undefined)
      .finally(() => {
        this.#notifying = false;
        this.#sendNotifications();
      });
  }
}

const signalsOfPool = new WeakMap<pg.Pool, CommitSignals>();

/** The commit signals of a pool made by createPool. */
export function commitSignals(pool: pg.Pool): CommitSignals {
  const signals = signalsOfPool.get(pool);
  if (!signals) throw new Error('commitSignals: the pool was not made by createPool');
  return signals;
}

/** A statement PREPAREd by SQL: its name (an identifier) and how many parameters it takes. */
interface SqlPrepared {
  name: string;
  parameters: number;
}
const sqlPreparedStatements = new Map<string, SqlPrepared>();

function sqlPreparedStatement(text: string): SqlPrepared | undefined {
  let statement = sqlPreparedStatements.get(text);
  if (statement === undefined) {
    if (sqlPreparedStatements.size >= STATEMENT_NAMES_MAX) return undefined;
    let parameters = 0;
    for (const [, n] of text.matchAll(/\$(\d+)/g)) parameters = Math.max(parameters, Number(n));
    statement = { name: `bq_${createHash('sha1').update(text).digest('hex').slice(0, 24)}`, parameters };
    sqlPreparedStatements.set(text, statement);
  }
  return statement;
}

/** How to run a statement inside a simple-protocol message: `prepare` (when set) first, then `execute`. */
export interface ExecuteText {
  prepare: string | undefined;
  execute: string;
}

/**
 * The SQL that runs `text` with `values` as one statement of a multi-statement (simple protocol)
 * message, planned once per connection: `EXECUTE <name>(<values as literals>)` of a statement this
 * connection PREPAREs by SQL the first time (`prepare`, to send earlier in the same message). The
 * simple protocol otherwise parses and plans every statement on every call (a relay's or a
 * consumer's claim cost more to plan than to run). Without prepared statements (`prepare: false`)
 * or past the bound of distinct texts, `execute` is the statement with its values inlined. Send
 * the message at once: the connection counts the PREPARE done only once the server has run it.
 */
export function executePrepared(tx: Tx, text: string, values: readonly unknown[] = []): ExecuteText {
  if (tx instanceof BazaarClient) return tx.executeText(text, values);
  return { prepare: undefined, execute: inlineParameters(text, values) };
}

interface BazaarClientConfig extends pg.ClientConfig {
  commitSignals?: CommitSignals;
  prepare?: boolean;
}

/**
 * pg's client with two additions.
 *
 * Every parameterised statement runs as a named prepared statement (unless `prepare` is false), so
 * that the server parses and plans each distinct text once per connection instead of on every call
 * (planning was a third of the server's work in the checkout benchmark). Statements without
 * parameters keep the simple protocol, which also carries several statements in one text. Array
 * values are turned into their literals here, faster than pg would (array-literal.ts).
 *
 * It follows what its statements wrote to an outbox or inbox and, once the server reports the
 * connection idle again with that work committed (not failed, not rolled back), fires the pool's
 * CommitSignals (which NOTIFY the running marketplace where nobody in this process listens).
 */
class BazaarClient extends pg.Client {
  readonly #prepare: boolean;
  #written = 0;

  /** Names of the statements PREPAREd by SQL on this connection (executePrepared). */
  readonly #sqlPrepared = new Set<string>();
  /** Names whose PREPARE is in the message in flight, in the message's order. */
  #preparing: string[] = [];

  constructor(config: BazaarClientConfig = {}) {
    super(config);
    this.#prepare = config.prepare !== false;
    // A connection lost while checked out (the server stopped, the backend terminated) fails its
    // query in flight and every later one; without a listener, pg's 'error' event would also throw
    // out of the socket handler and end the whole process. The pool listens only to idle clients.
    this.on('error', () => undefined);
    const signals = config.commitSignals;
    const connection = (this as unknown as { connection: NodeJS.EventEmitter }).connection;
    // Whether the work since the last ReadyForQuery failed or ended in a ROLLBACK. A ROLLBACK TO
    // SAVEPOINT has the same tag but leaves the transaction open (status T), where nothing is
    // decided yet: the bits stay, and at worst a relay looks once for nothing.
    let failed = false;
    let lastTag: string | undefined;
    connection.on('errorMessage', () => {
      failed = true;
      // The rest of the message is skipped: its PREPAREs will not run. Forgotten now, not at
      // ReadyForQuery: pg settles the failed query on this message, and when ReadyForQuery comes in a
      // later read the caller may already be asking executeText again.
      this.#preparing = [];
    });
    connection.on('commandComplete', (msg: { text?: string }) => {
      lastTag = msg.text;
      if (msg.text === 'PREPARE') {
        // A PREPARE outlives its transaction, even one that then fails: it counts once it ran.
        const name = this.#preparing.shift();
        if (name) this.#sqlPrepared.add(name);
      }
    });
    // Registered before pg's own handler (attached at connect): the signal goes before the query
    // that just finished hands the connection back.
    connection.on('readyForQuery', (msg: { status?: string }) => {
      this.#preparing = [];
      const endedBadly = failed || lastTag === 'ROLLBACK';
      failed = false;
      lastTag = undefined;
      // Outside a transaction again: the work committed, or it did not and its writes are gone.
      if (msg.status !== 'I' || this.#written === 0) return;
      const written = this.#written;
      this.#written = 0;
      if (!signals || endedBadly) return;
      for (const kind of SIGNALS) if ((written & SIGNAL_BITS[kind]) !== 0) signals.emit(kind);
    });
  }

  /** See executePrepared. */
  executeText(text: string, values: readonly unknown[]): ExecuteText {
    // The message will say EXECUTE, not what the statement writes: noted here, as it is sent next.
    this.#written |= writesOf(text, true);
    const statement = this.#prepare ? sqlPreparedStatement(text) : undefined;
    if (!statement) return { prepare: undefined, execute: inlineParameters(text, values) };
    if (values.length < statement.parameters) throw new RangeError(`the statement refers to $${statement.parameters}, beyond its ${values.length} values`);
    const args = statement.parameters > 0 ? `(${literalsOf(values.slice(0, statement.parameters)).join(', ')})` : '';
    const execute = `EXECUTE ${statement.name}${args}`;
    if (this.#sqlPrepared.has(statement.name) || this.#preparing.includes(statement.name)) return { prepare: undefined, execute };
    this.#preparing.push(statement.name);
    return { prepare: `PREPARE ${statement.name} AS ${text}`, execute };
  }

  // biome-ignore lint/suspicious/noExplicitAny: pg's query is overloaded; this passes its arguments through unchanged.
  override query(config: any, values?: any, callback?: any): any {
    const text = typeof config === 'string' ? config : config?.text;
    if (typeof text === 'string') this.#written |= writesOf(text, Array.isArray(values) || Array.isArray(config?.values));
    if (this.#prepare && typeof config === 'string' && Array.isArray(values)) {
      const name = statementName(config);
      const prepared = withArrayLiterals(values);
      if (name) return super.query({ name, text: config, values: prepared }, callback);
      return super.query(config, prepared, callback);
    }
    return super.query(config, values, callback);
  }
}

/**
 * TCP keepalives, so that a peer gone without a word (a host failed over, a network that dropped
 * everything) ends the connection instead of leaving it open for ever. On our side: a statement
 * waiting on such a connection would never settle, and the relay or consumer loop waiting on it
 * with it. On the server's: the backend of a client that vanished would keep its transaction's
 * locks (a relay's batch lock, claimed rows) for the kernel's two hours. The server probes after
 * 30 s of silence and gives up after three unanswered probes 10 s apart; on our side Node sets the
 * first delay, and libuv (or the kernel) the probes' interval and count. Behind a pooler the
 * server's probes reach the pooler, whose own keepalive settings then apply.
 */
const CLIENT_KEEPALIVE = { keepAlive: true, keepAliveInitialDelayMillis: 30_000 } as const;
const SERVER_KEEPALIVES = '-c tcp_keepalives_idle=30 -c tcp_keepalives_interval=10 -c tcp_keepalives_count=3';

/** `prepare: false` keeps the simple unnamed statements (for a pooler in transaction mode that cannot keep prepared statements). */
export function createPool(url: string, max: number, applicationName: string, options: { prepare?: boolean } = {}): Pool {
  const signals = new CommitSignals((sql) => pool.query(sql));
  const config: pg.PoolConfig & BazaarClientConfig = {
    Client: BazaarClient,
    connectionString: url,
    max,
    application_name: applicationName,
    idleTimeoutMillis: 30000,
    connectionTimeoutMillis: 10000,
    commitSignals: signals,
    prepare: options.prepare !== false,
    // Prepared statements are planned once per connection (generic plans), not again on each call:
    // with array or uuid parameters PostgreSQL kept choosing custom plans, so the hot reads (prices,
    // coupons, stock) were planned on every call. Every statement here finds its rows by key, which
    // a generic plan does as well (docs/adr/0008-fewer-round-trips.md, point 14).
    // JIT is off: bazaar's statements are short lookups, and PostgreSQL compiles a plan above
    // jit_above_cost again on every execution (100 ms and more each), prepared or not.
    ...(options.prepare !== false ? { options: `-c plan_cache_mode=force_generic_plan -c jit=off ${SERVER_KEEPALIVES}` } : {}),
    ...CLIENT_KEEPALIVE,
  };
  const pool = new pg.Pool(config);
  signalsOfPool.set(pool, signals);
  // A connection dropped by the server must not crash the process; the pool replaces it.
  pool.on('error', () => undefined);
  return pool;
}

/**
 * A connection to `pool`'s database outside the pool, for a session held for good (a LISTEN): held
 * in the pool, it would leave the pool's other users one connection fewer for as long as it lives.
 * Not connected yet; the caller connects and ends it.
 */
export function dedicatedClient(pool: Pool, applicationName: string): pg.Client {
  return new pg.Client({
    connectionString: pool.options.connectionString,
    application_name: applicationName,
    connectionTimeoutMillis: 10_000,
    ...CLIENT_KEEPALIVE,
    ...(pool.options.options ? { options: pool.options.options } : {}),
  });
}

/**
 * Runs `work` in one transaction: the aggregate is the transaction boundary, so a change and its
 * outbox rows commit or roll back together.
 */
export async function withTransaction<T>(pool: Pool, work: (tx: Tx) => Promise<T>, isolation?: 'serializable' | 'repeatable read'): Promise<T> {
  const client = await pool.connect();
  // A commitWith of an earlier user of this connection outside withTransaction (a consumer's round) left its mark.
  committed.delete(client);
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

/** Connections whose transaction commitWith committed already (withTransaction clears the mark when it takes one). */
const committed = new WeakSet<Tx>();

/**
 * Runs the last statement of a transaction (withTransaction's, or one the caller began itself) and
 * its COMMIT in one message (one round trip) and answers the statement's result: where the
 * transaction holds a row that every request needs (a popular coupon), the lock is let go as soon
 * as the statement is done, not an event-loop turn and a round trip later. The simple protocol
 * carries no parameters, so the statement runs as `EXECUTE` of a statement the connection PREPAREd
 * by SQL, the values written as literals (executePrepared; planned once per connection). Nothing may
 * run on `tx` after it. If the statement fails (bazaar_abort included), the COMMIT does not run and
 * the caller rolls back as usual (withTransaction does).
 */
export async function commitWith<R extends pg.QueryResultRow>(tx: Tx, text: string, values: readonly unknown[]): Promise<pg.QueryResult<R>> {
  const { prepare, execute } = executePrepared(tx, text, values);
  const results = (await tx.query(`${prepare ? `${prepare};\n` : ''}${execute};\nCOMMIT`)) as unknown as pg.QueryResult<R>[];
  committed.add(tx);
  const result = results[prepare ? 1 : 0];
  if (!result) throw new Error('commitWith: no result for the statement');
  return result;
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
