import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { type DatabaseTarget, dropDatabases, ensureDatabases } from '../../src/platform/db/databases.ts';
import { serverUrl } from '../support/databases.ts';
import { urlFor } from '../support/server.ts';

/** Several processes starting at once on one server each create the databases that are missing. */
const prefix = `c${randomBytes(5).toString('hex')}_`;
const targets: DatabaseTarget[] = ['products', 'orders', 'search'].map((domain) => ({
  domain: domain as DatabaseTarget['domain'],
  url: urlFor(serverUrl(), `${prefix}${domain}_db`),
  adminUrl: urlFor(serverUrl(), 'postgres'),
  database: `${prefix}${domain}_db`,
}));

afterAll(async () => {
  await dropDatabases(targets);
});

describe('the embedded server', () => {
  it.skipIf(process.env.TEST_DATABASE_URL !== undefined)('is reached through its Unix-domain socket, a tenth cheaper per round trip than TCP', async () => {
    const client = new pg.Client({ connectionString: urlFor(serverUrl(), 'postgres') });
    await client.connect();
    try {
      const { rows } = await client.query<{ addr: string | null; socket: string }>("SELECT inet_client_addr() AS addr, current_setting('unix_socket_directories') AS socket");
      expect(rows[0]?.socket).not.toBe('');
      expect(rows[0]?.addr).toBeNull();
    } finally {
      await client.end();
    }
  });

  it.skipIf(process.env.TEST_DATABASE_URL !== undefined)('runs with the settings bazaar gives it, a WAL of 2 GB between checkpoints among them', async () => {
    const client = new pg.Client({ connectionString: urlFor(serverUrl(), 'postgres') });
    await client.connect();
    try {
      const { rows } = await client.query<{ wal: string; buffers: string; connections: string }>(
        "SELECT current_setting('max_wal_size') AS wal, current_setting('shared_buffers') AS buffers, current_setting('max_connections') AS connections",
      );
      expect(rows[0]).toEqual({ wal: '2GB', buffers: '256MB', connections: '300' });
    } finally {
      await client.end();
    }
  });
});

describe('creating the databases', () => {
  it('tolerates other processes creating the same databases at the same moment', async () => {
    // Each start may find a database missing and create it while another does: PostgreSQL then
    // refuses the second CREATE as a duplicate (42P04) or, when both got past its own check, with a
    // unique violation on pg_database (23505). Neither may fail a start.
    for (let round = 0; round < 3; round++) {
      await dropDatabases(targets);
      const outcomes = await Promise.allSettled(Array.from({ length: 6 }, () => ensureDatabases(targets)));
      expect(outcomes.filter((o) => o.status === 'rejected').map((o) => String((o as PromiseRejectedResult).reason))).toEqual([]);
    }
    const admin = new pg.Client({ connectionString: urlFor(serverUrl(), 'postgres') });
    await admin.connect();
    try {
      const { rows } = await admin.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_database WHERE datname = ANY($1)', [targets.map((t) => t.database)]);
      expect(rows[0]?.n).toBe(3);
    } finally {
      await admin.end();
    }
  });
});
