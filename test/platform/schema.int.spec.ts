import { readFile } from 'node:fs/promises';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrateDatabase } from '../../src/platform/db/migrate.ts';
import { commitSignals, commitWith, createPool, withTransaction } from '../../src/platform/db/pool.ts';
import { eventually } from '../support/eventually.ts';
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

describe('delivery wake-ups', () => {
  /** Listens on the delivery channels of the search database; `heardAfter` runs work, then a marker notification, and counts what the work made heard. */
  async function listening<T>(use: (heardAfter: (work: () => Promise<unknown>) => Promise<Record<string, number>>) => Promise<T>): Promise<T> {
    const target = dbs.targets.find((t) => t.domain === 'search')!;
    const listener = new pg.Client({ connectionString: target.url });
    await listener.connect();
    const heard: string[] = [];
    listener.on('notification', (n) => heard.push(n.channel));
    await listener.query('LISTEN bazaar_inbox; LISTEN bazaar_outbox; LISTEN bazaar_probe_marker');
    const heardAfter = async (work: () => Promise<unknown>) => {
      heard.length = 0;
      await work();
      // Notifications come in commit order: once the marker (sent after the work) is heard, anything the work caused was too.
      await pool('search').query(`SELECT pg_notify('bazaar_probe_marker', '')`);
      for (let i = 0; i < 200 && !heard.includes('bazaar_probe_marker'); i++) await new Promise((r) => setTimeout(r, 10));
      return { inbox: heard.filter((c) => c === 'bazaar_inbox').length, outbox: heard.filter((c) => c === 'bazaar_outbox').length };
    };
    try {
      return await use(heardAfter);
    } finally {
      await listener.end();
    }
  }
  const { inbox, outbox } = domainTables('search');
  const insertInbox = (eventId: string): [string, unknown[]] => [
      `INSERT INTO ${inbox} (consumer, event_id, source, aggregate_id, event_type, envelope) VALUES ('search.wake-probe', $1, '/bazaar/orders', $2, 'probe.thing.v1', $3)`,
    [eventId, newId(), JSON.stringify({ id: eventId })],
  ];
  const insertOutbox = `INSERT INTO ${outbox} (id, aggregate_id, aggregate_type, event_type, payload, headers) VALUES ($1, $2, 'probe', 'probe.thing.v1', '{}', '{}')`;

  it('are no NOTIFY inside the writing transaction: only an event made pending again (a replay) notifies from the database', async () => {
    await listening(async (heardAfter) => {
      const eventId = newId();
      expect(await heardAfter(() => pool('search').query(...insertInbox(eventId)))).toEqual({ inbox: 0, outbox: 0 });
      expect(await heardAfter(() => pool('search').query(insertOutbox, [newId(), newId()]))).toEqual({ inbox: 0, outbox: 0 });
      const byId = `WHERE consumer = 'search.wake-probe' AND event_id = $1`;
      expect(await heardAfter(() => pool('search').query(`UPDATE ${inbox} SET attempts = 1, last_error = 'failed', status = 'pending' ${byId}`, [eventId]))).toEqual({ inbox: 0, outbox: 0 });
      expect(await heardAfter(() => pool('search').query(`UPDATE ${inbox} SET status = 'dead' ${byId}`, [eventId]))).toEqual({ inbox: 0, outbox: 0 });
      expect(await heardAfter(() => pool('search').query(`UPDATE ${inbox} SET status = 'pending' ${byId}`, [eventId]))).toEqual({ inbox: 1, outbox: 0 });
      expect(await heardAfter(() => pool('search').query(`UPDATE ${inbox} SET status = 'processed', processed_at = now() ${byId}`, [eventId]))).toEqual({ inbox: 0, outbox: 0 });
    });
  });

  it('are signalled in this process after a committed outbox or inbox write, not after a rolled back one, and without NOTIFY when someone listens', async () => {
    const target = dbs.targets.find((t) => t.domain === 'search')!;
    const p = createPool(target.url, 2, 'signal-probe');
    const signalled = { outbox: 0, inbox: 0 };
    const off = [commitSignals(p).on('outbox', () => signalled.outbox++), commitSignals(p).on('inbox', () => signalled.inbox++)];
    try {
      await listening(async (heardAfter) => {
        // In a transaction: nothing before the COMMIT, one signal after it.
        let beforeCommit = -1;
        expect(
          await heardAfter(() =>
            withTransaction(p, async (tx) => {
              await tx.query(insertOutbox, [newId(), newId()]);
              await tx.query(insertOutbox, [newId(), newId()]);
              beforeCommit = signalled.outbox;
            }),
          ),
        ).toEqual({ inbox: 0, outbox: 0 });
        expect(beforeCommit).toBe(0);
        expect(signalled).toEqual({ outbox: 1, inbox: 0 });
        // One statement on its own commits as it ends.
        await heardAfter(() => p.query(...insertInbox(newId())));
        expect(signalled).toEqual({ outbox: 1, inbox: 1 });
        // Rolled back, or failed: no signal.
        await withTransaction(p, async (tx) => {
          await tx.query(insertOutbox, [newId(), newId()]);
          throw new Error('changed my mind');
        }).catch(() => undefined);
        await p.query(insertOutbox, [null, newId()]).catch(() => undefined);
        const id = newId();
        await withTransaction(p, async (tx) => {
          await tx.query(insertOutbox, [newId(), newId()]);
          await tx.query(insertOutbox, [id, newId()]);
          await tx.query(insertOutbox, [id, newId()]);
        }).catch(() => undefined);
        expect(signalled).toEqual({ outbox: 1, inbox: 1 });
        // The last statement of a transaction sent with its COMMIT, as an EXECUTE of a statement prepared by SQL.
        await withTransaction(p, async (tx) => {
          await tx.query('SELECT 1');
          await commitWith(tx, insertOutbox, [newId(), newId()]);
        });
        await withTransaction(p, async (tx) => {
          await tx.query('SELECT 1');
          await commitWith(tx, insertOutbox, [newId(), newId()]);
        });
        expect(signalled).toEqual({ outbox: 3, inbox: 1 });
        // A savepoint rolled back (a consumer's failed event) leaves what came before it: still one signal at the commit.
        await withTransaction(p, async (tx) => {
          await tx.query(insertOutbox, [newId(), newId()]);
          await tx.query('SAVEPOINT one_event');
          await tx.query(insertOutbox, [null, newId()]).catch(() => undefined);
          await tx.query('ROLLBACK TO SAVEPOINT one_event');
        });
        expect(signalled).toEqual({ outbox: 4, inbox: 1 });
        // Reads and other writes: no signal.
        await p.query(`SELECT count(*) FROM ${outbox}`);
        await p.query(`UPDATE ${inbox} SET attempts = attempts WHERE false`);
        expect(signalled).toEqual({ outbox: 4, inbox: 1 });
      });
    } finally {
      for (const unsubscribe of off) unsubscribe();
      await p.end();
    }
  });

  it('NOTIFY the channel after the commit where nobody in the process listens (a CLI command)', async () => {
    const target = dbs.targets.find((t) => t.domain === 'search')!;
    const p = createPool(target.url, 2, 'signal-probe');
    const listener = new pg.Client({ connectionString: target.url });
    await listener.connect();
    const heard: string[] = [];
    listener.on('notification', (n) => heard.push(n.channel));
    await listener.query('LISTEN bazaar_inbox; LISTEN bazaar_outbox');
    /** Runs the work, then waits until `expected` channels were heard (a NOTIFY carries all of a commit's channels at once). */
    const heardAfter = async (work: () => Promise<unknown>, expected: string[]) => {
      heard.length = 0;
      await work();
      await eventually(async () => expect([...new Set(heard)].sort()).toEqual(expect.arrayContaining(expected)), { timeoutMs: 5_000, intervalMs: 5 });
      return { inbox: heard.filter((c) => c === 'bazaar_inbox').length, outbox: heard.filter((c) => c === 'bazaar_outbox').length };
    };
    try {
      const both = () =>
        withTransaction(p, async (tx) => {
          await tx.query(insertOutbox, [newId(), newId()]);
          await tx.query(...insertInbox(newId()));
        });
      expect(await heardAfter(both, ['bazaar_inbox', 'bazaar_outbox'])).toEqual({ inbox: 1, outbox: 1 });
      expect(await heardAfter(() => p.query(...insertInbox(newId())), ['bazaar_inbox'])).toEqual({ inbox: 1, outbox: 0 });
      // A rolled back write notifies nothing: only the committed inbox write after it is heard.
      const rolledBackThenInbox = async () => {
        await withTransaction(p, async (tx) => {
          await tx.query(insertOutbox, [newId(), newId()]);
          throw new Error('changed my mind');
        }).catch(() => undefined);
        await p.query(...insertInbox(newId()));
      };
      expect(await heardAfter(rolledBackThenInbox, ['bazaar_inbox'])).toEqual({ inbox: 1, outbox: 0 });
    } finally {
      await listener.end();
      await p.end();
    }
  });
});

describe('prepared statements', () => {
  it('are named and kept per connection by default, with generic plans and no JIT, and neither when turned off', async () => {
    const target = dbs.targets.find((t) => t.domain === 'search')!;
    const prepared = async (prepare: boolean) => {
      const p = createPool(target.url, 1, 'prepare-probe', { prepare });
      try {
        const client = await p.connect();
        try {
          await client.query('SELECT $1::int + 1 AS n', [1]);
          await client.query('SELECT $1::int + 1 AS n', [2]);
          const { rows } = await client.query<{ name: string }>('SELECT name FROM pg_prepared_statements');
          const mode = await client.query<{ plan_cache_mode: string }>('SHOW plan_cache_mode');
          const jit = await client.query<{ jit: string }>('SHOW jit');
          return { names: rows.map((r) => r.name), planCacheMode: mode.rows[0]?.plan_cache_mode, jit: jit.rows[0]?.jit };
        } finally {
          client.release();
        }
      } finally {
        await p.end();
      }
    };
    const on = await prepared(true);
    expect(on.names).toHaveLength(1);
    expect(on.names[0]).toMatch(/^bz_/);
    expect(on.planCacheMode).toBe('force_generic_plan');
    expect(on.jit).toBe('off');
    expect(await prepared(false)).toMatchObject({ names: [], planCacheMode: 'auto' });
  });
});
