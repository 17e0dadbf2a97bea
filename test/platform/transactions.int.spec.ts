import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inlineParameters } from '../../src/platform/db/inline-parameters.ts';
import { type Pool, abortReason, commitWith, createPool, isUniqueViolation, withTransaction } from '../../src/platform/db/pool.ts';
import { newId } from '../../src/platform/ids.ts';
import { type FreshDatabases, freshDatabases } from '../support/databases.ts';

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
