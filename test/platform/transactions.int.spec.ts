import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inlineParameters } from '../../src/platform/db/inline-parameters.ts';
import { commitTogether, commitTogetherReturning, guarded } from '../../src/platform/db/statements.ts';
import { type Pool, abortReason, commitWith, createPool, dedicatedClient, executePrepared, isUniqueViolation, withTransaction } from '../../src/platform/db/pool.ts';
import { newId } from '../../src/platform/ids.ts';
import { type FreshDatabases, freshDatabases, throughTcpPort } from '../support/databases.ts';

let dbs: FreshDatabases;
let pool: Pool;

beforeAll(async () => {
  dbs = await freshDatabases();
  const target = dbs.targets.find((t) => t.domain === 'search')!;
  pool = createPool(target.url, 3, 'transactions-spec');
  await pool.query('CREATE TABLE scratch (id uuid PRIMARY KEY, note text NOT NULL, n bigint NOT NULL DEFAULT 0)');
});

afterAll(async () => {
  await pool?.end();
  await dbs?.drop();
});

describe('connections', () => {
  it('ask the server to probe them when silent, pooled and dedicated alike, so a client gone without a word lets its locks go within a minute', async () => {
    // Over TCP, where a client can go without a word (the embedded server is reached through a
    // Unix-domain socket, which the kernel closes with its process, and which has no keepalives).
    const url = dbs.targets.find((t) => t.domain === 'search')!.url;
    const tcp = createPool(throughTcpPort(url, Number(new URL(url).port || 5432)), 1, 'keepalive-spec');
    try {
      const keepalives = 'SELECT current_setting($1) AS idle, current_setting($2) AS interval, current_setting($3) AS count, inet_client_addr() IS NOT NULL AS tcp';
      const names = ['tcp_keepalives_idle', 'tcp_keepalives_interval', 'tcp_keepalives_count'];
      expect((await tcp.query(keepalives, names)).rows).toEqual([{ idle: '30', interval: '10', count: '3', tcp: true }]);
      const dedicated = dedicatedClient(tcp, 'keepalive-spec');
      await dedicated.connect();
      try {
        expect((await dedicated.query(keepalives, names)).rows).toEqual([{ idle: '30', interval: '10', count: '3', tcp: true }]);
      } finally {
        await dedicated.end();
      }
    } finally {
      await tcp.end();
    }
  });
});

describe('statements with their values inlined', () => {
  it('mean what they meant with parameters, whatever the values hold', async () => {
    const text = `SELECT $1::text AS t, $2::int AS i, $3::uuid[] AS ids, $4::jsonb AS j, $5::timestamptz AS at, $6::text AS nothing,
                          $7::boolean AS b, $8::bytea AS bytes, $9::text[] AS texts,
                          (SELECT array_agg(x ORDER BY x) FROM (VALUES (1), (2), (3)) AS v(x) WHERE x = ANY($10) LIMIT $11) AS picked`;
    const values = [
      `it's a "quote", a back\\slash, a $1 and ünïcödé`,
      -42,
      [newId(), newId()],
      { nested: { quote: `'"`, list: [1, null] } },
      new Date('2026-12-04T16:00:00.123Z'),
      null,
      false,
      Buffer.from([0, 1, 255]),
      ['a,b', 'c"d', 'e\\f', null],
      [1, 3],
      5,
    ];
    const { rows: asParameters } = await pool.query(text, values);
    const { rows: asLiterals } = await pool.query(inlineParameters(text, values));
    expect(asLiterals).toEqual(asParameters);
    expect(asLiterals[0]).toMatchObject({ t: values[0], i: -42, nothing: null, b: false, picked: [1, 3] });
  });

  it('refuses a placeholder beyond the values given', () => {
    expect(() => inlineParameters('SELECT $1, $2', ['only one'])).toThrow(RangeError);
  });
});

describe('statements prepared by SQL (executePrepared)', () => {
  const text = 'SELECT $2::text AS note, $1::int + 1 AS n';
  const preparedNames = async (tx: Parameters<typeof executePrepared>[0]) =>
    (await tx.query<{ name: string }>(`SELECT name FROM pg_prepared_statements WHERE name LIKE 'bq\\_%'`)).rows.map((r) => r.name);

  it('PREPAREs once per connection and EXECUTEs with the values as literals, among other statements of one message', async () => {
    const one = createPool(dbs.targets.find((t) => t.domain === 'search')!.url, 1, 'prepared-spec');
    try {
      const tx = await one.connect();
      try {
        const first = executePrepared(tx, text, [41, "it's"]);
        expect(first.prepare).toMatch(/^PREPARE bq_[0-9a-f]{24} AS SELECT/);
        expect(first.execute).toMatch(/^EXECUTE bq_[0-9a-f]{24}\('41', 'it''s'\)$/);
        const results = (await tx.query(`${first.prepare}; SELECT 0 AS before; ${first.execute}`)) as unknown as { rows: unknown[] }[];
        expect(results[2]?.rows).toEqual([{ note: "it's", n: 42 }]);
        const second = executePrepared(tx, text, [1, 'again']);
        expect(second.prepare).toBeUndefined();
        expect((await tx.query(second.execute)).rows).toEqual([{ note: 'again', n: 2 }]);
        expect(await preparedNames(tx)).toHaveLength(1);
      } finally {
        tx.release();
      }
    } finally {
      await one.end();
    }
  });

  it('counts a PREPARE whose transaction then failed as done, and one that never ran as not done', async () => {
    const one = createPool(dbs.targets.find((t) => t.domain === 'search')!.url, 1, 'prepared-spec');
    try {
      const tx = await one.connect();
      try {
        const aborting = 'SELECT CASE WHEN $1::int > 0 THEN bazaar_abort($2) END AS x';
        const a = executePrepared(tx, aborting, [1, 'no']);
        await expect(tx.query(`BEGIN; ${a.prepare}; ${a.execute}; COMMIT`)).rejects.toThrow('no');
        await tx.query('ROLLBACK');
        // The PREPARE outlived its transaction: sending it again would fail with "already exists".
        const again = executePrepared(tx, aborting, [0, 'fine']);
        expect(again.prepare).toBeUndefined();
        expect((await tx.query(again.execute)).rows).toEqual([{ x: null }]);
        // A PREPARE after a failing statement never runs, so it is sent again next time.
        const other = executePrepared(tx, 'SELECT $1::int * 2 AS y', [3]);
        await expect(tx.query(`SELECT 1/0; ${other.prepare}; ${other.execute}`)).rejects.toThrow('division by zero');
        const retried = executePrepared(tx, 'SELECT $1::int * 2 AS y', [4]);
        expect(retried.prepare).toBeDefined();
        const results = (await tx.query(`${retried.prepare}; ${retried.execute}`)) as unknown as { rows: unknown[] }[];
        expect(results[1]?.rows).toEqual([{ y: 8 }]);
      } finally {
        tx.release();
      }
    } finally {
      await one.end();
    }
  });

  it('inlines the values instead where statements are not prepared (a pooler in transaction mode)', async () => {
    const unprepared = createPool(dbs.targets.find((t) => t.domain === 'search')!.url, 1, 'prepared-spec', { prepare: false });
    try {
      const tx = await unprepared.connect();
      try {
        const run = executePrepared(tx, text, [1, 'x']);
        expect(run).toEqual({ prepare: undefined, execute: "SELECT 'x'::text AS note, '1'::int + 1 AS n" });
        expect((await tx.query(run.execute)).rows).toEqual([{ note: 'x', n: 2 }]);
        expect(await preparedNames(tx)).toEqual([]);
      } finally {
        tx.release();
      }
    } finally {
      await unprepared.end();
    }
  });
});

describe('statements run together', () => {
  const insert = (id: string, note: string) => ({ text: 'INSERT INTO scratch (id, note) VALUES ($1, $2) RETURNING id', values: [id, note] });

  it('are undone together when the guarding check aborts the statement, and kept when it passes', async () => {
    const [a, b, c, d] = [newId(), newId(), newId(), newId()];
    const failing = guarded([insert(a, 'one'), insert(b, 'two')], `SELECT CASE WHEN (SELECT count(*) FROM w0) <> 2 THEN bazaar_abort('not two') END`);
    expect(abortReason(await pool.query(...failing).then(() => undefined, (e: unknown) => e))).toBe('not two');
    const passing = guarded([insert(c, 'three'), insert(d, 'four')], `SELECT CASE WHEN (SELECT count(*) FROM w0) <> 1 THEN bazaar_abort('not one') END`);
    await pool.query(...passing);
    const { rows } = await pool.query('SELECT id FROM scratch WHERE id = ANY($1::uuid[])', [[a, b, c, d]]);
    expect(rows.map((r) => r.id).sort()).toEqual([c, d].sort());
  });

  it('can be the last statement of a transaction, sent with its COMMIT, answering the first one\'s rows', async () => {
    const [a, b, c] = [newId(), newId(), newId()];
    const rows = await withTransaction(pool, async (tx) => {
      await tx.query('INSERT INTO scratch (id, note) VALUES ($1, $2)', [a, 'before']);
      return commitTogetherReturning<{ id: string }>(tx, insert(b, 'first'), [insert(c, 'second'), undefined]);
    });
    expect(rows).toEqual([{ id: b }]);
    const { rows: stored } = await pool.query('SELECT count(*)::int AS n FROM scratch WHERE id = ANY($1::uuid[])', [[a, b, c]]);
    expect(stored[0].n).toBe(3);
  });

  it('commit with one statement, several, or none (then withTransaction commits as usual)', async () => {
    const ids = [newId(), newId(), newId(), newId()];
    await withTransaction(pool, (tx) => commitTogether(tx, [insert(ids[0]!, 'alone')]));
    await withTransaction(pool, (tx) => commitTogether(tx, [insert(ids[1]!, 'one'), undefined, insert(ids[2]!, 'two')]));
    await withTransaction(pool, async (tx) => {
      await tx.query('INSERT INTO scratch (id, note) VALUES ($1, $2)', [ids[3], 'before nothing']);
      await commitTogether(tx, [undefined]);
    });
    const { rows } = await pool.query('SELECT count(*)::int AS n FROM scratch WHERE id = ANY($1::uuid[])', [ids]);
    expect(rows[0].n).toBe(4);
  });
});

describe('commitWith', () => {
  it('runs the last statement and the COMMIT in one message and answers the statement', async () => {
    const [a, b] = [newId(), newId()];
    const rows = await withTransaction(pool, async (tx) => {
      await tx.query('INSERT INTO scratch (id, note) VALUES ($1, $2)', [a, 'first']);
      return (await commitWith<{ id: string; note: string }>(tx, 'INSERT INTO scratch (id, note) VALUES ($1, $2) RETURNING id, note', [b, "it's last"])).rows;
    });
    expect(rows).toEqual([{ id: b, note: "it's last" }]);
    const { rows: stored } = await pool.query('SELECT id FROM scratch WHERE id = ANY($1::uuid[]) ORDER BY note', [[a, b]]);
    expect(stored.map((r) => r.id)).toEqual([a, b]);
  });

  it('leaves nothing of the transaction when the statement aborts itself, and tells why', async () => {
    const [a, b] = [newId(), newId()];
    const attempt = withTransaction(pool, async (tx) => {
      await tx.query('INSERT INTO scratch (id, note) VALUES ($1, $2)', [a, 'earlier']);
      await commitWith(
        tx,
        `WITH w AS (INSERT INTO scratch (id, note) VALUES ($1, $2) RETURNING id)
         SELECT CASE WHEN (SELECT count(*) FROM w) = 1 THEN bazaar_abort('refused for a test') END`,
        [b, 'last'],
      );
    });
    const error = await attempt.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(abortReason(error)).toBe('refused for a test');
    const { rows } = await pool.query('SELECT count(*)::int AS n FROM scratch WHERE id = ANY($1::uuid[])', [[a, b]]);
    expect(rows[0].n).toBe(0);
    // The connection went back to the pool usable, outside any transaction.
    const { rows: status } = await pool.query('SELECT 1 AS ok');
    expect(status).toEqual([{ ok: 1 }]);
  });

  it('used on a transaction the caller began itself, does not make a later withTransaction on that connection skip its COMMIT', async () => {
    const one = createPool(dbs.targets.find((t) => t.domain === 'search')!.url, 1, 'commit-with-spec');
    const [a, b] = [newId(), newId()];
    try {
      const client = await one.connect();
      try {
        await client.query('BEGIN');
        await commitWith(client, 'INSERT INTO scratch (id, note) VALUES ($1, $2)', [a, 'own transaction']);
      } finally {
        client.release();
      }
      await withTransaction(one, (tx) => tx.query('INSERT INTO scratch (id, note) VALUES ($1, $2)', [b, 'next user']));
      const { rows } = await pool.query('SELECT count(*)::int AS n FROM scratch WHERE id = ANY($1::uuid[])', [[a, b]]);
      expect(rows[0].n).toBe(2);
    } finally {
      await one.end();
    }
  });

  it('tells a unique violation of one constraint from any other error', async () => {
    const id = newId();
    await pool.query('INSERT INTO scratch (id, note) VALUES ($1, $2)', [id, 'once']);
    const error = await pool.query('INSERT INTO scratch (id, note) VALUES ($1, $2)', [id, 'twice']).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isUniqueViolation(error, 'scratch_pkey')).toBe(true);
    expect(isUniqueViolation(error, 'another_key')).toBe(false);
    expect(isUniqueViolation(new Error('no code'), 'scratch_pkey')).toBe(false);
  });

  it('is not mistaken for a refusal by any other error', () => {
    expect(abortReason(Object.assign(new Error('duplicate key'), { code: '23505' }))).toBeUndefined();
    expect(abortReason(undefined)).toBeUndefined();
  });
});

describe('a connection lost while checked out', () => {
  it('fails its transaction and leaves the process and the pool working', async () => {
    // Without a listener on the checked-out client, pg's 'error' event ends the process (vitest
    // reports it as an unhandled error and fails the run).
    const lost = withTransaction(pool, async (tx) => {
      const { rows } = await tx.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
      await pool.query('SELECT pg_terminate_backend($1)', [rows[0]!.pid]);
      await new Promise((resolve) => setTimeout(resolve, 200));
      await tx.query('SELECT 1');
    });
    await expect(lost).rejects.toThrow();
    const { rows } = await pool.query<{ one: number }>('SELECT 1 AS one');
    expect(rows).toEqual([{ one: 1 }]);
  });
});
