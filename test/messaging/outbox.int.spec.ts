import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allContracts } from '../../src/contracts/index.ts';
import { systemClock } from '../../src/platform/clock.ts';
import { type Pool, createPool, withTransaction } from '../../src/platform/db/pool.ts';
import type { DomainName } from '../../src/platform/domains.ts';
import { isUuidV7, newId } from '../../src/platform/ids.ts';
import { createLogger } from '../../src/platform/logger.ts';
import { BATCH_LOCK_HELD, type RoundSettings, applySettings, beginAndClaim, takeBatchLock } from '../../src/platform/messaging/batch-lock.ts';
import { CONSUMER_ROUND_SETTINGS, InboxConsumer, markProcessed } from '../../src/platform/messaging/consumer.ts';
import { runTogether } from '../../src/platform/db/statements.ts';
import type { Trace } from '../../src/platform/messaging/envelope.ts';
import { ContractViolation, appendEvents, outboxStatement } from '../../src/platform/messaging/outbox.ts';
import { OutboxRelay, relayClaim, toEnvelope } from '../../src/platform/messaging/relay.ts';
import { InProcessTransport } from '../../src/platform/messaging/transport.ts';
import { BUSY, WorkerLoop } from '../../src/platform/messaging/worker-loop.ts';
import { eventually } from '../support/eventually.ts';
import { type FreshDatabases, freshDatabases } from '../support/databases.ts';
import { ThingEchoed, ThingHappened, createProbeTable, recordingProbe } from './fixtures/probes.ts';

const log = createLogger('silent');
let dbs: FreshDatabases;
const pools = new Map<DomainName, Pool>();
const orders = () => pools.get('orders')!;
const search = () => pools.get('search')!;

beforeAll(async () => {
  dbs = await freshDatabases();
  for (const t of dbs.targets) if (t.domain === 'orders' || t.domain === 'search') pools.set(t.domain, createPool(t.url, 3, `test-${t.domain}`));
  await createProbeTable(search());
});

afterAll(async () => {
  await Promise.all([...pools.values()].map((p) => p.end()));
  await dbs?.drop();
});

async function outboxRows(pool: Pool, where = 'true', params: unknown[] = []) {
  const { rows } = await pool.query(
    `SELECT id, aggregate_id, aggregate_type, event_type, payload, headers, published_at FROM orders_outbox_events WHERE ${where} ORDER BY seq`,
    params,
  );
  return rows;
}

async function appendOne(data: unknown = { n: 1 }, aggregateId = newId(), trace: Trace | null = null): Promise<string> {
  const [id] = await withTransaction(orders(), (tx) => appendEvents(tx, 'orders', [{ type: ThingHappened.type, aggregateId, aggregateType: 'probe', data }], trace));
  return id!;
}

/** Runs a statement and returns the SQLSTATE it failed with (undefined when it succeeded). */
async function sqlState(pool: Pool, sql: string, params: unknown[] = []): Promise<string | undefined> {
  try {
    await pool.query(sql, params);
    return undefined;
  } catch (error) {
    return (error as { code?: string }).code;
  }
}

describe('appending events to the outbox', () => {
  it('refuses a payload that breaks its contract and writes nothing, not even the valid events beside it', async () => {
    const aggregateId = newId();
    await withTransaction(orders(), async (tx) => {
      await expect(
        appendEvents(tx, 'orders', [
          { type: ThingHappened.type, aggregateId, aggregateType: 'probe', data: { n: 1 } },
          { type: ThingHappened.type, aggregateId, aggregateType: 'probe', data: { n: -1, extra: true } },
        ], null),
      ).rejects.toThrow(ContractViolation);
      await expect(appendEvents(tx, 'orders', [{ type: ThingHappened.type, aggregateId, aggregateType: 'probe', data: { n: 'one' } }], null)).rejects.toThrow(
        /breaks its contract/,
      );
    });
    expect(await outboxRows(orders(), 'aggregate_id = $1', [aggregateId])).toEqual([]);
  });

  it('refuses an event type that has no registered contract', async () => {
    const aggregateId = newId();
    await withTransaction(orders(), async (tx) => {
      await expect(appendEvents(tx, 'orders', [{ type: 'probe.never_defined.v1', aggregateId, aggregateType: 'probe', data: {} }], null)).rejects.toThrow(
        /no contract is registered/,
      );
    });
    expect(await outboxRows(orders(), 'aggregate_id = $1', [aggregateId])).toEqual([]);
  });

  it('commits the events with the change and loses them with a rolled-back change', async () => {
    const kept = newId();
    const lost = newId();
    await withTransaction(orders(), (tx) => appendEvents(tx, 'orders', [{ type: ThingHappened.type, aggregateId: kept, aggregateType: 'probe', data: { n: 1 } }], null));
    await expect(
      withTransaction(orders(), async (tx) => {
        await appendEvents(tx, 'orders', [{ type: ThingHappened.type, aggregateId: lost, aggregateType: 'probe', data: { n: 1 } }], null);
        throw new Error('the change failed');
      }),
    ).rejects.toThrow('the change failed');
    expect(await outboxRows(orders(), 'aggregate_id = $1', [kept])).toHaveLength(1);
    expect(await outboxRows(orders(), 'aggregate_id = $1', [lost])).toEqual([]);
  });

  it('writes a text cut in the middle of an emoji (a lone surrogate, which json refuses) with U+FFFD in its place', async () => {
    const aggregateId = newId();
    const cut = `${'a'.repeat(5)}😀`.slice(0, 6);
    await appendOne({ n: 1, label: `${cut} and a\\ud83d that is text` }, aggregateId);
    const [row] = await outboxRows(orders(), 'aggregate_id = $1', [aggregateId]);
    expect(row.payload).toEqual({ n: 1, label: 'aaaaa\ufffd and a\\ud83d that is text' });
  });
});

describe('the outbox table is append-only', () => {
  it('lets published_at be set once and refuses any other update with SQLSTATE BZ001', async () => {
    const id = await appendOne();
    expect(await sqlState(orders(), `UPDATE orders_outbox_events SET payload = '{"n": 2}' WHERE id = $1`, [id])).toBe('BZ001');
    expect(await sqlState(orders(), `UPDATE orders_outbox_events SET event_type = 'probe.thing_echoed.v1' WHERE id = $1`, [id])).toBe('BZ001');
    expect(await sqlState(orders(), `UPDATE orders_outbox_events SET published_at = now(), aggregate_type = 'other' WHERE id = $1`, [id])).toBe('BZ001');
    expect(await sqlState(orders(), 'UPDATE orders_outbox_events SET published_at = now() WHERE id = $1', [id])).toBeUndefined();
    expect(await sqlState(orders(), `UPDATE orders_outbox_events SET published_at = now() + interval '1 hour' WHERE id = $1`, [id])).toBe('BZ001');
    expect(await sqlState(orders(), 'UPDATE orders_outbox_events SET published_at = NULL WHERE id = $1', [id])).toBe('BZ001');
    const [row] = await outboxRows(orders(), 'id = $1', [id]);
    expect(row.payload).toEqual({ n: 1 });
    expect(row.published_at).toBeInstanceOf(Date);
  });

  it('refuses, with the one allowed change, a change of any other column (the guard names each column)', async () => {
    // The trigger's WHEN condition lists the columns: a column added to the outbox must be added there.
    const { rows: columns } = await orders().query<{ name: string }>(
      `SELECT column_name AS name FROM information_schema.columns WHERE table_name = 'orders_outbox_events' ORDER BY ordinal_position`,
    );
    expect(columns.map((c) => c.name)).toEqual(['id', 'seq', 'aggregate_id', 'aggregate_type', 'event_type', 'payload', 'headers', 'created_at', 'published_at']);
    const changes = [
      `id = '${newId()}'`,
      // An identity column generated always may be set to DEFAULT only, which takes the next value.
      'seq = DEFAULT',
      `aggregate_id = '${newId()}'`,
      `aggregate_type = 'other'`,
      `event_type = 'probe.thing_echoed.v1'`,
      `payload = '{"n": 2}'`,
      `headers = headers || '{"extra": true}'`,
      `created_at = created_at - interval '1 second'`,
    ];
    for (const change of changes) {
      const id = await appendOne();
      expect(await sqlState(orders(), `UPDATE orders_outbox_events SET published_at = now(), ${change} WHERE id = $1`, [id]), change).toBe('BZ001');
      const [row] = await outboxRows(orders(), 'id = $1', [id]);
      expect(row?.published_at, change).toBeNull();
    }
  });

  it('refuses DELETE and TRUNCATE with SQLSTATE BZ001', async () => {
    const pending = await appendOne();
    const published = await appendOne();
    await orders().query('UPDATE orders_outbox_events SET published_at = now() WHERE id = $1', [published]);
    expect(await sqlState(orders(), 'DELETE FROM orders_outbox_events WHERE id = $1', [pending])).toBe('BZ001');
    expect(await sqlState(orders(), 'DELETE FROM orders_outbox_events WHERE id = $1', [published])).toBe('BZ001');
    expect(await sqlState(orders(), 'TRUNCATE orders_outbox_events')).toBe('BZ001');
    expect(await outboxRows(orders(), 'id = ANY($1::uuid[])', [[pending, published]])).toHaveLength(2);
  });

  it('lets only an explicit retention run delete published rows, never pending ones', async () => {
    const pending = await appendOne();
    const published = await appendOne();
    await orders().query('UPDATE orders_outbox_events SET published_at = now() WHERE id = $1', [published]);
    const client = await orders().connect();
    try {
      await client.query('BEGIN');
      await client.query(`SET LOCAL bazaar.outbox_prune = 'on'`);
      await client.query('SAVEPOINT s');
      await expect(client.query('DELETE FROM orders_outbox_events WHERE id = $1', [pending])).rejects.toMatchObject({ code: 'BZ001' });
      await client.query('ROLLBACK TO SAVEPOINT s');
      await client.query('DELETE FROM orders_outbox_events WHERE id = $1', [published]);
      await client.query('COMMIT');
    } finally {
      client.release();
    }
    expect((await outboxRows(orders(), 'id = ANY($1::uuid[])', [[pending, published]])).map((r) => r.id)).toEqual([pending]);
  });
});

describe('the event envelope', () => {
  it('carries the CloudEvents 1.0 attributes: a UUIDv7 id, a versioned type, the source domain and the aggregate as subject', async () => {
    const aggregateId = newId();
    const before = Date.now();
    const id = await appendOne({ n: 7, label: 'seven' }, aggregateId);
    const [row] = await outboxRows(orders(), 'id = $1', [id]);
    const envelope = toEnvelope(row);
    expect(envelope).toEqual({
      specversion: '1.0',
      id,
      type: 'probe.thing_happened.v1',
      source: '/bazaar/orders',
      subject: aggregateId,
      time: expect.any(String),
      datacontenttype: 'application/json',
      correlationid: id,
      causationid: null,
      aggregatetype: 'probe',
      data: { n: 7, label: 'seven' },
    });
    expect(isUuidV7(envelope.id)).toBe(true);
    expect(new Date(envelope.time).toISOString()).toBe(envelope.time);
    expect(new Date(envelope.time).getTime()).toBeGreaterThanOrEqual(before);
  });

  it('names every registered event type domain.fact_in_the_past_tense.vN', () => {
    const irregularPast = new Set(['paid', 'sent', 'held', 'made', 'built', 'sold', 'set', 'put', 'done', 'taken', 'given', 'written', 'lost', 'found', 'read', 'kept', 'left', 'withdrawn']);
    const contracts = allContracts();
    expect(contracts.length).toBeGreaterThan(0);
    for (const { type } of contracts) {
      const match = /^([a-z_]+)\.([a-z_]+)\.v([0-9]+)$/.exec(type);
      expect(match, type).not.toBeNull();
      const words = match![2]!.split('_');
      expect(
        words.some((w) => w.endsWith('ed') || irregularPast.has(w)),
        `${type} should name a fact in the past tense`,
      ).toBe(true);
    }
  });

  it('takes the correlation id of the trace it is written in', async () => {
    const correlationId = newId();
    const id = await appendOne(undefined, undefined, { correlationId, causationId: null });
    const [row] = await outboxRows(orders(), 'id = $1', [id]);
    expect(row.headers).toMatchObject({ correlationid: correlationId, causationid: null });
  });

  it('gives an event emitted by a handler the handled event as cause and the same correlation id', async () => {
    const echo = recordingProbe('search.envelope-probe', 'search', { echo: true });
    const relay = new OutboxRelay('orders', orders(), new InProcessTransport(pools, [echo]), 100, undefined, log);
    const consumer = new InboxConsumer('search', search(), [echo], { batchSizeMax: 100, attemptsMax: 3, retryDelayBaseMs: 10, retryDelayMaxMs: 100 }, systemClock, undefined, log);
    const correlationId = newId();
    const aggregateId = newId();
    const cause = await appendOne({ n: 3 }, aggregateId, { correlationId, causationId: null });
    while ((await relay.runOnce()) === true);
    while ((await consumer.runOnce()) === true);

    const { rows } = await search().query('SELECT id, aggregate_id, event_type, payload, headers FROM search_outbox_events WHERE aggregate_id = $1', [aggregateId]);
    expect(rows).toHaveLength(1);
    const echoed = toEnvelope(rows[0]);
    expect(echoed).toMatchObject({
      type: ThingEchoed.type,
      source: '/bazaar/search',
      subject: aggregateId,
      correlationid: correlationId,
      causationid: cause,
      data: { n: 3, of: cause },
    });
    expect(isUuidV7(echoed.id)).toBe(true);
    expect(echoed.id).not.toBe(cause);
  });
});

describe('a change and its events in one statement', () => {
  it('runs independent writes together, renumbering their parameters, all or nothing', async () => {
    await orders().query('CREATE TABLE IF NOT EXISTS together_probe (id uuid PRIMARY KEY, label text NOT NULL)');
    const [a, b] = [newId(), newId()];
    const aggregateId = newId();
    const event = outboxStatement('orders', [{ type: ThingHappened.type, aggregateId, aggregateType: 'probe', data: { n: 1 } }], null);
    await runTogether(orders(), [
      { text: 'INSERT INTO together_probe (id, label) VALUES ($1, $2)', values: [a, 'first'] },
      undefined,
      { text: 'INSERT INTO together_probe (id, label) VALUES ($1, $2)', values: [b, 'second'] },
      event,
    ]);
    const { rows } = await orders().query('SELECT id, label FROM together_probe WHERE id = ANY($1) ORDER BY label', [[a, b]]);
    expect(rows).toEqual([
      { id: a, label: 'first' },
      { id: b, label: 'second' },
    ]);
    expect((await orders().query('SELECT count(*)::int AS n FROM orders_outbox_events WHERE aggregate_id = $1', [aggregateId])).rows[0].n).toBe(1);

    // The second write fails (a duplicate key): the first one and the event are not kept either.
    const c = newId();
    const lost = newId();
    await expect(
      runTogether(orders(), [
        { text: 'INSERT INTO together_probe (id, label) VALUES ($1, $2)', values: [c, 'third'] },
        { text: 'INSERT INTO together_probe (id, label) VALUES ($1, $2)', values: [a, 'again'] },
        outboxStatement('orders', [{ type: ThingHappened.type, aggregateId: lost, aggregateType: 'probe', data: { n: 2 } }], null),
      ]),
    ).rejects.toThrow(/duplicate key/);
    expect((await orders().query('SELECT count(*)::int AS n FROM together_probe WHERE id = $1', [c])).rows[0].n).toBe(0);
    expect((await orders().query('SELECT count(*)::int AS n FROM orders_outbox_events WHERE aggregate_id = $1', [lost])).rows[0].n).toBe(0);
  });
});

describe('claiming a batch under the batch lock', () => {
  it('never claims rows as they were before the previous holder of the lock committed', async () => {
    await orders().query('CREATE TABLE IF NOT EXISTS claim_probe (id uuid PRIMARY KEY, status text NOT NULL)');
    const [first, second] = [newId(), newId()];
    await orders().query("INSERT INTO claim_probe VALUES ($1, 'pending'), ($2, 'pending')", [first, second]);
    // The claim sleeps inside its own statement, so the holder below commits while it runs: the
    // claim's snapshot predates that commit, and the lock must have been asked for before it.
    const claim = `SELECT c.id FROM claim_probe c, (SELECT pg_sleep(0.3)) z WHERE c.status = 'pending' AND ${BATCH_LOCK_HELD} ORDER BY c.id`;
    const holder = await orders().connect();
    const claimer = await orders().connect();
    try {
      await holder.query('BEGIN');
      await holder.query(takeBatchLock('bazaar.test.claim'));
      await holder.query("UPDATE claim_probe SET status = 'done' WHERE id = $1", [first]);
      const claiming = beginAndClaim<{ id: string }>(claimer, 'bazaar.test.claim', claim);
      await new Promise((resolve) => setTimeout(resolve, 100));
      await holder.query('COMMIT');
      // The lock was taken (by the holder) when the claim's transaction asked: it claims nothing,
      // and says the lock was busy.
      expect(await claiming).toEqual({ rows: [], locked: false });
      await claimer.query('COMMIT');
      // Next round: the lock is free and the claim sees the holder's work.
      expect(await beginAndClaim<{ id: string }>(claimer, 'bazaar.test.claim', claim)).toEqual({ rows: [{ id: second }], locked: true });
      await claimer.query('COMMIT');
    } finally {
      await holder.query('ROLLBACK').catch(() => undefined);
      holder.release();
      claimer.release();
    }
  });
});

describe('a round that finds another worker holding the batch lock', () => {
  /** Holds `lockName` as another process's round would, while `during` runs. */
  async function holdingBatchLock(pool: Pool, lockName: string, during: () => Promise<void>): Promise<void> {
    const holder = await pool.connect();
    try {
      await eventually(async () => {
        await holder.query('BEGIN');
        const { rows } = await holder.query<{ batch_lock: string }>(takeBatchLock(lockName));
        if (rows[0]?.batch_lock === 'true') return;
        await holder.query('ROLLBACK');
        throw new Error(`${lockName} is taken`);
      });
      await during();
    } finally {
      await holder.query('COMMIT').catch(() => undefined);
      holder.release();
    }
  }

  it('looks again soon, so the event that woke it does not wait for the poll (found by a review: it waited for the next poll, 500 ms by default)', async () => {
    const probe = recordingProbe('search.busy-lock-probe', 'search');
    const relay = new OutboxRelay('orders', orders(), new InProcessTransport(pools, [probe]), 100, undefined, log);
    const consumer = new InboxConsumer('search', search(), [probe], { batchSizeMax: 100, attemptsMax: 3, retryDelayBaseMs: 10, retryDelayMaxMs: 100 }, systemClock, undefined, log);
    // Polls far beyond the test's patience: only a wake-up or a busy retry can move the event.
    const relayLoop = new WorkerLoop('relay:orders', () => relay.runOnce(), 600_000, () => undefined);
    const consumerLoop = new WorkerLoop('inbox:search', () => consumer.runOnce(), 600_000, () => undefined);
    const pause = () => new Promise((resolve) => setTimeout(resolve, 100));
    try {
      let id = '';
      // The relay: another process's round holds the lock (its claim made before this commit).
      await holdingBatchLock(orders(), 'bazaar.relay.orders', async () => {
        id = await appendOne({ n: 7 });
        expect(await relay.runOnce()).toBe(BUSY);
        relayLoop.start();
        consumerLoop.start();
        await pause();
      });
      await eventually(async () => expect((await outboxRows(orders(), 'id = $1', [id]))[0].published_at).not.toBeNull(), { timeoutMs: 3000 });

      // The consumer: the event waits in the inbox while another worker holds the inbox lock.
      await holdingBatchLock(search(), 'bazaar.inbox.search', async () => {
        expect(await consumer.runOnce()).toBe(BUSY);
        consumerLoop.wake();
        await pause();
      });
      await eventually(
        async () => expect((await search().query('SELECT n FROM probe_effects WHERE event_id = $1', [id])).rows).toEqual([{ n: 7 }]),
        { timeoutMs: 3000 },
      );
    } finally {
      await relayLoop.stop();
      await consumerLoop.stop();
    }
  });
});

/**
 * The generic plan a statement gets in a round's transaction (its settings first), as a fresh
 * connection makes it: prepared, then explained with `args` (an SQL list, '' for none).
 */
async function planInRound(settings: RoundSettings, statement: string, types: string, args: string): Promise<string> {
  const client = await orders().connect();
  try {
    // JIT on first, as on a connection without bazaar's startup options (behind a pooler): the round's own settings must turn it off.
    await client.query(['BEGIN', 'SET LOCAL jit = on', applySettings(settings), "SELECT set_config('bazaar.batch_lock', 'true', true)", 'SET LOCAL plan_cache_mode = force_generic_plan'].join('; '));
    await client.query(`PREPARE round_plan${types} AS ${statement}`);
    const { rows } = await client.query<{ 'QUERY PLAN': string }>(`EXPLAIN EXECUTE round_plan${args}`);
    return rows.map((r) => r['QUERY PLAN']).join('\n');
  } finally {
    await client.query('ROLLBACK').catch(() => undefined);
    await client.query('DEALLOCATE round_plan').catch(() => undefined);
    client.release();
  }
}

describe("a relay round's and a consumer round's plans", () => {
  it('walks the pending index in seq order and joins back by key, never reading the whole outbox, on a table never analyzed', async () => {
    // A few hundred rows, no statistics: the moment a fresh database's connections make the plans
    // they keep (generic plans, one per connection).
    const aggregateId = newId();
    await withTransaction(orders(), (tx) =>
      appendEvents(tx, 'orders', Array.from({ length: 300 }, (_, n) => ({ type: ThingHappened.type, aggregateId, aggregateType: 'probe', data: { n } })), null),
    );
    const { claim, settings } = relayClaim('orders_outbox_events', 500, 'orders_held_subscribers');
    const plan = await planInRound(settings, claim, '', '');
    expect(plan).toMatch(/Index Scan using orders_outbox_events_pending_idx/);
    expect(plan).toMatch(/Index Scan using orders_outbox_events_pkey/);
    // The held subscribers' table, a row per subscriber with held events, is read whole.
    expect(plan).not.toMatch(/Seq Scan on orders_outbox_events|Bitmap/);
    // Not compiled on every execution: a whole-table read priced out by enable_seqscan = off once
    // made PostgreSQL JIT-compile the claim each time (150 ms).
    expect(plan).not.toMatch(/JIT/);
  });

  it("marks a consumer's batch processed by key, never reading the whole inbox, on a table never analyzed", async () => {
    await orders().query(
      `INSERT INTO orders_inbox_events (consumer, event_id, source, aggregate_id, event_type, envelope)
       SELECT 'test.plan', gen_random_uuid(), 'search', gen_random_uuid(), 'probe.thing_happened.v1', '{}' FROM generate_series(1, 300)`,
    );
    const plan = await planInRound(CONSUMER_ROUND_SETTINGS, markProcessed('orders_inbox_events'), '(text[], uuid[])', "('{test.plan}', '{00000000-0000-7000-8000-000000000000}')");
    expect(plan).toMatch(/Index Scan using orders_inbox_events_pkey/);
    expect(plan).not.toMatch(/Seq Scan|Bitmap|JIT/);
  });
});
