import { afterAll, beforeAll, expect, it } from 'vitest';
import { domainTables } from '../../src/platform/domains.ts';
import { newId } from '../../src/platform/ids.ts';
import { type TestApp, startTestApp } from '../support/app.ts';

/** An event a rebuild parks is a dead letter like any other: listed, and counted in the metrics. */
let t: TestApp;
let admin: string;
beforeAll(async () => {
  t = await startTestApp();
  admin = (await t.app.tokens.sign({ userId: newId(), roles: ['admin'] })).token;
});
afterAll(async () => {
  await t?.close();
});

it('counts an event parked by a rebuild in bazaar_event_dead_letters_total (found by a review: an alert on it missed them)', async () => {
  // A logged products event that breaks its contract, written published: only the rebuild reads it.
  const id = newId();
  const headers = { source: '/bazaar/products', time: new Date().toISOString(), correlationid: id, causationid: null };
  await t.app.pools.get('products')!.query(
    `INSERT INTO ${domainTables('products').outbox} (id, aggregate_id, aggregate_type, event_type, payload, headers, published_at)
     VALUES ($1, $2, 'product', 'products.product_created.v1', '{"broken": true}', $3, now())`,
    [id, newId(), JSON.stringify(headers)],
  );
  const started = await t.request('POST', '/v1/admin/read-models/product_search/rebuild', { token: admin });
  expect(started.statusCode, started.body).toBe(202);
  await t.app.messaging.replayDone(started.json().rebuildId);
  const status = (await t.request('GET', started.headers.location as string, { token: admin })).json();
  expect(status).toMatchObject({ status: 'done', eventsParked: 1 });
  expect((await t.request('GET', '/v1/admin/events/dead-letters?domain=search', { token: admin })).json().items).toHaveLength(1);
  const metrics = (await t.request('GET', '/metrics')).body.split('\n');
  expect(metrics.filter((l) => l.startsWith('bazaar_event_dead_letters_total{') && l.includes('search.product_search'))).toEqual([
    expect.stringMatching(/ 1$/),
  ]);
});
