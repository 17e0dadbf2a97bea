import pg from 'pg';
import type { Config } from '../config.ts';
import { DOMAIN_NAMES, type DomainName, databaseName } from '../domains.ts';
import { quoteIdent } from './pool.ts';

export interface DatabaseTarget {
  domain: DomainName;
  /** Full connection URL of the domain's own database. */
  url: string;
  /** URL of the maintenance database on the same server, used to create the domain database. */
  adminUrl: string;
  database: string;
}

function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

export function databaseOf(url: string): string {
  return decodeURIComponent(new URL(url).pathname.replace(/^\//, ''));
}

/** Works out where each domain's database lives: its own URL if given, else on the shared server. */
export function resolveTargets(config: Config, serverUrl: string | undefined): DatabaseTarget[] {
  return DOMAIN_NAMES.map((domain) => {
    const own = config.domainDatabaseUrls[domain];
    if (own) {
      return { domain, url: own, adminUrl: withDatabase(own, 'postgres'), database: databaseOf(own) };
    }
    if (!serverUrl) {
      throw new Error(`no database server for ${domain}: set DATABASE_URL or ${domain.toUpperCase()}_DATABASE_URL`);
    }
    const database = databaseName(domain, config.databaseNamePrefix);
    return { domain, url: withDatabase(serverUrl, database), adminUrl: withDatabase(serverUrl, 'postgres'), database };
  });
}

/** The targets grouped by the server that holds them (its maintenance database's URL). */
function byServer(targets: readonly DatabaseTarget[]): Map<string, DatabaseTarget[]> {
  const servers = new Map<string, DatabaseTarget[]>();
  for (const t of targets) {
    const list = servers.get(t.adminUrl) ?? [];
    list.push(t);
    servers.set(t.adminUrl, list);
  }
  return servers;
}

async function existingNames(client: pg.Client, list: readonly DatabaseTarget[]): Promise<Set<string>> {
  const existing = await client.query<{ datname: string }>('SELECT datname FROM pg_database WHERE datname = ANY($1)', [list.map((t) => t.database)]);
  return new Set(existing.rows.map((r) => r.datname));
}

/** The targets whose database does not exist; nothing is created. */
export async function missingDatabases(targets: readonly DatabaseTarget[]): Promise<DatabaseTarget[]> {
  const missing: DatabaseTarget[] = [];
  for (const [adminUrl, list] of byServer(targets)) {
    const client = new pg.Client({ connectionString: adminUrl });
    await client.connect();
    try {
      const have = await existingNames(client, list);
      missing.push(...list.filter((t) => !have.has(t.database)));
    } finally {
      await client.end();
    }
  }
  return missing;
}

/** Creates the databases that do not exist yet; existing ones are left as they are. */
export async function ensureDatabases(targets: DatabaseTarget[]): Promise<void> {
  for (const [adminUrl, list] of byServer(targets)) {
    const client = new pg.Client({ connectionString: adminUrl });
    await client.connect();
    try {
      const have = await existingNames(client, list);
      for (const t of list) {
        if (have.has(t.database)) continue;
        try {
          await client.query(`CREATE DATABASE ${quoteIdent(t.database)}`);
        } catch (error) {
          // Another process may have created it between our check and our CREATE: PostgreSQL says
          // so (42P04), or, when both CREATEs got past its own check, fails this one on the catalog's
          // unique index (23505).
          const { code, constraint } = error as { code?: string; constraint?: string };
          if (code !== '42P04' && !(code === '23505' && constraint === 'pg_database_datname_index')) throw error;
        }
      }
    } finally {
      await client.end();
    }
  }
}

export async function dropDatabases(targets: DatabaseTarget[]): Promise<void> {
  for (const t of targets) {
    const client = new pg.Client({ connectionString: t.adminUrl });
    await client.connect();
    try {
      await client.query(`DROP DATABASE IF EXISTS ${quoteIdent(t.database)} WITH (FORCE)`);
    } finally {
      await client.end();
    }
  }
}
