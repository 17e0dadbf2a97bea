import type { Queryable } from './pool.ts';
import { type DomainName, databaseName } from '../domains.ts';

/**
 * Renders `docs/architecture/database-tables-full.md` from the migrated catalog: every database,
 * table and column with type, nullability, constraints, indexes and purpose (the SQL comments).
 * A test regenerates it and fails when the committed document and the schema disagree.
 */
interface ColumnRow {
  table_name: string;
  column_name: string;
  data_type: string;
  not_null: boolean;
  default_expr: string | null;
  comment: string | null;
}

interface TableRow {
  table_name: string;
  comment: string | null;
}

interface DefRow {
  table_name: string;
  name: string;
  definition: string;
}

const cell = (text: string | null | undefined): string => (text ?? '').replaceAll('|', '\\|').replaceAll('\n', ' ');

async function describeDatabase(db: Queryable): Promise<string> {
  const tables = await db.query<TableRow>(
    `SELECT c.relname AS table_name, obj_description(c.oid, 'pg_class') AS comment
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
      ORDER BY c.relname`,
  );
  const columns = await db.query<ColumnRow>(
    `SELECT c.relname AS table_name, a.attname AS column_name, format_type(a.atttypid, a.atttypmod) AS data_type,
            a.attnotnull AS not_null, pg_get_expr(d.adbin, d.adrelid) AS default_expr,
            col_description(c.oid, a.attnum) AS comment, a.attidentity, a.attgenerated
       FROM pg_class c
       JOIN pg_namespace n ON n.oid = c.relnamespace
       JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
       LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
      WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
      ORDER BY c.relname, a.attnum`,
  );
  const constraints = await db.query<DefRow>(
    `SELECT c.relname AS table_name, k.conname AS name, pg_get_constraintdef(k.oid) AS definition
       FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = 'public' AND k.contype <> 'n'
      ORDER BY c.relname, k.conname`,
  );
  const indexes = await db.query<DefRow>(
    `SELECT tablename AS table_name, indexname AS name, indexdef AS definition
       FROM pg_indexes WHERE schemaname = 'public' ORDER BY tablename, indexname`,
  );
  const triggers = await db.query<DefRow>(
    `SELECT c.relname AS table_name, t.tgname AS name, pg_get_triggerdef(t.oid) AS definition
       FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = 'public' AND NOT t.tgisinternal
      ORDER BY c.relname, t.tgname`,
  );
  const by = <T extends { table_name: string }>(rows: T[]) => {
    const map = new Map<string, T[]>();
    for (const r of rows) map.set(r.table_name, [...(map.get(r.table_name) ?? []), r]);
    return map;
  };
  const colsBy = by(columns.rows);
  const consBy = by(constraints.rows);
  const idxBy = by(indexes.rows);
  const trgBy = by(triggers.rows);
  const out: string[] = [];
  for (const t of tables.rows) {
    out.push(`### ${t.table_name}`, '', cell(t.comment) || '_No description._', '');
    out.push('| column | type | null | default | purpose |', '|---|---|---|---|---|');
    for (const c of colsBy.get(t.table_name) ?? []) {
      const row = c as ColumnRow & { attidentity: string; attgenerated: string };
      const def = row.attidentity ? 'identity' : row.attgenerated ? `generated: ${row.default_expr}` : row.default_expr;
      out.push(`| ${c.column_name} | ${cell(c.data_type)} | ${c.not_null ? 'not null' : 'null'} | ${cell(def)} | ${cell(c.comment)} |`);
    }
    out.push('');
    const cons = consBy.get(t.table_name) ?? [];
    if (cons.length > 0) {
      out.push('Constraints:', '');
      for (const k of cons) out.push(`- \`${k.name}\`: \`${cell(k.definition)}\``);
      out.push('');
    }
    const idx = idxBy.get(t.table_name) ?? [];
    if (idx.length > 0) {
      out.push('Indexes:', '');
      for (const i of idx) out.push(`- \`${i.name}\`: \`${cell(i.definition.replace(/ ON public\./, ' ON '))}\``);
      out.push('');
    }
    const trg = trgBy.get(t.table_name) ?? [];
    if (trg.length > 0) {
      out.push('Triggers:', '');
      for (const g of trg) out.push(`- \`${g.name}\`: \`${cell(g.definition.replace(/ ON public\./, ' ON '))}\``);
      out.push('');
    }
  }
  return out.join('\n');
}

export async function renderSchemaDocument(databases: ReadonlyArray<{ domain: DomainName; db: Queryable }>): Promise<string> {
  const parts = [
    '# bazaar database tables (full)',
    '',
    'Generated from the migrated schema by `npx bazaar docs schema`; a test fails when this file and the',
    'migrations disagree, so edit the migrations (and their `COMMENT ON` purposes), then regenerate.',
    'Each domain owns one database; no foreign key crosses databases. Every database also holds',
    '`schema_migrations` and the platform messaging tables (outbox, inbox, dead letters).',
    'Items marked "Added (not in design)" extend the user\'s design where a marketplace needs it.',
    '',
  ];
  for (const { domain, db } of databases) {
    parts.push(`## ${databaseName(domain)}`, '', await describeDatabase(db));
  }
  return `${parts.join('\n').trimEnd()}\n`;
}
