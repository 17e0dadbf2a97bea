import { readFile } from 'node:fs/promises';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrateDatabase } from '../../src/platform/db/migrate.ts';
import { createPool } from '../../src/platform/db/pool.ts';
import { renderSchemaDocument } from '../../src/platform/db/schema-doc.ts';
import { DOMAIN_NAMES, type DomainName, domainTables } from '../../src/platform/domains.ts';
import { newId } from '../../src/platform/ids.ts';
import { type FreshDatabases, freshDatabases } from '../support/databases.ts';
import { APPEND_ONLY, DESIGN_TABLES } from './design-tables.ts';

let dbs: FreshDatabases;
const pools = new Map<DomainName, pg.Pool>();

beforeAll(async () => {
  dbs = await freshDatabases();
  for (const t of dbs.targets) pools.set(t.domain, new pg.Pool({ connectionString: t.url, max: 2 }));
});

afterAll(async () => {
  await Promise.all([...pools.values()].map((p) => p.end()));
  await dbs.drop();
});

const pool = (d: DomainName) => pools.get(d)!;

describe('the migrated schema', () => {
  it('holds all 49 design tables with their key columns, in their own databases', async () => {
    let tables = 0;
    for (const domain of DOMAIN_NAMES) {
      const { rows } = await pool(domain).query<{ table_name: string; column_name: string }>(
        `SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public'`,
      );
      const have = new Set(rows.map((r) => `${r.table_name}.${r.column_name}`));
      for (const [table, columns] of Object.entries(DESIGN_TABLES[domain])) {
        tables++;
        for (const column of columns) expect(have, `${domain}: ${table}.${column}`).toContain(`${table}.${column}`);
      }
    }
    expect(tables).toBe(49);
  });

  it('gives every table and column a purpose (SQL comment)', async () => {
    for (const domain of DOMAIN_NAMES) {
      const { rows } = await pool(domain).query<{ what: string }>(
        `SELECT c.relname || coalesce('.' || a.attname, '') AS what
           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
          WHERE n.nspname = 'public' AND c.relkind = 'r' AND c.relname <> 'schema_migrations'
            AND (CASE WHEN a.attname IS NULL THEN obj_description(c.oid, 'pg_class') ELSE col_description(c.oid, a.attnum) END) IS NULL`,
      );
      expect(rows.map((r) => `${domain}: ${r.what}`)).toEqual([]);
    }
  });

  it('uses jsonb for every *_json and payload column, and no floating-point money', async () => {
    for (const domain of DOMAIN_NAMES) {
      const { rows } = await pool(domain).query<{ c: string; data_type: string }>(
        `SELECT table_name || '.' || column_name AS c, data_type FROM information_schema.columns
          WHERE table_schema = 'public' AND (column_name LIKE '%\\_json' OR column_name = 'payload' OR data_type IN ('real', 'double precision', 'money'))`,
      );
      for (const r of rows) expect(`${domain}: ${r.c} ${r.data_type}`).toMatch(/jsonb$/);
    }
  });

  it('makes a second migration run a no-op', async () => {
    for (const t of dbs.targets) expect((await migrateDatabase(t.url, t.domain)).applied).toEqual([]);
  });

  it('refuses to run when an applied migration was edited afterwards', async () => {
    const target = dbs.targets.find((t) => t.domain === 'cart')!;
    await pool('cart').query(`UPDATE schema_migrations SET checksum = 'edited' WHERE id = 'platform/0001_messaging'`);
    await expect(migrateDatabase(target.url, 'cart')).rejects.toThrow(/was edited after it was applied/);
  });

  it('agrees with docs/architecture/database-tables-full.md', async () => {
    const rendered = await renderSchemaDocument(DOMAIN_NAMES.map((domain) => ({ domain, db: pool(domain) })));
    const committed = await readFile(new URL('../../docs/architecture/database-tables-full.md', import.meta.url), 'utf8');
    // On a mismatch: regenerate with `npx bazaar docs schema` and review the diff.
    expect(committed === rendered, 'docs/architecture/database-tables-full.md is out of date: run npx bazaar docs schema').toBe(true);
  });
});

describe('append-only tables', () => {
  it('carry a trigger that refuses UPDATE, DELETE and TRUNCATE', async () => {
    for (const [domain, tables] of Object.entries(APPEND_ONLY) as [DomainName, string[]][]) {
      for (const table of tables) {
        const { rows } = await pool(domain).query<{ def: string }>(
          `SELECT pg_get_triggerdef(t.oid) AS def FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
            WHERE c.relname = $1 AND NOT t.tgisinternal`,
          [table],
        );
        const defs = rows.map((r) => r.def).join('\n');
        expect(defs, `${domain}.${table}`).toMatch(/BEFORE .*UPDATE.*DELETE|BEFORE .*DELETE.*UPDATE/);
        expect(defs, `${domain}.${table}`).toMatch(/BEFORE TRUNCATE/);
      }
    }
  });

  it('refuse a real UPDATE and DELETE of an outbox row, but allow setting published_at once', async () => {
    const db = pool('inventory');
    const outbox = domainTables('inventory').outbox;
    const id = newId();
    await db.query(
      `INSERT INTO ${outbox} (id, aggregate_id, aggregate_type, event_type, payload, headers) VALUES ($1, $2, 'x', 'inventory.probe_written.v1', '{}', '{}')`,
      [id, newId()],
    );
    await expect(db.query(`UPDATE ${outbox} SET payload = '{"a":1}' WHERE id = $1`, [id])).rejects.toMatchObject({ code: 'BZ001' });
    await expect(db.query(`DELETE FROM ${outbox} WHERE id = $1`, [id])).rejects.toMatchObject({ code: 'BZ001' });
    await db.query(`UPDATE ${outbox} SET published_at = now() WHERE id = $1`, [id]);
    await expect(db.query(`UPDATE ${outbox} SET published_at = now() WHERE id = $1`, [id])).rejects.toMatchObject({ code: 'BZ001' });
    await expect(db.query(`TRUNCATE ${outbox}`)).rejects.toMatchObject({ code: 'BZ001' });
  });

  it('refuse a real TRUNCATE of every append-only table', async () => {
    for (const [domain, tables] of Object.entries(APPEND_ONLY) as [DomainName, string[]][]) {
      for (const table of tables) {
        await expect(pool(domain).query(`TRUNCATE ${table} CASCADE`), `${domain}.${table}`).rejects.toMatchObject({ code: 'BZ001' });
      }
    }
  });
});

describe('outbox retention', () => {
  it('deletes only published rows older than the retention, never unpublished ones', async () => {
    const { pruneOutbox } = await import('../../src/platform/messaging/admin.ts');
    const db = pool('shipping');
    const outbox = domainTables('shipping').outbox;
    const [oldPublished, recentPublished, oldPending] = [newId(), newId(), newId()];
    for (const id of [oldPublished, recentPublished, oldPending]) {
      await db.query(
        `INSERT INTO ${outbox} (id, aggregate_id, aggregate_type, event_type, payload, headers, created_at) VALUES ($1, $2, 'x', 'shipping.probe_written.v1', '{}', '{}', now() - interval '40 days')`,
        [id, newId()],
      );
    }
    await db.query(`UPDATE ${outbox} SET published_at = now() - interval '35 days' WHERE id = $1`, [oldPublished]);
    await db.query(`UPDATE ${outbox} SET published_at = now() WHERE id = $1`, [recentPublished]);
    expect(await pruneOutbox('shipping', db, 30)).toBe(1);
    const { rows } = await db.query<{ id: string }>(`SELECT id FROM ${outbox} WHERE id = ANY($1)`, [[oldPublished, recentPublished, oldPending]]);
    expect(rows.map((r) => r.id).sort()).toEqual([recentPublished, oldPending].sort());
  });
});

describe('inbox wake-ups', () => {
  it('wake consumers when events arrive or come back to pending, not when a consumer records its own progress', async () => {
    const { inbox } = domainTables('search');
    const target = dbs.targets.find((t) => t.domain === 'search')!;
    const listener = new pg.Client({ connectionString: target.url });
    await listener.connect();
    const heard: string[] = [];
    listener.on('notification', (n) => heard.push(n.channel));
    await listener.query('LISTEN bazaar_inbox; LISTEN bazaar_probe_marker');
    /** Runs a statement, then a marker notification: notifications come in commit order, so once the marker is heard, anything the statement caused was too. */
    const wakesAfter = async (sql: string, values: unknown[]) => {
      heard.length = 0;
      await pool('search').query(sql, values);
      await pool('search').query(`SELECT pg_notify('bazaar_probe_marker', '')`);
      for (let i = 0; i < 100 && !heard.includes('bazaar_probe_marker'); i++) await new Promise((r) => setTimeout(r, 10));
      return heard.filter((c) => c === 'bazaar_inbox').length;
    };
    try {
      const eventId = newId();
      const envelope = JSON.stringify({ id: eventId });
      expect(
        await wakesAfter(
          `INSERT INTO ${inbox} (consumer, event_id, source, aggregate_id, event_type, envelope) VALUES ('search.wake-probe', $1, '/bazaar/orders', $2, 'probe.thing.v1', $3)`,
          [eventId, newId(), envelope],
        ),
      ).toBe(1);
      const byId = `WHERE consumer = 'search.wake-probe' AND event_id = $1`;
      expect(await wakesAfter(`UPDATE ${inbox} SET attempts = 1, last_error = 'failed', status = 'pending' ${byId}`, [eventId])).toBe(0);
      expect(await wakesAfter(`UPDATE ${inbox} SET status = 'dead' ${byId}`, [eventId])).toBe(0);
      expect(await wakesAfter(`UPDATE ${inbox} SET status = 'pending' ${byId}`, [eventId])).toBe(1);
      expect(await wakesAfter(`UPDATE ${inbox} SET status = 'processed', processed_at = now() ${byId}`, [eventId])).toBe(0);
    } finally {
      await listener.end();
    }
  });
});

describe('prepared statements', () => {
  it('are named and kept per connection by default, and not made when turned off', async () => {
    const target = dbs.targets.find((t) => t.domain === 'search')!;
    const prepared = async (prepare: boolean) => {
      const p = createPool(target.url, 1, 'prepare-probe', { prepare });
      try {
        const client = await p.connect();
        try {
          await client.query('SELECT $1::int + 1 AS n', [1]);
          await client.query('SELECT $1::int + 1 AS n', [2]);
          const { rows } = await client.query<{ name: string }>('SELECT name FROM pg_prepared_statements');
          return rows.map((r) => r.name);
        } finally {
          client.release();
        }
      } finally {
        await p.end();
      }
    };
    const named = await prepared(true);
    expect(named).toHaveLength(1);
    expect(named[0]).toMatch(/^bz_/);
    expect(await prepared(false)).toEqual([]);
  });
});
