import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { hasEmbeddedCluster } from '../../src/platform/db/embedded.ts';
import { quoteIdent } from '../../src/platform/db/pool.ts';
import { DOMAIN_NAMES, databaseName } from '../../src/platform/domains.ts';
import { type FreshDatabases, freshDatabases, serverUrl } from '../support/databases.ts';
import { urlFor } from '../support/server.ts';

/**
 * The event delivery commands look at the databases as they are (found by a review: a newer CLI
 * pointed at a server migrated it just by listing its outbox, and one pointed at the wrong prefix
 * made eleven empty databases).
 */

const run = promisify(execFile);
let dbs: FreshDatabases;
const dataDir = mkdtempSync(path.join(os.tmpdir(), 'bazaar-cli-inspect-'));
const LAST_ORDERS_MIGRATION = { domain: 'orders' as const, id: '' };

beforeAll(async () => {
  dbs = await freshDatabases();
  const orders = dbs.targets.find((t) => t.domain === 'orders');
  const client = new pg.Client({ connectionString: orders?.url });
  await client.connect();
  try {
    // As if this CLI were one version newer than the schema: its last migration not applied yet.
    const { rows } = await client.query<{ id: string }>("DELETE FROM schema_migrations WHERE id = (SELECT max(id) FROM schema_migrations WHERE id LIKE 'orders/%') RETURNING id");
    LAST_ORDERS_MIGRATION.id = rows[0]?.id ?? '';
  } finally {
    await client.end();
  }
});
afterAll(async () => {
  await dbs?.drop();
  rmSync(dataDir, { recursive: true, force: true });
});

function cli(args: string[], prefix: string) {
  const env = { ...process.env, DATABASE_URL: urlFor(serverUrl(), 'postgres'), DATABASE_NAME_PREFIX: prefix, DATA_DIR: dataDir, LOG_LEVEL: 'silent' };
  return run('node', ['bin/bazaar.mjs', ...args], { env, timeout: 60_000 }).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );
}

it('lists the outbox of a schema a migration behind without migrating it, and says which migration it lacks', async () => {
  expect(LAST_ORDERS_MIGRATION.id).toMatch(/^orders\/\d{4}_/);
  const result = await cli(['events', 'outbox'], dbs.config.databaseNamePrefix);
  expect(result.code).toBe(0);
  expect(result.stdout.trim().split('\n')).toHaveLength(DOMAIN_NAMES.length);
  expect(result.stderr).toContain(LAST_ORDERS_MIGRATION.id);
  expect(result.stderr).toContain('nothing was migrated');
  const orders = dbs.targets.find((t) => t.domain === 'orders');
  const client = new pg.Client({ connectionString: orders?.url });
  await client.connect();
  try {
    const { rows } = await client.query('SELECT 1 FROM schema_migrations WHERE id = $1', [LAST_ORDERS_MIGRATION.id]);
    expect(rows).toEqual([]);
  } finally {
    await client.end();
  }
}, 90_000);

it('names the databases that do not exist and creates none of them', async () => {
  const prefix = `t${randomBytes(5).toString('hex')}_`;
  const result = await cli(['events', 'dead-letters'], prefix);
  const admin = new pg.Client({ connectionString: urlFor(serverUrl(), 'postgres') });
  await admin.connect();
  try {
    const names = DOMAIN_NAMES.map((d) => databaseName(d, prefix));
    const { rows } = await admin.query<{ datname: string }>('SELECT datname FROM pg_database WHERE datname = ANY($1)', [names]);
    for (const { datname } of rows) await admin.query(`DROP DATABASE IF EXISTS ${quoteIdent(datname)} WITH (FORCE)`);
    expect(rows).toEqual([]);
  } finally {
    await admin.end();
  }
  expect(result.code).toBe(1);
  expect(result.stderr).toContain(databaseName('orders', prefix));
  expect(result.stderr).toContain('bazaar migrate');
}, 90_000);

it('makes no embedded PostgreSQL in a DATA_DIR that has none (found by a review: a run from the wrong directory left a new cluster there)', async () => {
  const empty = mkdtempSync(path.join(os.tmpdir(), 'bazaar-cli-inspect-empty-'));
  try {
    const { DATABASE_URL: _url, ...env } = process.env;
    const result = await run('node', ['bin/bazaar.mjs', 'events', 'outbox'], { env: { ...env, DATA_DIR: empty, LOG_LEVEL: 'silent' }, timeout: 60_000 }).then(
      (r) => ({ code: 0, stderr: r.stderr }),
      (e: { code: number; stderr: string }) => ({ code: e.code, stderr: e.stderr }),
    );
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('no embedded PostgreSQL');
    expect(hasEmbeddedCluster(empty)).toBe(false);
    expect(readdirSync(empty)).toEqual([]);
  } finally {
    rmSync(empty, { recursive: true, force: true });
  }
}, 90_000);
