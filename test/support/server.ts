import { chmodSync, mkdtempSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { createLogger } from '../../src/platform/logger.ts';
import { startEmbeddedPostgres, type EmbeddedServer } from '../../src/platform/db/embedded.ts';
import { DOMAIN_NAMES, databaseName } from '../../src/platform/domains.ts';
import { migrateDatabase } from '../../src/platform/db/migrate.ts';
import { quoteIdent } from '../../src/platform/db/pool.ts';


/** The PostgreSQL the tests use: TEST_DATABASE_URL when set, else an embedded server of their own. */
export async function testServer(): Promise<{ url: string; embedded: EmbeddedServer | undefined }> {
  const given = process.env.TEST_DATABASE_URL;
  if (given) return { url: given, embedded: undefined };
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bazaar-test-pg-'));
  // PostgreSQL runs as its own user when we are root: it must be able to reach its data folder.
  chmodSync(dir, 0o755);
  const embedded = await startEmbeddedPostgres(dir, createLogger('warn'));
  // Stopping it also removes its cluster (over 100 MB), which every run would otherwise leave behind.
  const stop = async () => {
    await embedded.stop();
    await rm(dir, { recursive: true, force: true });
  };
  return { url: embedded.url, embedded: { url: embedded.url, stop, lost: embedded.lost } };
}

export function urlFor(serverUrl: string, database: string): string {
  const u = new URL(serverUrl);
  u.pathname = `/${database}`;
  return u.toString();
}

/**
 * Migrates one template database per domain, once per run (a prefix of its own, so runs sharing a
 * server do not collide); test files copy them.
 */
export async function prepareTemplates(serverUrl: string, prefix: string): Promise<void> {
  const admin = new pg.Client({ connectionString: urlFor(serverUrl, 'postgres') });
  await admin.connect();
  try {
    for (const domain of DOMAIN_NAMES) {
      const name = databaseName(domain, prefix);
      await admin.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`);
      await admin.query(`CREATE DATABASE ${quoteIdent(name)}`);
      await migrateDatabase(urlFor(serverUrl, name), domain);
    }
  } finally {
    await admin.end();
  }
}

export async function dropTemplates(serverUrl: string, prefix: string): Promise<void> {
  const admin = new pg.Client({ connectionString: urlFor(serverUrl, 'postgres') });
  await admin.connect();
  try {
    for (const domain of DOMAIN_NAMES) await admin.query(`DROP DATABASE IF EXISTS ${quoteIdent(databaseName(domain, prefix))} WITH (FORCE)`);
  } finally {
    await admin.end();
  }
}
