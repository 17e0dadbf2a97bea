import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Pool, createPool, withTransaction } from '../../src/platform/db/pool.ts';
import type { DomainName } from '../../src/platform/domains.ts';
import { newId } from '../../src/platform/ids.ts';
import { createLogger } from '../../src/platform/logger.ts';
import { outboxStatus, pruneOutbox } from '../../src/platform/messaging/admin.ts';
import { appendEvents } from '../../src/platform/messaging/outbox.ts';
import { OutboxRelay } from '../../src/platform/messaging/relay.ts';
import { InProcessTransport } from '../../src/platform/messaging/transport.ts';
import { type FreshDatabases, freshDatabases } from '../support/databases.ts';
import { eventually } from '../support/eventually.ts';
import { ThingHappened, recordingProbe } from './fixtures/probes.ts';

/**
 * The in-process transport reaches each subscriber domain's database itself. One that cannot be
 * reached (its server down, say) must not hold back the others: its events are held for it and it
 * gets them, in outbox order, once it can be reached again. Orders publishes; search and coupons
 * subscribe; coupons' database is "down" (a pool to a port where nothing listens) until a test
 * gives it its real pool back. No consumer runs: the inboxes are read directly.
 */
let dbs: FreshDatabases;
const pools = new Map<DomainName, Pool>();
const transportPools = new Map<DomainName, Pool>();
const down = createPool('postgres://postgres@127.0.0.1:1/nowhere', 1, 'test-down');
let transport: InProcessTransport;
const BATCH = 2;

beforeAll(async () => {
  dbs = await freshDatabases();
  for (const t of dbs.targets) if (['orders', 'search', 'coupons'].includes(t.domain)) pools.set(t.domain, createPool(t.url, 3, `test-${t.domain}`));
  for (const [domain, pool] of pools) transportPools.set(domain, pool);
  transport = new InProcessTransport(transportPools, [recordingProbe('search.probe', 'search'), recordingProbe('coupons.probe', 'coupons')]);
});

afterAll(async () => {
  await Promise.all([...pools.values(), down].map((p) => p.end()));
  await dbs?.drop();
});

const orders = () => pools.get('orders')!;
const relay = () => new OutboxRelay('orders', orders(), transport, BATCH, undefined, createLogger('silent'));

/** Writes events of one aggregate, each in its own transaction as real changes would; returns their ids in order. */
async function produce(aggregateId: string, ns: number[]): Promise<string[]> {
  const ids: string[] = [];
  for (const n of ns) {
    const [id] = await withTransaction(orders(), (tx) => appendEvents(tx, 'orders', [{ type: ThingHappened.type, aggregateId, aggregateType: 'probe', data: { n } }]));
    ids.push(id!);
  }
  return ids;
}

/** The events of an aggregate in a subscriber's inbox, in the order they arrived. */
async function arrived(domain: DomainName, aggregateId: string): Promise<string[]> {
  const { rows } = await pools.get(domain)!.query<{ event_id: string }>(`SELECT event_id FROM ${domain}_inbox_events WHERE aggregate_id = $1 ORDER BY seq`, [
    aggregateId,
  ]);
  return rows.map((r) => r.event_id);
}

async function drain(r: OutboxRelay): Promise<void> {
  for (let round = 0; round < 50 && (await r.runOnce()); round++);
}

describe('a subscriber whose database cannot be reached', () => {
  it('holds back only that subscriber, and gives it every event in outbox order once it is back, behind which newer events wait', async () => {
    const aggregateId = newId();
    const r = relay();
    transportPools.set('coupons', down);
    const first = await produce(aggregateId, [1, 2, 3]);
    await drain(r);
    // Search has them at once; coupons has nothing, and the rows are published (not re-sent to search).
    expect(await arrived('search', aggregateId)).toEqual(first);
    expect(await arrived('coupons', aggregateId)).toEqual([]);
    const status = await outboxStatus('orders', orders());
    expect(status.backlog).toBe(0);
    expect(status.held).toEqual({ coupons: 3 });

    // Written while coupons is still down: search gets it, coupons' copy waits behind the others.
    const more = await produce(aggregateId, [4, 5]);
    await drain(r);
    expect(await arrived('search', aggregateId)).toEqual([...first, ...more]);
    expect((await outboxStatus('orders', orders())).held).toEqual({ coupons: 5 });

    // Back: the held events go first (over several rounds of BATCH), then one written meanwhile.
    transportPools.set('coupons', pools.get('coupons')!);
    const last = await produce(aggregateId, [6]);
    await eventually(async () => {
      await drain(r);
      expect(await arrived('coupons', aggregateId)).toEqual([...first, ...more, ...last]);
    });
    expect(await arrived('search', aggregateId)).toEqual([...first, ...more, ...last]);
    expect((await outboxStatus('orders', orders())).held).toEqual({});
  });

  it('keeps the outbox rows of events still held for it when old published rows are pruned', async () => {
    const aggregateId = newId();
    transportPools.set('coupons', down);
    const r = relay();
    const [held] = await produce(aggregateId, [7]);
    await drain(r);
    await pruneOutbox('orders', orders(), 0);
    const { rows } = await orders().query('SELECT count(*)::int AS n FROM orders_outbox_events WHERE id = $1', [held]);
    expect(rows[0].n).toBe(1);

    transportPools.set('coupons', pools.get('coupons')!);
    await eventually(async () => {
      await drain(r);
      expect(await arrived('coupons', aggregateId)).toEqual([held]);
    });
    await pruneOutbox('orders', orders(), 0);
    const after = await orders().query('SELECT count(*)::int AS n FROM orders_outbox_events WHERE id = $1', [held]);
    expect(after.rows[0].n).toBe(0);
  });
});
