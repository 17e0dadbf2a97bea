import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';
import { type DatabaseTarget, resolveTargets } from '../../src/platform/db/databases.ts';
import { quoteIdent } from '../../src/platform/db/pool.ts';
import { DOMAIN_NAMES, databaseName } from '../../src/platform/domains.ts';
import { loadConfig, type Config } from '../../src/platform/config.ts';
import { urlFor } from './server.ts';

export const TEST_JWT_KEYS = `test:${Buffer.alloc(32, 7).toString('base64url')}`;
/** Given, so that no test writes a generated key into the working directory's DATA_DIR. */
export const TEST_SHIPPING_CREDENTIALS_KEY = `test:${Buffer.alloc(32, 9).toString('base64url')}`;

export function serverUrl(): string {
  return inject('databaseServerUrl');
}

/**
 * A database URL that goes through a TCP proxy listening on 127.0.0.1:`port`: the embedded server's
 * URL names its Unix-domain socket (`?host=`), which pg would take over any TCP address.
 */
export function throughTcpPort(url: string | URL, port: number): string {
  const proxied = new URL(url);
  proxied.hostname = '127.0.0.1';
  proxied.port = String(port);
  proxied.searchParams.delete('host');
  return proxied.toString();
}

export interface FreshDatabases {
  config: Config;
  targets: DatabaseTarget[];
  drop(): Promise<void>;
}

/** Eleven fresh, migrated databases for one test file (copied from the run's templates), dropped after. */
export async function freshDatabases(env: Record<string, string> = {}): Promise<FreshDatabases> {
  const url = serverUrl();
  const prefix = `t${randomBytes(5).toString('hex')}_`;
  const admin = new pg.Client({ connectionString: urlFor(url, 'postgres') });
  await admin.connect();
  try {
    for (const domain of DOMAIN_NAMES) {
      await admin.query(
        `CREATE DATABASE ${quoteIdent(databaseName(domain, prefix))} TEMPLATE ${quoteIdent(databaseName(domain, inject('templatePrefix')))}`,
      );
    }
  } finally {
    await admin.end();
  }
  const config = loadConfig({
    DATABASE_URL: url,
    DATABASE_NAME_PREFIX: prefix,
    PORT: '0',
    LOG_LEVEL: 'silent',
    JWT_KEYS: TEST_JWT_KEYS,
    SHIPPING_CREDENTIALS_KEY: TEST_SHIPPING_CREDENTIALS_KEY,
    SEED_DEMO: 'false',
    DATABASE_POOL_SIZE_MAX: '5',
    RELAY_POLL_MS: '100',
    // Every test registers from 127.0.0.1; the limit itself is tested on an app of its own.
    REGISTRATIONS_PER_ADDRESS_PER_HOUR: '1000000',
    RETRY_DELAY_BASE_MS: '10',
    RETRY_DELAY_MAX_MS: '100',
    ...env,
  });
  const targets = resolveTargets(config, url);
  return {
    config,
    targets,
    async drop() {
      const c = new pg.Client({ connectionString: urlFor(url, 'postgres') });
      await c.connect();
      try {
        for (const t of targets) await c.query(`DROP DATABASE IF EXISTS ${quoteIdent(t.database)} WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}
