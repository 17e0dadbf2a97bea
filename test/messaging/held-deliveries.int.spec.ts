import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Pool, createPool, withTransaction } from '../../src/platform/db/pool.ts';
import type { DomainName } from '../../src/platform/domains.ts';
import { type OpsDeps, refreshOutboxGauges } from '../../src/platform/http/ops-routes.ts';
import { newId } from '../../src/platform/ids.ts';
import { createLogger } from '../../src/platform/logger.ts';
import { Metrics } from '../../src/platform/metrics.ts';
import { outboxStatus, pruneOutbox } from '../../src/platform/messaging/admin.ts';
import { appendEvents } from '../../src/platform/messaging/outbox.ts';
import type { InboxEntry } from '../../src/platform/messaging/inbox.ts';
import { applySettings } from '../../src/platform/messaging/batch-lock.ts';
import { OutboxRelay, relayClaim } from '../../src/platform/messaging/relay.ts';
import { InProcessTransport } from '../../src/platform/messaging/transport.ts';
import { type FreshDatabases, freshDatabases, throughTcpPort } from '../support/databases.ts';
import { eventually } from '../support/eventually.ts';
import { ThingHappened, recordingProbe } from './fixtures/probes.ts';

/**
 * The in-process transport reaches each subscriber domain's database itself. One that cannot be
 * reached (its server down, say) must not hold back the others: its events are held for it and it
 * gets them, in outbox order, once it can be reached again. Orders publishes; search and coupons
 * subscribe; coupons' database is "down" (a pool to a port where nothing listens, or one through a
 * proxy that stops answering) until a test gives it its real pool back. No consumer runs: the
 * inboxes are read directly.
 */
let dbs: FreshDatabases;
const pools = new Map<DomainName, Pool>();
const transportPools = new Map<DomainName, Pool>();
const down = createPool('postgres://postgres@127.0.0.1:1/nowhere', 1, 'test-down');
let transport: InProcessTransport;
const BATCH = 2;
/** The transport's delivery timeout here (5 s by default). */
const DELIVERY_TIMEOUT_MS = 300;

/** A TCP proxy to PostgreSQL that, once frozen, swallows bytes both ways (a host gone, a partition). */
function freezableProxy(host: string, port: number) {
  let frozen = false;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((downstream) => {
    const upstream = net.connect(port, host);
    for (const socket of [downstream, upstream]) {
      sockets.add(socket);
      socket.on('error', () => undefined);
      socket.on('close', () => sockets.delete(socket));
    }
    downstream.on('data', (d) => frozen || upstream.write(d));
    upstream.on('data', (d) => frozen || downstream.write(d));
    downstream.on('close', () => upstream.destroy());
    upstream.on('close', () => downstream.destroy());
  });
  return {
    listen: () => new Promise<number>((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port))),
    freeze: (on = true) => {
      frozen = on;
    },
    /** Cuts every connection through it, as a TCP timeout would in the end. */
    cut: () => {
      for (const socket of sockets) socket.destroy();
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
let proxy: ReturnType<typeof freezableProxy>;
let couponsViaProxy: Pool;

beforeAll(async () => {
  dbs = await freshDatabases();
  for (const t of dbs.targets) if (['orders', 'search', 'coupons'].includes(t.domain)) pools.set(t.domain, createPool(t.url, 3, `test-${t.domain}`));
  for (const [domain, pool] of pools) transportPools.set(domain, pool);
  transport = new InProcessTransport(transportPools, [recordingProbe('search.probe', 'search'), recordingProbe('coupons.probe', 'coupons')], DELIVERY_TIMEOUT_MS);
  const coupons = new URL(dbs.targets.find((t) => t.domain === 'coupons')!.url);
  proxy = freezableProxy(coupons.hostname, Number(coupons.port || 5432));
  couponsViaProxy = createPool(throughTcpPort(coupons, await proxy.listen()), 1, 'test-coupons-proxy');
});

afterAll(async () => {
  proxy?.cut();
  await Promise.all([...pools.values(), down, couponsViaProxy].map((p) => p?.end().catch(() => undefined)));
  await proxy?.close();
  await dbs?.drop();
});

/** Ends any backoff left by an earlier test (it is shared through the database). */
async function dueNow(): Promise<void> {
  await orders().query('UPDATE orders_held_subscribers SET retry_at = now()');
}

const orders = () => pools.get('orders')!;

/** Where coupons stands in the shared backoff: tries so far and when it is due again. */
async function heldCoupons(): Promise<{ attempts: number; retry_at: Date }> {
  const { rows } = await orders().query<{ attempts: number; retry_at: Date }>("SELECT attempts, retry_at FROM orders_held_subscribers WHERE subscriber = 'coupons'");
  return rows[0]!;
}
const relay = () => new OutboxRelay('orders', orders(), transport, BATCH, undefined, createLogger('silent'));

/** Writes events of one aggregate, each in its own transaction as real changes would; returns their ids in order. */
async function produce(aggregateId: string, ns: number[]): Promise<string[]> {
  const ids: string[] = [];
  for (const n of ns) {
    const [id] = await withTransaction(orders(), (tx) => appendEvents(tx, 'orders', [{ type: ThingHappened.type, aggregateId, aggregateType: 'probe', data: { n } }], null));
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
  for (let round = 0; round < 50 && (await r.runOnce()) === true; round++);
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
    // Published, so not in the outbox backlog: the held gauges tell it.
    const metrics = new Metrics();
    await refreshOutboxGauges({ metrics, pools: new Map([['orders', orders()]]) } as unknown as OpsDeps);
    const exposed = await metrics.registry.metrics();
    expect(exposed).toMatch(/bazaar_events_held\{domain="orders",subscriber="coupons"\} 5/);
    expect(exposed).toMatch(/bazaar_events_held_for_seconds\{domain="orders",subscriber="coupons"\} \d/);

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

  it('is given up after the delivery timeout when it hangs instead of refusing, so the others go on, and gets its events in order once it answers', async () => {
    const aggregateId = newId();
    transportPools.set('coupons', couponsViaProxy);
    const r = relay();
    const [e1] = await produce(aggregateId, [1]);
    await drain(r);
    expect(await arrived('coupons', aggregateId)).toEqual([e1]);
    // Nothing held before the freeze: on a loaded machine the first connection through the proxy
    // may outlast the delivery timeout, holding e1 although it arrived (its hold ends at the next round).
    await eventually(async () => {
      await dueNow();
      await drain(r);
      expect((await outboxStatus('orders', orders())).held).toEqual({});
    });

    proxy.freeze();
    const [e2] = await produce(aggregateId, [2]);
    await drain(r);
    const heldAfterFirst = await heldCoupons();
    expect(heldAfterFirst.attempts).toBe(1);
    const [e3] = await produce(aggregateId, [3]);
    // Another process's relay: the backoff is shared, so it does not try coupons again.
    await drain(relay());
    expect(await arrived('search', aggregateId)).toEqual([e1, e2, e3]);
    expect(await heldCoupons()).toEqual(heldAfterFirst);
    expect((await outboxStatus('orders', orders())).held).toEqual({ coupons: 2 });

    proxy.cut();
    proxy.freeze(false);
    await eventually(async () => {
      await drain(r);
      expect(await arrived('coupons', aggregateId)).toEqual([e1, e2, e3]);
    });
  });

  it('is tried again after a backoff shared by every process, not by each relay on its own', async () => {
    await dueNow();
    transportPools.set('coupons', couponsViaProxy);
    proxy.cut();
    proxy.freeze();
    await produce(newId(), [10]);
    const at = Date.now();
    await drain(relay());
    expect(Date.now() - at).toBeGreaterThanOrEqual(DELIVERY_TIMEOUT_MS - 20);
    const { rows } = await orders().query("SELECT attempts, retry_at > now() AS waiting, last_error FROM orders_held_subscribers WHERE subscriber = 'coupons'");
    expect(rows[0]).toMatchObject({ attempts: 1, waiting: true, last_error: expect.stringContaining('did not take a delivery') });
    // A second process, at once: coupons is not due, so its round does not try it again.
    const before = await heldCoupons();
    await produce(newId(), [11]);
    await drain(relay());
    expect(await heldCoupons()).toEqual(before);
    proxy.cut();
    proxy.freeze(false);
    transportPools.set('coupons', pools.get('coupons')!);
    await eventually(async () => {
      await drain(relay());
      expect((await outboxStatus('orders', orders())).held).toEqual({});
    });
  });

  it("ends a round only once every subscriber's branch is over, when a statement of one fails on the source connection", async () => {
    // Search and coupons both have held events; then forgetting coupons' fails (a test trigger
    // stands for any source-side error) while search's delivery is slow.
    class Controlled extends InProcessTransport {
      failing = new Set<DomainName>(['search', 'coupons']);
      slowMs = 0;
      finished: DomainName[] = [];
      override async deliverTo(subscriber: DomainName, entries: InboxEntry[]): Promise<void> {
        if (this.failing.has(subscriber)) throw new Error(`${subscriber} down`);
        if (subscriber === 'search') await new Promise((resolve) => setTimeout(resolve, this.slowMs));
        await super.deliverTo(subscriber, entries);
        this.finished.push(subscriber);
      }
    }
    await dueNow();
    const t = new Controlled(pools, [recordingProbe('search.probe', 'search'), recordingProbe('coupons.probe', 'coupons')]);
    const r = new OutboxRelay('orders', orders(), t, BATCH, undefined, createLogger('silent'));
    await produce(newId(), [20]);
    await drain(r);
    expect((await outboxStatus('orders', orders())).held).toEqual({ coupons: 1, search: 1 });
    await orders().query(`CREATE FUNCTION refuse_coupons() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN IF OLD.subscriber = 'coupons' THEN RAISE EXCEPTION 'refused'; END IF; RETURN OLD; END $$`);
    await orders().query('CREATE TRIGGER refuse_coupons BEFORE DELETE ON orders_held_deliveries FOR EACH ROW EXECUTE FUNCTION refuse_coupons()');
    try {
      await dueNow();
      t.failing.clear();
      t.slowMs = 300;
      await expect(r.runOnce()).rejects.toThrow(/refused/);
      // When the round has ended (rolled back, its connection released), search's branch is over too.
      expect(t.finished).toContain('search');
    } finally {
      await orders().query('DROP TRIGGER refuse_coupons ON orders_held_deliveries; DROP FUNCTION refuse_coupons()');
    }
    await dueNow();
    await drain(r);
    expect((await outboxStatus('orders', orders())).held).toEqual({});
  });

  it('reads the held rows of several subscribers due in one round one after another on its connection, never two queries at once', async () => {
    class Refusing extends InProcessTransport {
      failing = new Set<DomainName>(['search', 'coupons']);
      override async deliverTo(subscriber: DomainName, entries: InboxEntry[]): Promise<void> {
        if (this.failing.has(subscriber)) throw new Error(`${subscriber} down`);
        await super.deliverTo(subscriber, entries);
      }
    }
    await dueNow();
    const t = new Refusing(pools, [recordingProbe('search.probe', 'search'), recordingProbe('coupons.probe', 'coupons')]);
    // The relay's connection, watched: a query sent while another is still running on it is counted.
    const source = orders();
    const connect = source.connect.bind(source);
    let overlapping = 0;
    let queries = 0;
    (source as unknown as { connect: (...args: unknown[]) => unknown }).connect = (...args: unknown[]) => {
      // The pool's own query connects with a callback: left as it is.
      if (args.length > 0) return (connect as (...a: unknown[]) => unknown)(...args);
      return watched();
    };
    const watched = async () => {
      const client = (await connect()) as unknown as { query: (...args: unknown[]) => Promise<unknown> };
      const query = client.query.bind(client);
      let running = 0;
      client.query = async (...args: unknown[]) => {
        queries += 1;
        if (running > 0) overlapping += 1;
        running += 1;
        try {
          return await query(...args);
        } finally {
          running -= 1;
        }
      };
      return client;
    };
    try {
      const r = new OutboxRelay('orders', source, t, BATCH, undefined, createLogger('silent'));
      const aggregateId = newId();
      const events = await produce(aggregateId, [30, 31]);
      await drain(r);
      expect((await outboxStatus('orders', source)).held).toEqual({ coupons: 2, search: 2 });
      t.failing.clear();
      await dueNow();
      queries = 0;
      await drain(r);
      expect(await arrived('search', aggregateId)).toEqual(events);
      expect(await arrived('coupons', aggregateId)).toEqual(events);
      expect(queries).toBeGreaterThan(2);
      expect(overlapping).toBe(0);
    } finally {
      delete (source as unknown as { connect?: unknown }).connect;
    }
  });

  it('finds the subscribers with held events without reading the held rows (a long outage holds millions)', async () => {
    const client = await orders().connect();
    try {
      const { claim, settings } = relayClaim('orders_outbox_events', 500, 'orders_held_subscribers');
      await client.query(['BEGIN', applySettings(settings), "SELECT set_config('bazaar.batch_lock', 'true', true)"].join('; '));
      const { rows } = await client.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${claim}`);
      const plan = rows.map((r) => r['QUERY PLAN']).join('\n');
      expect(plan).toMatch(/orders_held_subscribers/);
      expect(plan).not.toMatch(/orders_held_deliveries/);
    } finally {
      await client.query('ROLLBACK');
      client.release();
    }
  });
});
