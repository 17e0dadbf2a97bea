import type { Queryable, Tx } from '../../platform/db/pool.ts';
import type { DomainName } from '../../platform/domains.ts';
import type { ReadModelHooks, ReplayContext } from '../../platform/messaging/subscription.ts';

/** An index of a table: its name and its definition without the name (what a copy keeps). */
async function indexesOf(tx: Queryable, schema: string, table: string): Promise<{ name: string; shape: string }[]> {
  const { rows } = await tx.query<{ name: string; def: string }>(
    `SELECT c.relname AS name, pg_get_indexdef(i.indexrelid) AS def
       FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
      WHERE i.indrelid = format('%I.%I', $1::text, $2::text)::regclass
      ORDER BY c.relname`,
    [schema, table],
  );
  return rows.map((r) => ({ name: r.name, shape: r.def.replace(/^(CREATE (?:UNIQUE )?INDEX )\S+ ON \S+/, '$1') }));
}

async function currentSchema(tx: Queryable): Promise<string> {
  const { rows } = await tx.query<{ schema: string }>('SELECT current_schema() AS schema');
  const schema = rows[0]?.schema;
  if (!schema) throw new Error('the search database has no current schema');
  return schema;
}

/**
 * A read model of this domain, rebuilt beside the live one: the replay writes into copies of the
 * model's tables in a schema of their own (`rebuild_<name>`, first on the search_path of every
 * replay transaction), while searches and dashboards keep reading the live tables, whole though no
 * longer updated (the live events wait in the inbox). In the transaction that resumes the consumer
 * the copies replace the live tables, under the live tables' own index names, so no read ever sees
 * the model half built. The checkpoints: the model is marked rebuilding (per source) when the copies
 * are made, the position reached in each source's log is noted as batches are applied, and it is
 * marked live when the copies are swapped in.
 */
export function readModelHooks(
  name: string,
  description: string,
  tables: readonly string[],
  /** Run on the swapped-in tables before the model is marked live, in the same transaction. */
  beforeLive?: (tx: Tx) => Promise<unknown>,
): ReadModelHooks {
  if (!/^[a-z][a-z0-9_]{0,40}$/.test(name)) throw new Error(`read model name ${name} cannot name a schema`);
  const shadow = `rebuild_${name}`;
  return {
    name,
    description,
    async reset({ tx, sources }: ReplayContext) {
      const live = await currentSchema(tx);
      // A rebuild that failed or was stopped left its copies: this one starts over.
      await tx.query(`DROP SCHEMA IF EXISTS ${shadow} CASCADE`);
      await tx.query(`CREATE SCHEMA ${shadow}`);
      for (const table of tables) {
        // Columns, defaults, generated columns, constraints, indexes and column comments; the table's comment too.
        await tx.query(`CREATE TABLE ${shadow}.${table} (LIKE ${live}.${table} INCLUDING ALL)`);
        const { rows } = await tx.query<{ comment: string | null }>('SELECT obj_description(format($1, $2::text, $3::text)::regclass, \'pg_class\') AS comment', [
          '%I.%I',
          live,
          table,
        ]);
        const comment = rows[0]?.comment;
        if (comment) await tx.query(`COMMENT ON TABLE ${shadow}.${table} IS ${quoteLiteral(comment)}`);
      }
      await tx.query(
        `INSERT INTO read_model_checkpoints (read_model, source, status, last_seq, last_event_id, rebuild_started_at, rebuilt_at, updated_at)
         SELECT $1, s, 'rebuilding', NULL, NULL, now(), NULL, now() FROM unnest($2::text[]) AS s
         ON CONFLICT (read_model, source) DO UPDATE
           SET status = 'rebuilding', last_seq = NULL, last_event_id = NULL, rebuild_started_at = now(), rebuilt_at = NULL, updated_at = now()`,
        [name, sources],
      );
    },
    async scope({ tx }: ReplayContext) {
      // The model's tables resolve to the copies; every other table (inbox, checkpoints) to the live schema.
      await tx.query("SELECT set_config('search_path', $1 || ', ' || current_setting('search_path'), true)", [shadow]);
    },
    async progress({ tx }: ReplayContext, source: DomainName, lastSeq: number, lastEventId: string) {
      await tx.query(
        'UPDATE read_model_checkpoints SET last_seq = $3, last_event_id = $4, updated_at = now() WHERE read_model = $1 AND source = $2',
        [name, source, lastSeq, lastEventId],
      );
    },
    async finish({ tx }: ReplayContext) {
      const live = await currentSchema(tx);
      for (const table of tables) {
        await tx.query(`ANALYZE ${shadow}.${table}`);
        const original = await indexesOf(tx, live, table);
        await tx.query(`DROP TABLE ${live}.${table}`);
        await tx.query(`ALTER TABLE ${shadow}.${table} SET SCHEMA ${live}`);
        // A copied index is named by PostgreSQL; it takes the name of the live index it copies.
        const unnamed = new Map(original.map((i) => [i.shape, i.name]));
        for (const index of await indexesOf(tx, live, table)) {
          const wanted = unnamed.get(index.shape);
          if (!wanted) continue;
          unnamed.delete(index.shape);
          if (wanted !== index.name) await tx.query(`ALTER INDEX ${live}.${index.name} RENAME TO ${wanted}`);
        }
      }
      await tx.query(`DROP SCHEMA ${shadow}`);
      await beforeLive?.(tx);
      await tx.query("UPDATE read_model_checkpoints SET status = 'live', rebuilt_at = now(), updated_at = now() WHERE read_model = $1", [name]);
    },
  };
}

function quoteLiteral(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}
