import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveTargets } from '../../src/platform/db/databases.ts';
import { commitSignals, type Pool, withTransaction } from '../../src/platform/db/pool.ts';
import { newId } from '../../src/platform/ids.ts';
import { createLogger } from '../../src/platform/logger.ts';
import { InboxConsumer } from '../../src/platform/messaging/consumer.ts';
import { insertIntoInbox } from '../../src/platform/messaging/inbox.ts';
import { toEnvelope } from '../../src/platform/messaging/relay.ts';
import { appendEvents, type NewEvent } from '../../src/platform/messaging/outbox.ts';
import { InProcessTransport, type Transport } from '../../src/platform/messaging/transport.ts';
import { type TestApp, startTestApp } from '../support/app.ts';
import { eventually, roundWhenFree } from '../support/eventually.ts';
import { ThingEchoed, ThingHappened, createProbeTable, otherDelivery, recordingProbe } from './fixtures/probes.ts';

/**
 * Events that no subscriber of the process takes are written published, and wake no relay: the
 * relay would claim them, give them to nobody and mark them (ADR 0008, point 21). Here the probe
 * takes probe.thing_happened.v1 into the search inbox; nobody takes probe.thing_echoed.v1.
 */
describe('events no subscriber takes', () => {
  let t: TestApp;
  let orders: Pool;
  let wakes = 0;
  let stopCounting: () => void;

  const happened = (n: number): NewEvent => ({ type: ThingHappened.type, aggregateId: newId(), aggregateType: 'probe', data: { n } });
  const echoed = (n: number): NewEvent => ({ type: ThingEchoed.type, aggregateId: newId(), aggregateType: 'probe', data: { n, of: newId() } });

  async function write(events: NewEvent[]): Promise<string[]> {
    return withTransaction(orders, (tx) => appendEvents(tx, 'orders', events, null));
  }

  /** Each row's state: written published (published_at is its created_at, the same transaction's now()), pending, or relayed later. */
  async function states(ids: string[]): Promise<string[]> {
    const { rows } = await orders.query<{ state: string }>(
      `SELECT CASE WHEN published_at IS NULL THEN 'pending' WHEN published_at = created_at THEN 'written published' ELSE 'relayed' END AS state
         FROM orders_outbox_events WHERE id = ANY($1::uuid[]) ORDER BY seq`,
      [ids],
    );
    return rows.map((r) => r.state);
  }

  /** What the probe's afterCommit saw: its applications readable from another connection at that moment. */
  const seenAfterCommit: Promise<number>[] = [];
  const countApplied = async () => {
    const { rows } = await (t.app.pools.get('search') as Pool).query<{ n: number }>("SELECT count(*)::int AS n FROM probe_effects WHERE consumer = 'search.unrouted-probe'");
    return rows[0]?.n ?? 0;
  };

  /**
   * Relayed means in the search inbox; the consumer's round applies it after, so the effect is
   * awaited (found flaky in CI twice: read at once, it was sometimes not applied yet).
   */
  async function expectApplied(eventId: string): Promise<void> {
    await eventually(async () => {
      const { rows } = await (t.app.pools.get('search') as Pool).query('SELECT 1 FROM probe_effects WHERE event_id = $1', [eventId]);
      expect(rows).toHaveLength(1);
    }, { timeoutMs: 5_000 });
  }

  beforeAll(async () => {
    const probe = { ...recordingProbe('search.unrouted-probe', 'search'), afterCommit: () => void seenAfterCommit.push(countApplied()) };
    t = await startTestApp({ RELAY_POLL_MS: '60000' }, { extraSubscriptions: [probe] });
    await createProbeTable(t.app.pools.get('search') as Pool);
    orders = t.app.pools.get('orders') as Pool;
    stopCounting = commitSignals(orders).on('outbox', () => {
      wakes++;
    });
  });

  afterAll(async () => {
    stopCounting();
    await t.close();
  });

  it('writes an event nobody takes as published, and wakes no relay for it', async () => {
    const before = wakes;
    const ids = await write([echoed(1), echoed(2)]);
    expect(await states(ids)).toEqual(['written published', 'written published']);
    expect(wakes).toBe(before);
  });

  it('leaves an event a subscriber takes pending, wakes the relay, and the relay delivers it', async () => {
    const before = wakes;
    const [id] = await write([happened(1)]);
    expect(wakes).toBe(before + 1);
    await eventually(async () => expect(await states([id as string])).toEqual(['relayed']), { timeoutMs: 5_000 });
    await expectApplied(id as string);
    // The consumer told the subscription once its round had committed: the effect was readable.
    await eventually(async () => expect(seenAfterCommit.length).toBeGreaterThan(0));
    expect(await seenAfterCommit[0]).toBe(1);
    // A round that applies nothing tells nobody.
    const told = seenAfterCommit.length;
    const search = t.app.messaging.consumers.get('search');
    if (!search) throw new Error('no consumer of the search inbox');
    expect(await roundWhenFree(() => search.runOnce())).toBe(false);
    expect(seenAfterCommit.length).toBe(told);
  });

  it('keeps a round that committed when a hook after its commit throws (the hook is logged)', async () => {
    const search = t.app.pools.get('search') as Pool;
    const throwing = { ...recordingProbe('search.throwing-hook', 'search'), afterCommit: () => {
      throw new Error('hook failed');
    } };
    const consumer = new InboxConsumer(
      'search',
      search,
      [throwing],
      { batchSizeMax: 50, attemptsMax: 3, retryDelayBaseMs: 60_000, retryDelayMaxMs: 60_000 },
      t.app.clock,
      undefined,
      createLogger('silent'),
    );
    const event = toEnvelope({
      id: newId(),
      aggregate_id: newId(),
      aggregate_type: 'probe',
      event_type: ThingHappened.type,
      payload: { n: 1 },
      headers: { source: '/bazaar/orders', time: new Date().toISOString(), correlationid: newId(), causationid: null },
    });
    await insertIntoInbox(search, 'search', [{ consumer: 'search.throwing-hook', event }]);
    // The round itself must not throw.
    expect(await roundWhenFree(() => consumer.runOnce())).toBe(false);
    const { rows } = await search.query("SELECT status FROM search_inbox_events WHERE consumer = 'search.throwing-hook' AND event_id = $1", [event.id]);
    expect(rows).toEqual([{ status: 'processed' }]);
  });

  it('writes published the events of a batch that nobody takes, leaves pending those a subscriber takes, and wakes the relay for them', async () => {
    const before = wakes;
    const ids = await write([echoed(3), happened(2), echoed(4)]);
    expect(wakes).toBe(before + 1);
    expect((await states(ids)).filter((_s, i) => i !== 1)).toEqual(['written published', 'written published']);
    await eventually(async () => expect(await states(ids)).toEqual(['written published', 'relayed', 'written published']), { timeoutMs: 5_000 });
    await expectApplied(ids[1] as string);
  });

  it('leaves every event pending while a delivery through a broker runs in the process (its subscribers are elsewhere)', async () => {
    const published: string[] = [];
    const broker: Transport = {
      name: 'test-broker',
      start: async () => undefined,
      stop: async () => undefined,
      publish: async (_source, events) => {
        published.push(...events.map((e) => e.id));
      },
    };
    const target = resolveTargets(t.app.config, t.app.config.databaseUrl).find((x) => x.domain === 'orders');
    if (!target) throw new Error('no orders database');
    const messaging = otherDelivery([{ domain: 'orders', url: target.url, pool: orders }], broker, [], t.app.clock);
    await messaging.start();
    try {
      const ids = await write([echoed(4)]);
      expect(await states(ids)).not.toContain('written published');
      // One of the two relays of the orders outbox takes it: the broker's gets it, or the
      // in-process one's gives it to nobody; either way it went through a relay.
      await eventually(async () => expect(await states(ids)).toEqual(['relayed']), { timeoutMs: 5_000 });
    } finally {
      await messaging.stop();
    }
    // Once the broker's delivery has stopped, the in-process plan alone decides again.
    expect(await states(await write([echoed(5)]))).toEqual(['written published']);
  });

  it("leaves pending the events of another app of the process that runs no delivery (this app's plan is not its databases')", async () => {
    const quiet = await startTestApp({}, { runMessaging: false });
    try {
      const [id] = await withTransaction(quiet.app.pools.get('orders') as Pool, (tx) => appendEvents(tx, 'orders', [echoed(7)], null));
      const { rows } = await (quiet.app.pools.get('orders') as Pool).query('SELECT published_at FROM orders_outbox_events WHERE id = $1', [id]);
      expect(rows).toEqual([{ published_at: null }]);
    } finally {
      await quiet.close();
    }
    // Once it is gone, this app's plan decides again.
    expect(await states(await write([echoed(8)]))).toEqual(['written published']);
  });

  it('leaves events pending in a process whose delivery is stopped, or relays other domains only (the next relay to run decides)', async () => {
    await t.app.messaging.stop();
    expect(await states(await write([echoed(6)]))).toEqual(['pending']);
    const search = resolveTargets(t.app.config, t.app.config.databaseUrl).find((x) => x.domain === 'search');
    if (!search) throw new Error('no search database');
    const searchPool = t.app.pools.get('search') as Pool;
    const searchOnly = otherDelivery([{ domain: 'search', url: search.url, pool: searchPool }], new InProcessTransport(t.app.pools, []), [], t.app.clock);
    await searchOnly.start();
    try {
      expect(await states(await write([echoed(9)]))).toEqual(['pending']);
    } finally {
      await searchOnly.stop();
    }
  });
});
