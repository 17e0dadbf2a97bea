import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Pool } from '../../src/platform/db/pool.ts';
import { domainTables } from '../../src/platform/domains.ts';
import { newId } from '../../src/platform/ids.ts';
import { readModelEventTypes } from '../../src/domains/search/index.ts';
import { pruneOutbox } from '../../src/platform/messaging/admin.ts';
import { ABANDONED_REPLAY_ERROR } from '../../src/platform/messaging/replay.ts';
import { eventually } from '../support/eventually.ts';
import { type CatalogFixture, startCatalog, uniqueSku } from '../products/support.ts';
import { READ_TABLES, dumpTables, orderOf, paid, placed, refunded, settled } from './support.ts';

// biome-ignore lint/suspicious/noExplicitAny: JSON answers, as loosely typed as inject's json()
type Json = Record<string, any>;

let f: CatalogFixture;
let seller: { sellerId: string; token: string };
let admin: string;
const products: Json[] = [];

const search = () => f.t.app.pools.get('search') as Pool;
const allTables = { ...READ_TABLES.product_search, ...READ_TABLES.seller_dashboard };

function variant(price: number, colour = 'black') {
  return { sku: uniqueSku('V'), attributes: { colour }, price: { amount: price, currency: 'USD' } };
}

async function publish(title: string, price: number): Promise<Json> {
  const p = await f.create(seller.token, { title, variants: [variant(price), variant(price + 100, 'red')] });
  const res = await f.t.request('POST', `/v1/seller/products/${p.id}/publish`, { token: seller.token });
  expect(res.statusCode, res.body).toBe(200);
  return p;
}

async function stock(variantId: string, amount: number): Promise<void> {
  await eventually(async () => {
    const res = await f.t.request('POST', `/v1/seller/stock/${variantId}/adjustments`, { token: seller.token, body: { amount, reason: amount > 0 ? 'received' : 'lost' } });
    expect(res.statusCode, res.body).toBe(201);
  });
}

async function someOrders(n: number, day: string): Promise<void> {
  for (let i = 0; i < n; i++) {
    const o = orderOf({ sellerId: seller.sellerId, currency: i % 2 ? 'EUR' : 'USD', placedAt: `${day}T0${i}:00:00.000Z`, lines: [{ productId: newId(), title: `Thing ${i}`, unitPrice: 1000 + i, quantity: 1 + i }] });
    await placed(f.t, o);
    if (i % 3 !== 2) {
      const p = await paid(f.t, o, `${day}T0${i}:30:00.000Z`);
      if (i === 0) await refunded(f.t, p, 500, 0, `${day}T0${i}:45:00.000Z`);
    }
  }
}

async function rebuild(name: string, query = ''): Promise<Json> {
  const res = await f.t.request('POST', `/v1/admin/read-models/${name}/rebuild${query}`, { token: admin });
  expect(res.statusCode, res.body).toBe(202);
  const started = res.json();
  expect(res.headers.location).toBe(`/v1/admin/read-models/${name}/rebuilds/${started.rebuildId}`);
  await f.t.app.messaging.replayDone(started.rebuildId);
  const status = await f.t.request('GET', res.headers.location as string, { token: admin });
  expect(status.statusCode).toBe(200);
  return status.json();
}

/** How the read tables are defined: indexes, constraints, table and column comments. */
async function tableDefinitions(): Promise<unknown> {
  const { rows } = await search().query(
    `SELECT c.relname AS table, obj_description(c.oid, 'pg_class') AS comment,
            (SELECT json_agg(json_build_array(ic.relname, pg_get_indexdef(i.indexrelid)) ORDER BY ic.relname)
               FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid WHERE i.indrelid = c.oid) AS indexes,
            (SELECT json_agg(json_build_array(k.conname, pg_get_constraintdef(k.oid)) ORDER BY k.conname) FROM pg_constraint k WHERE k.conrelid = c.oid) AS constraints,
            (SELECT json_agg(json_build_array(a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, col_description(c.oid, a.attnum), pg_get_expr(d.adbin, d.adrelid)) ORDER BY a.attnum)
               FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
              WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped) AS columns
       FROM pg_class c WHERE c.relnamespace = current_schema()::regnamespace AND c.relname = ANY($1::text[]) ORDER BY c.relname`,
    [Object.keys(allTables)],
  );
  expect(rows).toHaveLength(Object.keys(allTables).length);
  return rows;
}

beforeAll(async () => {
  f = await startCatalog();
  seller = await f.sellerToken();
  admin = (await f.t.app.tokens.sign({ userId: newId(), roles: ['admin'] }, f.clock.now())).token;
  for (let i = 0; i < 6; i++) products.push(await publish(`Rebuild kettle ${i}`, 1000 * (i + 1)));
  await stock(products[0]!.variants[0].id, 5);
  await stock(products[1]!.variants[1].id, 2);
  await f.t.request('POST', `/v1/seller/products/${products[2]!.id}/unlist`, { token: seller.token });
  f.clock.advance(60_000);
  const res = await f.t.request('POST', `/v1/seller/products/${products[3]!.id}/prices`, { token: seller.token, body: { variantId: products[3]!.variants[0].id, price: { amount: 99, currency: 'USD' } } });
  expect(res.statusCode, res.body).toBe(201);
  await someOrders(6, '2026-03-01');
  await settled(f.t);
});
afterAll(async () => f?.close());

describe('read model rebuilds', () => {
  it('are for admins only, and name a read model that exists', async () => {
    const sellerAnswer = await f.t.request('POST', '/v1/admin/read-models/product_search/rebuild', { token: seller.token });
    expect(sellerAnswer.statusCode).toBe(403);
    expect(sellerAnswer.json().code).toBe('FORBIDDEN');
    expect((await f.t.request('POST', '/v1/admin/read-models/product_search/rebuild')).statusCode).toBe(401);
    expect((await f.t.request('POST', '/v1/admin/read-models/nothing_here/rebuild', { token: admin })).json().code).toBe('NOT_FOUND');
    const bad = await f.t.request('POST', '/v1/admin/read-models/Bad-Name/rebuild', { token: admin });
    expect([bad.statusCode, bad.json().code]).toEqual([400, 'VALIDATION_FAILED']);
    const unknownField = await f.t.request('POST', '/v1/admin/read-models/product_search/rebuild?everything=true', { token: admin });
    expect(unknownField.statusCode).toBe(400);
    expect((await f.t.request('GET', `/v1/admin/read-models/product_search/rebuilds/${newId()}`, { token: admin })).statusCode).toBe(404);
    const list = await f.t.request('GET', '/v1/admin/read-models', { token: admin });
    expect(list.json().items.map((m: Json) => m.name).sort()).toEqual(['product_search', 'seller_dashboard']);
  });

  it('give back exactly the rows the read model had, after its tables were wiped', async () => {
    const tablesBefore = await tableDefinitions();
    const before = await dumpTables(f.t, allTables);
    expect(before.product_search_view!.length).toBe(6);
    expect(before.order_list_view!.length).toBe(6);
    await search().query(`TRUNCATE ${Object.keys(allTables).join(', ')}`);
    const product = await rebuild('product_search');
    expect(product).toMatchObject({ status: 'done', readModel: 'product_search', consumer: 'search.product_search', eventsParked: 0, lastError: null });
    expect(product.sources.map((s: Json) => s.source)).toEqual(['products', 'inventory']);
    expect(product.eventsApplied).toBe(product.sources.reduce((n: number, s: Json) => n + s.events, 0));
    const dashboard = await rebuild('seller_dashboard', '?allowIncompleteLog=false');
    expect(dashboard).toMatchObject({ status: 'done', sources: [expect.objectContaining({ source: 'orders' }), expect.objectContaining({ source: 'payments' })] });
    await settled(f.t);
    expect(await dumpTables(f.t, allTables)).toEqual(before);
    // The rebuilt tables replaced the live ones as they were defined: the same indexes under the
    // same names, constraints and comments, and nothing left beside them.
    expect(await tableDefinitions()).toEqual(tablesBefore);
    const { rows: schemas } = await search().query("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'rebuild\\_%'");
    expect(schemas).toEqual([]);
    const { rows } = await search().query('SELECT read_model, source, status, last_seq IS NOT NULL AS read FROM read_model_checkpoints ORDER BY 1, 2');
    expect(rows).toEqual([
      { read_model: 'product_search', source: 'inventory', status: 'live', read: true },
      { read_model: 'product_search', source: 'products', status: 'live', read: true },
      { read_model: 'seller_dashboard', source: 'orders', status: 'live', read: true },
      { read_model: 'seller_dashboard', source: 'payments', status: 'live', read: true },
    ]);
  });

  it('lose no live event that arrives during the rebuild, and end with the rows a quiet rebuild gives', async () => {
    let live: Json | undefined;
    let waitingDuringReplay = -1;
    let appliedDuringReplay = -1;
    const modelBefore = await dumpTables(f.t, READ_TABLES.product_search);
    const searchBefore = (await f.t.request('GET', '/v1/search/products?q=kettle&limit=50')).json();
    expect(searchBefore.items.length).toBeGreaterThanOrEqual(4);
    let modelDuringReplay: unknown;
    let searchDuringReplay: Json | undefined;
    const started = await f.t.app.messaging.startReplay('search.product_search', {
      batchSizeMax: 3,
      afterBatch: async (progress) => {
        if (live || progress.source !== 'products') return;
        // Half way through the log, searches still read the whole model as it was: the replay
        // writes into copies of its tables, swapped in when it is done.
        modelDuringReplay = await dumpTables(f.t, READ_TABLES.product_search);
        searchDuringReplay = (await f.t.request('GET', '/v1/search/products?q=kettle&limit=50')).json();
        // Live changes in the middle of the replay: a new product, a price change and stock of a
        // product the replay has not reached yet, and the unlisting of one it has.
        const fresh = await publish('Rebuild kettle live', 4242);
        await stock(fresh.variants[1].id, 7);
        const [early, late] = [products[0]!, products[5]!];
        const { rows: replayed } = await search().query('SELECT product_id FROM rebuild_product_search.product_search_view WHERE product_id = ANY($1::uuid[])', [
          [early.id, late.id],
        ]);
        expect(replayed.map((r) => r.product_id), 'the first product was replayed, the last not yet').toEqual([early.id]);
        f.clock.advance(60_000);
        const priced = await f.t.request('POST', `/v1/seller/products/${late.id}/prices`, { token: seller.token, body: { variantId: late.variants[0].id, price: { amount: 11, currency: 'USD' } } });
        expect(priced.statusCode, priced.body).toBe(201);
        await f.t.request('POST', `/v1/seller/products/${early.id}/unlist`, { token: seller.token });
        await someOrders(3, '2026-03-02');
        live = { fresh, late: late.id, early: early.id };
        // They reach the inbox and wait there: the consumer is paused while the log is replayed.
        await eventually(async () => {
          const { rows } = await search().query<{ n: number }>("SELECT count(*)::int AS n FROM search_inbox_events WHERE consumer = 'search.product_search' AND status = 'pending'");
          expect(rows[0]!.n).toBeGreaterThanOrEqual(5);
          waitingDuringReplay = rows[0]!.n;
        });
        const { rows: applied } = await search().query<{ n: number }>(
          "SELECT (SELECT count(*)::int FROM product_search_view WHERE title = 'Rebuild kettle live') + (SELECT count(*)::int FROM rebuild_product_search.product_search_view WHERE title = 'Rebuild kettle live') AS n",
        );
        appliedDuringReplay = applied[0]!.n;
      },
    });
    // A second rebuild of the same read model is refused while this one runs.
    const again = await f.t.request('POST', '/v1/admin/read-models/product_search/rebuild', { token: admin });
    expect([again.statusCode, again.json().code]).toEqual([409, 'REBUILD_IN_PROGRESS']);
    await f.t.app.messaging.replayDone(started.id);
    expect(await f.t.app.messaging.replayStatus('search.product_search', started.id)).toMatchObject({ status: 'done', lastError: null });
    expect(live).toBeDefined();
    expect(waitingDuringReplay).toBeGreaterThanOrEqual(5);
    expect(appliedDuringReplay).toBe(0);
    expect(modelDuringReplay).toEqual(modelBefore);
    expect(searchDuringReplay).toEqual(searchBefore);
    await settled(f.t);

    const afterLive = await dumpTables(f.t, allTables);
    const rows = new Map((afterLive.product_search_view as Json[]).map((r) => [r.product_id, r]));
    expect(rows.get(live!.fresh.id)).toMatchObject({ status: 'published', in_stock: true, min_price: 4242 });
    expect(rows.get(live!.late)).toMatchObject({ min_price: 11 });
    expect(rows.get(live!.early)).toMatchObject({ status: 'unlisted' });
    expect(afterLive.order_list_view!.length).toBe(9);

    const quiet = await rebuild('product_search');
    expect(quiet.status).toBe('done');
    await settled(f.t);
    expect(await dumpTables(f.t, allTables)).toEqual(afterLive);
  });

  it('are not refused by a prune that deleted only events of types they do not read', async () => {
    // A reservation writes inventory events product_search does not read (it takes only the stock
    // events that can turn a product in or out of stock).
    const buyer = (await f.t.app.tokens.sign({ userId: newId(), roles: ['buyer'] }, f.clock.now())).token;
    const reserved = await f.t.request('POST', '/v1/reservations', {
      token: buyer,
      headers: { 'idempotency-key': newId() },
      body: { items: [{ variantId: products[1]!.variants[1].id, quantity: 1 }] },
    });
    expect(reserved.statusCode, reserved.body).toBe(201);
    await settled(f.t);
    const before = await dumpTables(f.t, READ_TABLES.product_search);
    const inventory = f.t.app.pools.get('inventory') as Pool;
    const t = domainTables('inventory');
    const kept = readModelEventTypes().filter((type) => type.startsWith('inventory.'));
    expect(kept).toContain('inventory.stock_adjusted.v1');
    expect(await pruneOutbox('inventory', inventory, 0, kept)).toBeGreaterThan(0);
    // The run names the types it deleted, with the highest seq of each; the kept ones are all there.
    const run = (await inventory.query<{ event_types: Record<string, number> }>(`SELECT event_types FROM ${t.outboxPrunes} ORDER BY id DESC LIMIT 1`)).rows[0];
    expect(Object.keys(run?.event_types ?? {})).toContain('inventory.stock_reserved.v1');
    expect(Object.keys(run?.event_types ?? {}).filter((type) => kept.includes(type))).toEqual([]);
    const left = await inventory.query<{ event_type: string }>(`SELECT DISTINCT event_type FROM ${t.outbox}`);
    expect(left.rows.map((r) => r.event_type).filter((type) => !kept.includes(type))).toEqual([]);
    const rebuilt = await rebuild('product_search');
    expect(rebuilt.status).toBe('done');
    expect(rebuilt.sources.find((s: Json) => s.source === 'inventory')).toMatchObject({ prunedUpToSeq: null });
    expect(await dumpTables(f.t, READ_TABLES.product_search)).toEqual(before);
    // A run recorded before the types were kept (event_types null) counts as every type deleted.
    const legacy = await inventory.query<{ id: string }>(
      `INSERT INTO ${t.outboxPrunes} (up_to_seq, rows_deleted, older_than) VALUES (1, 1, now()) RETURNING id`,
    );
    const refused = await f.t.request('POST', '/v1/admin/read-models/product_search/rebuild', { token: admin });
    expect([refused.statusCode, refused.json().code]).toEqual([409, 'EVENT_LOG_INCOMPLETE']);
    await inventory.query(`DELETE FROM ${t.outboxPrunes} WHERE id = $1`, [legacy.rows[0]?.id]);
  });

  it('are refused once the log was pruned, unless an incomplete log is accepted', async () => {
    const deleted = await pruneOutbox('orders', f.t.app.pools.get('orders') as Pool, 0);
    expect(deleted).toBeGreaterThan(0);
    const res = await f.t.request('POST', '/v1/admin/read-models/seller_dashboard/rebuild', { token: admin });
    expect([res.statusCode, res.json().code]).toEqual([409, 'EVENT_LOG_INCOMPLETE']);
    // The refusal changed nothing: the dashboard is still whole and live.
    expect((await search().query('SELECT count(*)::int AS n FROM order_list_view')).rows[0].n).toBe(9);
    const incomplete = await rebuild('seller_dashboard', '?allowIncompleteLog=true');
    expect(incomplete.status).toBe('done');
    expect(incomplete.sources.find((s: Json) => s.source === 'orders')).toMatchObject({ events: 0, prunedUpToSeq: expect.any(Number) });
    // What the pruned events said is gone from the rebuilt model: the documented limit.
    expect((await search().query('SELECT count(*)::int AS n FROM order_list_view')).rows[0].n).toBe(0);
  });

  it('that failed are named by /ready, which stays ready, until a rebuild is done', async () => {
    expect((await f.t.request('GET', '/ready')).json()).toEqual({ status: 'ready' });
    // What a failed replay (its connection lost, the process stopping) leaves: its consumer paused.
    await search().query(
      `INSERT INTO ${domainTables('search').consumerReplays} (id, consumer, status, last_error, finished_at) VALUES ($1, 'search.seller_dashboard', 'failed', 'connection lost', now())`,
      [newId()],
    );
    const stalled = await f.t.request('GET', '/ready');
    expect([stalled.statusCode, stalled.json()]).toEqual([200, { status: 'ready', stalledReadModels: ['seller_dashboard'] }]);
    expect((await rebuild('seller_dashboard', '?allowIncompleteLog=true')).status).toBe('done');
    expect((await f.t.request('GET', '/ready')).json()).toEqual({ status: 'ready' });
    // What a process that died during a replay leaves: a replay still recorded as running, whose
    // lock nobody holds any more.
    const abandoned = newId();
    await search().query(`INSERT INTO ${domainTables('search').consumerReplays} (id, consumer, status) VALUES ($1, 'search.seller_dashboard', 'running')`, [abandoned]);
    expect((await f.t.request('GET', '/ready')).json()).toEqual({ status: 'ready', stalledReadModels: ['seller_dashboard'] });
    // Read, it is failed (nothing runs it, nor will), not running for ever.
    const left = await f.t.request('GET', `/v1/admin/read-models/seller_dashboard/rebuilds/${abandoned}`, { token: admin });
    expect([left.statusCode, left.json().status, left.json().lastError]).toEqual([200, 'failed', ABANDONED_REPLAY_ERROR]);
    const listed = (await f.t.request('GET', '/v1/admin/read-models', { token: admin })).json().items.find((m: Json) => m.name === 'seller_dashboard');
    expect(listed.lastRebuild).toMatchObject({ rebuildId: abandoned, status: 'failed' });
    expect((await rebuild('seller_dashboard', '?allowIncompleteLog=true')).status).toBe('done');
    expect((await f.t.request('GET', '/ready')).json()).toEqual({ status: 'ready' });
  });

  it('asked for many times at once (more than the database pool holds), start one rebuild and refuse the others with 409, leaving none stuck', async () => {
    const answers = await Promise.all(Array.from({ length: 8 }, () => f.t.request('POST', '/v1/admin/read-models/product_search/rebuild', { token: admin })));
    const codes = answers.map((a) => a.statusCode).sort();
    expect(codes, answers.map((a) => a.body).join('\n')).toEqual([202, 409, 409, 409, 409, 409, 409, 409]);
    for (const refused of answers.filter((a) => a.statusCode === 409)) expect(refused.json().code).toBe('REBUILD_IN_PROGRESS');
    const started = answers.find((a) => a.statusCode === 202)!.json();
    // While it runs, /ready does not call it stalled: its lock is held.
    expect((await f.t.request('GET', '/ready')).json()).toEqual({ status: 'ready' });
    await f.t.app.messaging.replayDone(started.rebuildId);
    expect(await f.t.app.messaging.replayStatus('search.product_search', started.rebuildId)).toMatchObject({ status: 'done', lastError: null });
    // And the read model follows the catalog again.
    const current = (await f.t.request('GET', `/v1/seller/products/${products[5]!.id}`, { token: seller.token })).json();
    const renamed = await f.t.request('PATCH', `/v1/seller/products/${current.id}`, { token: seller.token, body: { version: current.version, title: 'Rebuilt percolator' } });
    expect(renamed.statusCode, renamed.body).toBe(200);
    await eventually(async () => {
      const found = await f.t.request('GET', '/v1/search/products?q=percolator');
      expect(found.json().items.map((p: Json) => p.productId)).toEqual([products[5]!.id]);
    });
  });

  it('price the rebuilt rows at the time the rebuild ends, not at their events\' times (a price that ended since is not brought back)', async () => {
    const kettle = products[4]!;
    const at = new Date(f.clock.now().getTime() + 60_000).toISOString();
    const changed = await f.t.request('POST', `/v1/seller/products/${kettle.id}/prices`, {
      token: seller.token,
      body: { variantId: kettle.variants[0].id, price: { amount: 9000, currency: 'USD' }, effectiveFrom: at },
    });
    expect(changed.statusCode, changed.body).toBe(201);
    await settled(f.t);
    f.clock.advance(120_000);
    const priceOf = async () =>
      (await search().query<{ min: string }>('SELECT min_price AS min FROM product_search_view WHERE product_id = $1', [kettle.id])).rows[0]?.min;
    // The sweep brings the live row to now; a rebuild, whose events all predate the change, must too.
    await eventually(async () => expect(Number(await priceOf())).toBe(5100));
    await rebuild('product_search');
    expect(Number(await priceOf())).toBe(5100);
  });

  it('fail, not done, when a log they have not reached yet is pruned while they run; the model is whole again once rebuilt', async () => {
    const before = await dumpTables(f.t, READ_TABLES.product_search);
    let pruned = -1;
    // product_search replays the products' log, then the inventory's: inventory's is pruned in between.
    const started = await f.t.app.messaging.startReplay('search.product_search', {
      batchSizeMax: 3,
      afterBatch: async (progress) => {
        if (pruned >= 0 || progress.source !== 'products') return;
        pruned = await pruneOutbox('inventory', f.t.app.pools.get('inventory') as Pool, 0);
      },
    });
    await f.t.app.messaging.replayDone(started.id);
    expect(pruned).toBeGreaterThan(0);
    const status = await f.t.app.messaging.replayStatus('search.product_search', started.id);
    expect(status).toMatchObject({ status: 'failed', lastError: expect.stringContaining('older events of inventory were pruned while the rebuild ran') });
    // The failed rebuild's copies were never swapped in, and /ready names the paused model.
    expect(await dumpTables(f.t, READ_TABLES.product_search)).toEqual(before);
    expect((await f.t.request('GET', '/ready')).json()).toEqual({ status: 'ready', stalledReadModels: ['product_search'] });
    // A rebuild now knows the log is incomplete: refused, unless that is accepted.
    const refused = await f.t.request('POST', '/v1/admin/read-models/product_search/rebuild', { token: admin });
    expect([refused.statusCode, refused.json().code]).toEqual([409, 'EVENT_LOG_INCOMPLETE']);
    expect((await rebuild('product_search', '?allowIncompleteLog=true')).status).toBe('done');
    expect((await f.t.request('GET', '/ready')).json()).toEqual({ status: 'ready' });
  });
});
