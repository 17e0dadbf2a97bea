import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { claimDue, countUnread, markRead, selectChosenChannels, selectUserNotifications } from '../../src/domains/notifications/sql.ts';
import type { Queryable } from '../../src/platform/db/pool.ts';
import { newId } from '../../src/platform/ids.ts';
import { type FreshDatabases, freshDatabases } from '../support/databases.ts';

let dbs: FreshDatabases;
let pool: pg.Pool;
const userId = newId();

beforeAll(async () => {
  dbs = await freshDatabases();
  pool = new pg.Pool({ connectionString: dbs.targets.find((t) => t.domain === 'notifications')!.url, max: 2 });
  // Many users' notifications, a few of them still to send.
  await pool.query(
    `INSERT INTO notifications (id, user_id, type, channel, payload_json, status, source_event_id, created_at, sent_at, next_attempt_at)
     SELECT gen_random_uuid(), CASE WHEN i % 50 = 0 THEN $1::uuid ELSE gen_random_uuid() END, 'order_paid',
            CASE WHEN i % 3 = 0 THEN 'email' ELSE 'in_app' END, '{"title":"t","body":"b","data":{}}',
            CASE WHEN i % 3 = 0 AND i % 7 = 0 THEN 'pending' ELSE 'sent' END, gen_random_uuid(), now() - i * interval '1 minute',
            CASE WHEN i % 3 = 0 AND i % 7 = 0 THEN NULL ELSE now() END,
            CASE WHEN i % 3 = 0 AND i % 7 = 0 THEN now() END
       FROM generate_series(1, 5000) AS i`,
    [userId],
  );
  await pool.query('ANALYZE');
});

afterAll(async () => {
  await pool?.end();
  await dbs?.drop();
});

/** EXPLAINs the statement a query function sends, with sequential scans priced out: what is left must be index access. */
async function planOf(run: (db: Queryable) => Promise<unknown>): Promise<string> {
  let sent: { text: string; values: unknown[] } | undefined;
  const capture = async (text: string, values: unknown[] = []) => {
    sent = { text, values };
    return { rows: [] };
  };
  await run({ query: capture as unknown as Queryable['query'] });
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query('SET LOCAL enable_seqscan = off');
    const { rows } = await client.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${sent!.text}`, sent!.values);
    await client.query('ROLLBACK');
    return rows.map((r) => r['QUERY PLAN']).join('\n');
  } finally {
    client.release();
  }
}

describe('the notifications hot paths', () => {
  it('list a user page through the user index, after a cursor too', async () => {
    for (const after of [undefined, { createdAt: new Date().toISOString(), id: newId() }]) {
      const plan = await planOf((db) => selectUserNotifications(db, userId, 'in_app', false, after, 21));
      expect(plan).toMatch(/notifications_user_idx/);
      expect(plan).not.toMatch(/Seq Scan|Sort/);
    }
  });

  it('count a user unread notifications through the user index', async () => {
    const plan = await planOf((db) => countUnread(db, userId));
    expect(plan).toMatch(/notifications_user_idx/);
    expect(plan).not.toMatch(/Seq Scan/);
  });

  it('claim due notifications through the due index', async () => {
    const plan = await planOf((db) => claimDue(db, new Date(), new Date(Date.now() + 60_000), 50));
    expect(plan).toMatch(/notifications_due_idx/);
    expect(plan).toMatch(/user_contacts_pkey/);
    expect(plan).not.toMatch(/Seq Scan/);
  });

  it('mark one read and read preferences by key', async () => {
    expect(await planOf((db) => markRead(db, userId, newId(), new Date()))).toMatch(/notifications_pkey/);
    expect(await planOf((db) => selectChosenChannels(db, [{ userId, type: 'order_paid' }]))).toMatch(/notification_preferences_user_type_key/);
  });
});
