import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { type DomainName, domainTables } from '../domains.ts';

/**
 * Plain numbered SQL migrations, owned by each domain (`src/domains/<name>/migrations/0001_x.sql`)
 * and recorded per database in `schema_migrations`. An applied migration that was edited afterwards
 * stops the run: migrations are never edited once they land.
 */
export interface Migration {
  id: string;
  sql: string;
  checksum: string;
}

const here = path.dirname(fileURLToPath(import.meta.url));
const DOMAINS_DIR = path.resolve(here, '../../domains');
const MIGRATION_FILE = /^(\d{4})_[a-z0-9_]+\.sql$/;

function checksum(sql: string): string {
  return createHash('sha256').update(sql).digest('hex');
}

/**
 * The platform's own migrations (outbox, inbox, dead letters, held deliveries), templates in ./migrations applied to
 * every domain database before its own, with the domain's table names filled in. The checksum is
 * of the template itself, so it is the same in every database.
 */
export async function platformMigrations(domain: DomainName): Promise<Migration[]> {
  const dir = path.join(here, 'migrations');
  const t = domainTables(domain);
  const migrations: Migration[] = [];
  for (const file of (await readdir(dir)).filter((f) => MIGRATION_FILE.test(f)).sort()) {
    const template = await readFile(path.join(dir, file), 'utf8');
    const sql = template.replaceAll('{{outbox}}', t.outbox).replaceAll('{{inbox}}', t.inbox).replaceAll('{{dead_letters}}', t.deadLetters).replaceAll('{{held_deliveries}}', t.heldDeliveries)
      .replaceAll('{{held_subscribers}}', t.heldSubscribers)
      .replaceAll('{{consumer_replays}}', t.consumerReplays).replaceAll('{{outbox_prunes}}', t.outboxPrunes);
    migrations.push({ id: `platform/${file.replace(/\.sql$/, '')}`, sql, checksum: checksum(template) });
  }
  return migrations;
}

export async function domainMigrations(domain: DomainName): Promise<Migration[]> {
  const dir = path.join(DOMAINS_DIR, domain, 'migrations');
  let files: string[];
  try {
    files = await readdir(dir);
  } catch {
    return [];
  }
  const migrations: Migration[] = [];
  for (const file of files.filter((f) => MIGRATION_FILE.test(f)).sort()) {
    const sql = await readFile(path.join(dir, file), 'utf8');
    migrations.push({ id: `${domain}/${file.replace(/\.sql$/, '')}`, sql, checksum: checksum(sql) });
  }
  return migrations;
}

export async function allMigrations(domain: DomainName): Promise<Migration[]> {
  return [...(await platformMigrations(domain)), ...(await domainMigrations(domain))];
}

export interface MigrationResult {
  applied: string[];
}

export async function migrateDatabase(url: string, domain: DomainName): Promise<MigrationResult> {
  const migrations = await allMigrations(domain);
  const client = new pg.Client({ connectionString: url, application_name: `bazaar-migrate-${domain}` });
  await client.connect();
  try {
    // One migrator at a time per database, even across processes.
    await client.query("SELECT pg_advisory_lock(hashtext('bazaar.migrate'))");
    await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      id text PRIMARY KEY,
      checksum text NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now()
    )`);
    const { rows } = await client.query<{ id: string; checksum: string }>('SELECT id, checksum FROM schema_migrations');
    const applied = new Map(rows.map((r) => [r.id, r.checksum]));
    const done: string[] = [];
    for (const m of migrations) {
      const previous = applied.get(m.id);
      if (previous !== undefined) {
        if (previous !== m.checksum) {
          throw new Error(`migration ${m.id} was edited after it was applied to ${domain}; add a new migration instead`);
        }
        continue;
      }
      await client.query('BEGIN');
      try {
        await client.query(m.sql);
        await client.query('INSERT INTO schema_migrations (id, checksum) VALUES ($1, $2)', [m.id, m.checksum]);
        await client.query('COMMIT');
      } catch (error) {
        await client.query('ROLLBACK');
        throw new Error(`migration ${m.id} failed: ${(error as Error).message}`);
      }
      done.push(m.id);
    }
    return { applied: done };
  } finally {
    await client.query("SELECT pg_advisory_unlock(hashtext('bazaar.migrate'))").catch(() => undefined);
    await client.end();
  }
}

/**
 * Migrations not yet applied to a database (used by readiness). A database without the migrations
 * table has them all pending; one that cannot be asked (down, unreachable) throws, and readiness
 * says so rather than ask for migrations.
 */
export async function pendingMigrations(client: pg.Pool | pg.Client, domain: DomainName): Promise<string[]> {
  const migrations = await allMigrations(domain);
  let applied: Set<string>;
  try {
    const { rows } = await client.query<{ id: string }>('SELECT id FROM schema_migrations');
    applied = new Set(rows.map((r) => r.id));
  } catch (error) {
    // 42P01 undefined_table: nothing was ever migrated here.
    if ((error as { code?: string }).code !== '42P01') throw error;
    applied = new Set();
  }
  return migrations.filter((m) => !applied.has(m.id)).map((m) => m.id);
}
