import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { quoteIdent } from '../../src/platform/db/pool.ts';
import { serverUrl } from './databases.ts';
import { urlFor } from './server.ts';

/** An empty database of its own on the test server (for migration tests), and how to drop it. */
export async function scratchDatabase(label: string): Promise<{ db: pg.Client; drop(): Promise<void> }> {
  const database = `t${randomBytes(5).toString('hex')}_${label}`;
  const admin = new pg.Client({ connectionString: urlFor(serverUrl(), 'postgres') });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${quoteIdent(database)}`);
  const db = new pg.Client({ connectionString: urlFor(serverUrl(), database) });
  await db.connect();
  return {
    db,
    async drop() {
      await db.end().catch(() => undefined);
      await admin.query(`DROP DATABASE IF EXISTS ${quoteIdent(database)} WITH (FORCE)`);
      await admin.end();
    },
  };
}
