import { type Queryable, type Tx, commitWith } from './pool.ts';

/** One SQL statement with its parameters, numbered from $1. */
export interface Statement {
  text: string;
  values: unknown[];
}

/**
 * Runs independent writes (INSERT, UPDATE, DELETE without a WITH of their own) as the data-modifying
 * CTEs of ONE statement: one round trip, all or nothing even outside a transaction. Their
 * parameters are renumbered in order, so their texts must hold no other `$n` than placeholders (no
 * dollar quoting, no `$` in literals). They all see the same snapshot: none may depend on another's
 * effect, nor touch a row another one touches.
 */
export async function runTogether(db: Queryable, statements: readonly (Statement | undefined)[]): Promise<void> {
  const parts = statements.filter((s): s is Statement => s !== undefined);
  const [only] = parts;
  if (!only) return;
  if (parts.length === 1) {
    await db.query(only.text, only.values);
    return;
  }
  await db.query(combined(parts, 'SELECT 1'), parts.flatMap((s) => s.values));
}

/** Like runTogether, and answers the rows `first` returns (its RETURNING clause). */
export async function runTogetherReturning<R extends object>(db: Queryable, first: Statement, rest: readonly (Statement | undefined)[]): Promise<R[]> {
  const parts = [first, ...rest.filter((s): s is Statement => s !== undefined)];
  const { rows } = await db.query(combined(parts, 'SELECT * FROM w0'), parts.flatMap((s) => s.values));
  return rows as R[];
}

/** runTogether as the last statement of a withTransaction transaction, sent with its COMMIT (see commitTogetherReturning). */
export async function commitTogether(tx: Tx, statements: readonly (Statement | undefined)[]): Promise<void> {
  const parts = statements.filter((s): s is Statement => s !== undefined);
  const [first, ...rest] = parts;
  if (!first) return;
  if (rest.length === 0) await commitWith(tx, first.text, first.values);
  else await commitWith(tx, ...guarded([first, ...rest], 'SELECT 1'));
}

/**
 * runTogetherReturning as the last statement of a withTransaction transaction, sent with its COMMIT
 * in one message (commitWith): the row locks taken before are let go as soon as it is done, and a
 * round trip is saved. Nothing may run on `tx` after it.
 */
export async function commitTogetherReturning<R extends object>(tx: Tx, first: Statement, rest: readonly (Statement | undefined)[]): Promise<R[]> {
  const [text, values] = guarded([first, ...rest], 'SELECT * FROM w0');
  return (await commitWith(tx, text, values)).rows as R[];
}

/**
 * Statements as the data-modifying CTEs `w0`, `w1`, … of ONE statement whose result is `check`, a
 * query that may read them (e.g. `SELECT CASE WHEN (SELECT count(*) FROM w0) <> 2 THEN
 * bazaar_abort('…') END`): a check that fails the statement undoes all of it. Same rules as
 * runTogether; undefined statements are left out (the first must be there: it is w0). Returns the
 * text and values to run.
 */
export function guarded(statements: readonly [Statement, ...(Statement | undefined)[]], check: string): [string, unknown[]] {
  const parts = statements.filter((s): s is Statement => s !== undefined);
  return [combined(parts, check), parts.flatMap((s) => s.values)];
}

function combined(parts: readonly Statement[], finalSelect: string): string {
  let offset = 0;
  const ctes = parts.map((s, i) => {
    const shift = offset;
    offset += s.values.length;
    return `w${i} AS (${s.text.replace(/\$(\d+)/g, (_, n: string) => `$${Number(n) + shift}`)})`;
  });
  return `WITH ${ctes.join(',\n')} ${finalSelect}`;
}
