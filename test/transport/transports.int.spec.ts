import { randomBytes } from 'node:crypto';
import { type JetStreamManager, jetstreamManager } from '@nats-io/jetstream';
import { connect, nanos } from '@nats-io/transport-node';
import { Type } from '@sinclair/typebox';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defineEvent, registerContracts } from '../../src/contracts/index.ts';
import { withTransaction } from '../../src/platform/db/pool.ts';
import { newId } from '../../src/platform/ids.ts';
import { NatsTransport } from '../../src/platform/messaging/nats-transport.ts';
import { appendEvents } from '../../src/platform/messaging/outbox.ts';
import { toEnvelope } from '../../src/platform/messaging/relay.ts';
import type { Subscription } from '../../src/platform/messaging/subscription.ts';
import { startTestApp, type TestApp } from '../support/app.ts';
import { eventually } from '../support/eventually.ts';
import { requireService } from '../support/services.ts';
import { createLogger } from '../../src/platform/logger.ts';

const natsUrl = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';
const DAY_MS = 24 * 3600 * 1000;

async function withStreams<T>(use: (jsm: JetStreamManager) => Promise<T>): Promise<T> {
  const nc = await connect({ servers: natsUrl });
  try {
    return await use(await jetstreamManager(nc));
  } finally {
    await nc.close();
  }
}
const natsAvailable = await requireService('nats', natsUrl);

const checked = defineEvent('probe.transport_checked.v1', Type.Object({ n: Type.Integer() }, { additionalProperties: false }));
registerContracts(checked);

/** The same subscriber code, whatever the transport: it records each application (no unique key, so a double shows). */
const probe: Subscription = {
  consumer: 'search.transport-probe',
  domain: 'search',
  events: [checked.type],
  async handle(ctx, event) {
    await ctx.tx.query('INSERT INTO probe_applied (event_id, aggregate_id, n) VALUES ($1, $2, $3)', [event.id, event.subject, (event.data as { n: number }).n]);
  },
};

const transports: { name: string; env: Record<string, string>; enabled: boolean }[] = [
  { name: 'inprocess', env: { TRANSPORT: 'inprocess' }, enabled: true },
  { name: 'nats', env: { TRANSPORT: 'nats', NATS_URL: natsUrl }, enabled: natsAvailable },
];

describe.each(transports)('the $name transport', ({ name, env, enabled }) => {
  let t: TestApp;
  const suffix = randomBytes(4).toString('hex');
  const stream = `TEST_${suffix}`;

  beforeAll(async () => {
    if (!enabled) return;
    // A stream made earlier, keeping events 7 days: the configuration asks for 30, and the stream follows.
    if (name === 'nats') await withStreams((jsm) => jsm.streams.add({ name: stream, subjects: [`t${suffix}.>`], max_age: nanos(DAY_MS * 7) }));
    t = await startTestApp(
      { ...env, NATS_STREAM: stream, NATS_SUBJECT_PREFIX: `t${suffix}`, NATS_MAX_AGE_DAYS: '30', RELAY_POLL_MS: '60000' },
      { extraSubscriptions: [probe] },
    );
    await t.app.pools.get('search')!.query('CREATE TABLE probe_applied (event_id uuid NOT NULL, aggregate_id uuid NOT NULL, n int NOT NULL)');
  });

  afterAll(async () => {
    if (!enabled) return;
    await t.close();
    if (name === 'nats') await NatsTransport.deleteStream(natsUrl, stream);
  });

  async function produce(count: number, aggregates: string[]): Promise<void> {
    const orders = t.app.pools.get('orders')!;
    for (let i = 0; i < count; i++) {
      await withTransaction(orders, (tx) =>
        appendEvents(tx, 'orders', [{ type: checked.type, aggregateId: aggregates[i % aggregates.length]!, aggregateType: 'probe', data: { n: i } }], null),
      );
    }
  }

  it.skipIf(!enabled)('delivers every event once, in order per aggregate, woken by the commit rather than the 60-second poll', async () => {
    const aggregates = [newId(), newId(), newId()];
    await produce(60, aggregates);
    const search = t.app.pools.get('search')!;
    await eventually(async () => {
      const { rows } = await search.query('SELECT count(*)::int AS n, count(DISTINCT event_id)::int AS d FROM probe_applied');
      expect(rows[0]).toEqual({ n: 60, d: 60 });
    }, { timeoutMs: 10_000 });
    for (const aggregate of aggregates) {
      const { rows } = await search.query<{ n: number }>('SELECT n FROM probe_applied WHERE aggregate_id = $1 ORDER BY ctid', [aggregate]);
      const ns = rows.map((r) => r.n);
      expect(ns).toEqual([...ns].sort((a, b) => a - b));
    }
  });

  // The stream is NATS's own: the in-process transport has nothing to keep.
  if (name === 'nats') {
    it.skipIf(!enabled)('keeps events in the stream as long as NATS_MAX_AGE_DAYS says, also in a stream made before', async () => {
      const info = await withStreams((jsm) => jsm.streams.info(stream));
      expect(info.config.max_age).toBe(nanos(DAY_MS * 30));
    });
  }

  it.skipIf(!enabled)('applies a re-published event only once', async () => {
    const orders = t.app.pools.get('orders')!;
    const search = t.app.pools.get('search')!;
    const aggregate = newId();
    await produce(1, [aggregate]);
    await eventually(async () => {
      const { rows } = await search.query('SELECT count(*)::int AS n FROM probe_applied WHERE aggregate_id = $1', [aggregate]);
      expect(rows[0].n).toBe(1);
    });
    const { rows } = await orders.query(
      `SELECT id, aggregate_id, aggregate_type, event_type, payload, headers FROM orders_outbox_events WHERE aggregate_id = $1`,
      [aggregate],
    );
    const envelope = toEnvelope(rows[0]);
    // As after a relay crash between publish and commit: the same event goes out again, twice.
    await t.app.messaging.transport.publish('orders', [envelope]);
    await t.app.messaging.transport.publish('orders', [envelope]);
    const later = newId();
    await produce(1, [later]);
    await eventually(async () => {
      const r = await search.query('SELECT count(*)::int AS n FROM probe_applied WHERE aggregate_id = $1', [later]);
      expect(r.rows[0].n).toBe(1);
    });
    const again = await search.query('SELECT count(*)::int AS n FROM probe_applied WHERE aggregate_id = $1', [aggregate]);
    expect(again.rows[0].n).toBe(1);
  });
});

describe('a NATS_URL that cannot be reached', () => {
  it('stops the start with an error naming NATS_URL and the host, not a code another setting would be blamed for', async () => {
    const transport = new NatsTransport({ url: 'nats://someone:secret@nats.invalid:4222', stream: 'UNUSED', subjectPrefix: 'unused' }, new Map(), [], createLogger('silent'));
    const failure = await transport.start().then(
      () => undefined,
      (error: unknown) => error as NodeJS.ErrnoException,
    );
    expect(failure?.message).toMatch(/^cannot reach NATS at nats\.invalid:4222 \(NATS_URL\): /);
    expect(failure?.message).not.toContain('secret');
    // The CLI names HOST for an ENOTFOUND of its own listen: this one carries no such code.
    expect(failure?.code).toBeUndefined();
    await transport.stop();
  });
});
