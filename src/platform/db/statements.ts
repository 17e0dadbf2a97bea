import type { Queryable } from './pool.ts';

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

function combined(parts: readonly Statement[], finalSelect: string): string {
  let offset = 0;
  const ctes = parts.map((s, i) => {
    const shift = offset;
    offset += s.values.length;
    return `w${i} AS (${s.text.replace(/\$(\d+)/g, (_, n: string) => `$${Number(n) + shift}`)})`;
  });
  return `WITH ${ctes.join(',\n')} ${finalSelect}`;
}
