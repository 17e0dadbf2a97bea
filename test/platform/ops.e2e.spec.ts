import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pendingMigrations } from '../../src/platform/db/migrate.ts';
import { freePort } from '../../src/platform/db/embedded.ts';
import { newId } from '../../src/platform/ids.ts';
import { startTestApp, type TestApp } from '../support/app.ts';
import { eventually } from '../support/eventually.ts';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(() => t.close());

describe('operations endpoints', () => {
  it('report liveness and readiness', async () => {
    expect((await t.request('GET', '/health')).json()).toEqual({ status: 'ok' });
    const ready = await t.request('GET', '/ready');
    expect(ready.statusCode).toBe(200);
    expect(ready.json()).toEqual({ status: 'ready' });
  });

  it('report not ready, naming the cause, when a database has a pending migration', async () => {
    await t.app.pools.get('coupons')!.query(`DELETE FROM schema_migrations WHERE id = 'platform/0001_messaging'`);
    const ready = await t.request('GET', '/ready');
    expect(ready.statusCode).toBe(503);
    expect(ready.json().problems).toEqual(expect.arrayContaining([expect.stringContaining('coupons database has 1 pending migration')]));
    await t.app.pools.get('coupons')!.query(`INSERT INTO schema_migrations (id, checksum) SELECT 'platform/0001_messaging', 'restored'`);
  });

  it('tell a database that cannot be asked from one that lacks migrations', async () => {
    // Nothing listens on this port: readiness must say "unreachable", not ask for migrations.
    const down = new pg.Pool({ connectionString: `postgres://postgres@127.0.0.1:${await freePort()}/postgres`, connectionTimeoutMillis: 2000 });
    try {
      await expect(pendingMigrations(down, 'coupons')).rejects.toThrow();
    } finally {
      await down.end();
    }
    // A database never migrated (no schema_migrations table) has every migration pending.
    const coupons = t.app.pools.get('coupons')!;
    const client = await coupons.connect();
    try {
      await client.query('BEGIN');
      await client.query('ALTER TABLE schema_migrations RENAME TO schema_migrations_away');
      expect((await pendingMigrations(client as unknown as pg.Client, 'coupons')).length).toBeGreaterThan(0);
    } finally {
      await client.query('ROLLBACK');
      client.release();
    }
  });

  it('name a failing worker when not ready, but never show its error (a database message) to the public', async () => {
    const payments = t.app.pools.get('payments')!;
    await payments.query('ALTER TABLE payments_inbox_events RENAME TO payments_inbox_events_away');
    try {
      await eventually(async () => {
        const ready = await t.request('GET', '/ready');
        expect(ready.statusCode).toBe(503);
        expect(ready.json().problems).toEqual(expect.arrayContaining([expect.stringMatching(/failing$/)]));
        expect(ready.body).not.toMatch(/relation|does not exist|payments_inbox/);
      });
    } finally {
      await payments.query('ALTER TABLE payments_inbox_events_away RENAME TO payments_inbox_events');
    }
    await eventually(async () => expect((await t.request('GET', '/ready')).statusCode).toBe(200), { timeoutMs: 10_000 });
  });

  it('describe every route in the OpenAPI document', async () => {
    const doc = (await t.request('GET', '/openapi.json')).json() as { openapi: string; paths: Record<string, Record<string, unknown>> };
    expect(doc.openapi).toBe('3.1.0');
    const missing = t.app.http.declaredRoutes
      .map((r) => ({ method: r.method.toLowerCase(), path: r.url.replace(/:([A-Za-z]+)/g, '{$1}') }))
      .filter((r) => !doc.paths[r.path]?.[r.method]);
    expect(missing).toEqual([]);
    expect(t.app.http.declaredRoutes.length).toBeGreaterThan(5);
  });

  it('expose Prometheus metrics with per-route latency and the outbox backlog per domain', async () => {
    await t.request('GET', '/health');
    const text = (await t.request('GET', '/metrics')).body;
    expect(text).toMatch(/bazaar_http_request_duration_seconds_bucket\{[^}]*route="\/health"/);
    expect(text).toMatch(/bazaar_outbox_backlog\{domain="orders"\} \d+/);
    expect(text).toMatch(/bazaar_outbox_oldest_unpublished_age_seconds\{domain="payments"\}/);
    expect(text).toMatch(/bazaar_event_dead_letters_total|bazaar_event_deliveries_total/);
  });

  it('keep the admin event routes for admins only', async () => {
    const buyer = (await t.app.tokens.sign({ userId: newId(), roles: ['buyer'] })).token;
    const admin = (await t.app.tokens.sign({ userId: newId(), roles: ['admin'] })).token;
    expect((await t.request('GET', '/v1/admin/events/outbox')).statusCode).toBe(401);
    expect((await t.request('GET', '/v1/admin/events/outbox', { token: buyer })).statusCode).toBe(403);
    const res = await t.request('GET', '/v1/admin/events/outbox', { token: admin });
    expect(res.statusCode).toBe(200);
    expect(res.json().items).toHaveLength(11);
  });
});
