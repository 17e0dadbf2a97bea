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

/** Creates the databases that do not exist yet; existing ones are left as they are. */
export async function ensureDatabases(targets: DatabaseTarget[]): Promise<void> {
  const byServer = new Map<string, DatabaseTarget[]>();
  for (const t of targets) {
    const list = byServer.get(t.adminUrl) ?? [];
    list.push(t);
    byServer.set(t.adminUrl, list);
  }
  for (const [adminUrl, list] of byServer) {
    const client = new pg.Client({ connectionString: adminUrl });
    await client.connect();
    try {
      const existing = await client.query<{ datname: string }>(
        'SELECT datname FROM pg_database WHERE datname = ANY($1)',
        [list.map((t) => t.database)],
      );
      const have = new Set(existing.rows.map((r) => r.datname));
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
