import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { Type } from '@sinclair/typebox';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defineEvent, registerContracts } from '../../src/contracts/index.ts';
import { type Pool, createPool } from '../../src/platform/db/pool.ts';
import { newId } from '../../src/platform/ids.ts';
import { createLogger } from '../../src/platform/logger.ts';
import type { EventEnvelope } from '../../src/platform/messaging/envelope.ts';
import { NatsTransport } from '../../src/platform/messaging/nats-transport.ts';
import type { Subscription } from '../../src/platform/messaging/subscription.ts';
import { type FreshDatabases, freshDatabases } from '../support/databases.ts';
import { eventually } from '../support/eventually.ts';
import { requireService } from '../support/services.ts';

/**
 * Two marketplace processes on one NATS stream share every durable: JetStream would split a
 * durable's messages between them, and their inserts would interleave an aggregate's events in the
 * inbox. One process leads each durable at a time; the other takes over when it stops.
 */
const natsUrl = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';
const natsAvailable = await requireService('nats', natsUrl);

const counted = defineEvent('probe.lead_counted.v1', Type.Object({ n: Type.Integer() }, { additionalProperties: false }));
registerContracts(counted);
const probe: Subscription = { consumer: 'search.lead-probe', domain: 'search', events: [counted.type], async handle() {} };

const suffix = randomBytes(4).toString('hex');
const stream = `TEST_LEAD_${suffix}`;
const log = createLogger(process.env.TEST_LOG ?? 'silent');
let dbs: FreshDatabases;
let pool: Pool;
const started: NatsTransport[] = [];

beforeAll(async () => {
  if (!natsAvailable) return;
  dbs = await freshDatabases();
  pool = createPool(dbs.targets.find((t) => t.domain === 'search')!.url, 4, 'nats-lead-test');
});

afterAll(async () => {
  for (const t of started) await t.stop();
  if (natsAvailable) await NatsTransport.deleteStream(natsUrl, stream);
  await pool?.end();
  await dbs?.drop();
});

async function startProcess(url = natsUrl): Promise<NatsTransport> {
  const t = new NatsTransport({ url, stream, subjectPrefix: `l${suffix}`, leadRetryMs: 50 }, new Map([['search', pool]]), [probe], log);
  await t.start();
  started.push(t);
  return t;
}

function events(aggregate: string, from: number, count: number): EventEnvelope[] {
  return Array.from({ length: count }, (_, i) => ({
    specversion: '1.0',
    id: newId(),
    type: counted.type,
    source: '/bazaar/orders',
    subject: aggregate,
    time: new Date().toISOString(),
    datacontenttype: 'application/json',
    correlationid: newId(),
    causationid: null,
    aggregatetype: 'probe',
    data: { n: from + i },
  })) as unknown as EventEnvelope[];
}

async function inboxOrder(aggregate: string): Promise<number[]> {
  const { rows } = await pool.query<{ n: number }>(
    `SELECT (envelope->'data'->>'n')::int AS n FROM search_inbox_events WHERE consumer = $1 AND aggregate_id = $2 ORDER BY seq`,
    [probe.consumer, aggregate],
  );
  return rows.map((r) => r.n);
}

const upTo = (n: number) => Array.from({ length: n }, (_, i) => i);

describe.skipIf(!natsAvailable)('NATS consumers with several processes', () => {
  let a: NatsTransport;
  let b: NatsTransport;
  const aggregate = newId();

  it("stores an aggregate's events in the inbox in stream order, one process leading each durable", async () => {
    a = await startProcess();
    b = await startProcess();
    expect([a.leading.length, b.leading.length].sort()).toEqual([0, 1]);
    for (let from = 0; from < 2000; from += 100) await (from % 200 === 0 ? a : b).publish('orders', events(aggregate, from, 100));
    await eventually(async () => expect(await inboxOrder(aggregate)).toHaveLength(2000), { timeoutMs: 20_000 });
    expect(await inboxOrder(aggregate)).toEqual(upTo(2000));
  });

  it('hands the lead to the other process when the leader stops, losing and reordering nothing', async () => {
    const [leader, follower] = a.leading.length > 0 ? [a, b] : [b, a];
    const publishing = (async () => {
      for (let from = 2000; from < 3000; from += 50) await follower.publish('orders', events(aggregate, from, 50));
    })();
    await eventually(async () => expect((await inboxOrder(aggregate)).length).toBeGreaterThan(2100), { timeoutMs: 10_000 });
    await leader.stop();
    await eventually(async () => expect(follower.leading).toHaveLength(1), { timeoutMs: 5000 });
    await publishing;
    await eventually(async () => expect(await inboxOrder(aggregate)).toHaveLength(3000), { timeoutMs: 20_000 });
    expect(await inboxOrder(aggregate)).toEqual(upTo(3000));
  });

  it("puts first, when it takes the lead, what the lost leader was given and never stored (not 30 s later, behind newer events)", async () => {
    // A third process, started while another leads, follows (and publishes here).
    const publisher = await startProcess();
    expect(publisher.leading).toEqual([]);
    // The leader is handed 100 events but cannot store them: the inbox is locked.
    const blocker = await pool.connect();
    await blocker.query('BEGIN');
    await blocker.query('LOCK TABLE search_inbox_events IN EXCLUSIVE MODE');
    await publisher.publish('orders', events(aggregate, 3000, 100));
    await new Promise((resolve) => setTimeout(resolve, 300));
    // Its lead connection dies (as when its process is killed): the lock goes with it.
    await pool.query(
      `SELECT pg_terminate_backend(l.pid) FROM pg_locks l JOIN pg_stat_activity s ON s.pid = l.pid
        WHERE l.locktype = 'advisory' AND l.granted AND s.application_name = 'bazaar-nats-lead'`,
    );
    await blocker.query('COMMIT');
    blocker.release();
    await publisher.publish('orders', events(aggregate, 3100, 100));
    await eventually(async () => expect(await inboxOrder(aggregate)).toHaveLength(3200), { timeoutMs: 10_000 });
    expect(await inboxOrder(aggregate)).toEqual(upTo(3200));
  });
});

describe.skipIf(!natsAvailable)('a NATS leader whose connection drops with deliveries in flight', () => {
  /** A TCP relay to NATS that can swallow what the server sends and then cut every connection. */
  async function cuttableRelay() {
    let swallowing = false;
    const sockets = new Set<net.Socket>();
    const server = net.createServer((client) => {
      const upstream = net.connect(Number(new URL(natsUrl).port) || 4222, new URL(natsUrl).hostname);
      sockets.add(client).add(upstream);
      client.on('data', (d) => upstream.write(d));
      upstream.on('data', (d) => {
        if (!swallowing) client.write(d);
      });
      const close = () => {
        client.destroy();
        upstream.destroy();
      };
      for (const s of [client, upstream]) s.on('close', close).on('error', close);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return {
      url: `nats://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
      async cut() {
        swallowing = true;
        await new Promise((resolve) => setTimeout(resolve, 150));
        for (const s of sockets) s.destroy();
        sockets.clear();
        swallowing = false;
      },
      /** NATS out of reach: connections cut, new ones refused, until up(). */
      async down() {
        const closed = new Promise((resolve) => server.close(resolve));
        for (const s of sockets) s.destroy();
        sockets.clear();
        await closed;
      },
      up: (port: number) => new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve)),
      close: () => server.close(),
    };
  }

  it('stores what was lost on the way before anything newer (not 30 s later, behind it)', async () => {
    for (const t of started.splice(0)) await t.stop();
    const relay = await cuttableRelay();
    try {
      const leader = await startProcess(relay.url);
      const publisher = await startProcess();
      expect(leader.leading).toHaveLength(1);
      const aggregate = newId();
      let n = 0;
      const publishing = (async () => {
        for (let round = 0; round < 150; round++) {
          await publisher.publish('orders', events(aggregate, n, 20));
          n += 20;
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
      })();
      await new Promise((resolve) => setTimeout(resolve, 800));
      await relay.cut();
      await publishing;
      // Well under JetStream's 30 s redelivery, counted from the cut: what was lost comes back by the
      // leader's own recovery or not in time. A slow machine needs about 15 s for the 3,000 events.
      await eventually(async () => expect(await inboxOrder(aggregate)).toHaveLength(n), { timeoutMs: 22_000 });
      expect(await inboxOrder(aggregate)).toEqual(upTo(n));
    } finally {
      relay.close();
    }
  });

  it('gives up its leads to a process that reaches it, fails its publishing at once, says so, and leads again once NATS is back', async () => {
    for (const t of started.splice(0)) await t.stop();
    const relay = await cuttableRelay();
    const port = Number(new URL(relay.url).port);
    try {
      const cutOff = await startProcess(relay.url);
      const healthy = await startProcess();
      expect([cutOff.leading.length, healthy.leading.length, cutOff.problems()]).toEqual([1, 0, []]);
      await relay.down();
      // Its database connection is fine, so only knowing NATS is gone makes it let go.
      // Seconds on a loaded machine (a full test run beside other work took more than 10).
      await eventually(async () => expect([cutOff.leading.length, healthy.leading.length, cutOff.problems()]).toEqual([0, 1, ['NATS is not reachable']]), { timeoutMs: 20_000 });
      const aggregate = newId();
      await healthy.publish('orders', events(aggregate, 0, 50));
      await eventually(async () => expect(await inboxOrder(aggregate)).toEqual(upTo(50)), { timeoutMs: 10_000 });
      // Refused as it is, not after waiting out a publish timeout with the relay's batch held.
      await expect(cutOff.publish('orders', events(aggregate, 50, 1))).rejects.toThrow('NATS is not reachable');
      await relay.up(port);
      await eventually(async () => expect(cutOff.problems()).toEqual([]), { timeoutMs: 15_000 });
      await cutOff.publish('orders', events(aggregate, 50, 50));
      await eventually(async () => expect(await inboxOrder(aggregate)).toEqual(upTo(100)), { timeoutMs: 10_000 });
    } finally {
      relay.close();
    }
  });
});

describe.skipIf(!natsAvailable)('a NATS lead whose database connection dies while it is being taken', () => {
  it('leads only while it holds the lock: the lead is taken again, and nothing waits 30 s', async () => {
    for (const t of started.splice(0)) await t.stop();
    // The lead connection dies right after the lock was granted, before consuming starts.
    const query = pg.Client.prototype.query;
    let armed = true;
    pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
      const answer = (query as (...a: unknown[]) => unknown).apply(this, args);
      const text = typeof args[0] === 'string' ? args[0] : '';
      if (!armed || !text.includes('pg_try_advisory_lock') || !(answer instanceof Promise)) return answer;
      armed = false;
      const client = this as pg.Client & { processID: number };
      return answer.then(async (result) => {
        const ended = new Promise((resolve) => client.once('end', resolve));
        await pool.query('SELECT pg_terminate_backend($1)', [client.processID]);
        await ended;
        return result;
      });
    } as typeof query;
    let a: NatsTransport;
    try {
      a = await startProcess();
    } finally {
      pg.Client.prototype.query = query;
    }
    // Advisory locks of this database only: test files running alongside hold their own.
    const locksHeld = async () =>
      (
        await pool.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM pg_locks
            WHERE locktype = 'advisory' AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
        )
      ).rows[0]!.n;
    // Taking the lead again includes a catch-up read of the stream: seconds on a loaded CI machine,
    // still under the 30 s ack wait this test is about.
    await eventually(async () => expect([a.leading.length, await locksHeld()]).toEqual([1, 1]), { timeoutMs: 25_000 });
    const aggregate = newId();
    for (let from = 0; from < 100; from += 20) await a.publish('orders', events(aggregate, from, 20));
    await eventually(async () => expect(await inboxOrder(aggregate)).toHaveLength(100), { timeoutMs: 15_000 });
    expect(await inboxOrder(aggregate)).toEqual(upTo(100));
  });

  it('sends one query at a time on its lead connection, whatever number of durables store at once (pg@9 refuses concurrent queries on one client)', async () => {
    const second: Subscription = { consumer: 'search.lead-probe-two', domain: 'search', events: [counted.type], async handle() {} };
    const ownStream = `TEST_LEAD_TWO_${suffix}`;
    const t = new NatsTransport({ url: natsUrl, stream: ownStream, subjectPrefix: `m${suffix}`, leadRetryMs: 50 }, new Map([['search', pool]]), [probe, second], log);
    const query = pg.Client.prototype.query;
    let overlapping = 0;
    let leadQueries = 0;
    pg.Client.prototype.query = function (this: pg.Client & { _activeQuery?: unknown; _queryQueue: unknown[] }, ...args: unknown[]) {
      if ((this as unknown as { connectionParameters: { application_name?: string } }).connectionParameters.application_name === 'bazaar-nats-lead') {
        leadQueries++;
        if (this._activeQuery || this._queryQueue.length > 0) overlapping++;
      }
      return (query as (...a: unknown[]) => unknown).apply(this, args);
    } as typeof query;
    try {
      await t.start();
      await eventually(async () => expect(t.leading.length).toBe(2), { timeoutMs: 15_000 });
      const aggregate = newId();
      await Promise.all([0, 1, 2, 3].map((k) => t.publish('orders', events(aggregate, k * 100, 100))));
      await eventually(
        async () => {
          const { rows } = await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM search_inbox_events WHERE aggregate_id = $1', [aggregate]);
          expect(rows[0]!.n).toBe(800);
        },
        { timeoutMs: 20_000 },
      );
    } finally {
      pg.Client.prototype.query = query;
      await t.stop();
      await NatsTransport.deleteStream(natsUrl, ownStream);
    }
    expect(leadQueries).toBeGreaterThan(800);
    expect(overlapping).toBe(0);
  });
});
