/**
 * event-delivery: how long an event takes from the commit of the transaction that wrote it to the
 * commit of a subscriber's handler in another domain's database, at a fixed event rate.
 *
 * Producers (at most `concurrency` transactions in flight) write one event each, in its own
 * transaction, on a fixed schedule of `rate` events per second. The real delivery path runs: outbox
 * → LISTEN/NOTIFY → OutboxRelay → InProcessTransport → inbox → InboxConsumer → handler. An event
 * counts as applied when the consumer's batch transaction holding its effect has committed.
 * The reference is a bare loop inserting outbox rows, one per transaction, at the same concurrency
 * on the same server in the same run, with delivery stopped.
 */
import { performance } from 'node:perf_hooks';
import { Type } from '@sinclair/typebox';
import { defineEvent, registerContracts } from '../src/contracts/index.ts';
import { systemClock } from '../src/platform/clock.ts';
import { loadConfig } from '../src/platform/config.ts';
import pg from 'pg';
import { type Pool, createPool, quoteIdent, withTransaction } from '../src/platform/db/pool.ts';
import type { DomainName } from '../src/platform/domains.ts';
import { newId } from '../src/platform/ids.ts';
import { appendEvents } from '../src/platform/messaging/outbox.ts';
import { Messaging } from '../src/platform/messaging/runtime.ts';
import type { Subscription } from '../src/platform/messaging/subscription.ts';
import { InProcessTransport } from '../src/platform/messaging/transport.ts';
import { type Flags, type Scenario, benchDatabases, numberFlag, percentile, progress, round, benchLog } from './support.ts';

const ProbeRecorded = defineEvent('bench.probe_recorded.v1', Type.Object({ n: Type.Integer({ minimum: 0 }) }, { additionalProperties: false }));
registerContracts(ProbeRecorded);

const SOURCE: DomainName = 'orders';
const SUBSCRIBER: DomainName = 'search';
const AGGREGATES = 1000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Options {
  rate: number;
  seconds: number;
  warmupSeconds: number;
  concurrency: number;
  referenceSeconds: number;
  poolSize: number;
  batchSize: number;
  pollMs: number;
  synchronousCommit: 'on' | 'off';
}

function options(flags: Flags): Options {
  const config = loadConfig(process.env);
  return {
    rate: numberFlag(flags, 'rate', 1000, 1, 100_000),
    seconds: numberFlag(flags, 'seconds', 5, 1, 600),
    warmupSeconds: numberFlag(flags, 'warmup', 1, 0, 60),
    concurrency: numberFlag(flags, 'concurrency', 8, 1, 200),
    referenceSeconds: numberFlag(flags, 'reference-seconds', 3, 1, 600),
    poolSize: numberFlag(flags, 'pool-size', config.poolSizeMax, 2, 200),
    batchSize: numberFlag(flags, 'batch-size', config.relayBatchSizeMax, 1, 5000),
    pollMs: config.relayPollMs,
    synchronousCommit: synchronousCommitFlag(flags),
  };
}

function synchronousCommitFlag(flags: Flags): 'on' | 'off' {
  const raw = flags.get('synchronous-commit') ?? 'on';
  if (raw !== 'on' && raw !== 'off') throw new Error(`--synchronous-commit must be on or off, got "${raw}"`);
  return raw;
}

/** Counts of what the relay and consumer did, for the diagnostics on stderr. */
interface Trace {
  consumerRuns: number;
  consumerEvents: number;
  consumerMs: number;
  relayRuns: number;
  relayMs: number;
}

async function deliveryPhase(pools: Map<DomainName, Pool>, urls: Map<DomainName, string>, o: Options) {
  const total = Math.round(o.rate * (o.warmupSeconds + o.seconds));
  const warmup = Math.round(o.rate * o.warmupSeconds);
  const committedAt = new Float64Array(total);
  const appliedAt = new Float64Array(total);
  // Where the time goes: when the relay handed each event to the transport, and when the inbox had it.
  const sentAt = new Float64Array(total);
  const receivedAt = new Float64Array(total);
  /** Indexes (the events' `n`) handled in the consumer batch now running. */
  let inBatch: number[] = [];
  let applied = 0;
  const trace: Trace = { consumerRuns: 0, consumerEvents: 0, consumerMs: 0, relayRuns: 0, relayMs: 0 };

  const probe: Subscription = {
    consumer: `${SUBSCRIBER}.bench-probe`,
    domain: SUBSCRIBER,
    events: [ProbeRecorded.type],
    async handle(ctx, event) {
      const { n } = event.data as { n: number };
      await ctx.tx.query('INSERT INTO bench_effects (event_id, n) VALUES ($1, $2)', [event.id, n]);
      inBatch.push(n);
    },
  };
  const log = benchLog();
  const transport = new InProcessTransport(pools, [probe]);
  const publish = transport.publish.bind(transport);
  transport.publish = async (source, events) => {
    const began = performance.now();
    await publish(source, events);
    const done = performance.now();
    for (const e of events) {
      const { n } = e.data as { n: number };
      sentAt[n] = began;
      receivedAt[n] = done;
    }
  };
  const messaging = new Messaging(
    [...pools].map(([domain, pool]) => ({ domain, pool, url: urls.get(domain)! })),
    transport,
    [probe],
    { pollMs: o.pollMs, batchSizeMax: o.batchSize, attemptsMax: 8, retryDelayBaseMs: 200, retryDelayMaxMs: 60_000 },
    systemClock,
    undefined,
    log,
  );
  // An effect is applied when the consumer's batch transaction commits: stamp the batch's events then.
  const consumer = messaging.consumers.get(SUBSCRIBER)!;
  const runBatch = consumer.runOnce.bind(consumer);
  consumer.runOnce = async () => {
    inBatch = [];
    const began = performance.now();
    try {
      const more = await runBatch();
      const now = performance.now();
      trace.consumerMs += now - began;
      trace.consumerRuns++;
      trace.consumerEvents += inBatch.length;
      for (const i of inBatch) {
        if (appliedAt[i] === 0) {
          appliedAt[i] = now;
          applied++;
        }
      }
      return more;
    } finally {
      inBatch = [];
    }
  };
  const relay = messaging.relays.get(SOURCE)!;
  const runRelay = relay.runOnce.bind(relay);
  relay.runOnce = async () => {
    const began = performance.now();
    try {
      return await runRelay();
    } finally {
      trace.relayRuns++;
      trace.relayMs += performance.now() - began;
    }
  };
  await messaging.start();

  const orders = pools.get(SOURCE)!;
  const aggregates = Array.from({ length: AGGREGATES }, () => newId());
  let next = 0;
  const start = performance.now() + 20;
  async function producer(): Promise<void> {
    for (;;) {
      const i = next++;
      if (i >= total) return;
      const wait = start + (i * 1000) / o.rate - performance.now();
      if (wait > 0) await sleep(wait);
      await withTransaction(orders, (tx) =>
        appendEvents(tx, SOURCE, [{ type: ProbeRecorded.type, aggregateId: aggregates[i % AGGREGATES]!, aggregateType: 'bench', data: { n: i } }], null),
      );
      committedAt[i] = performance.now();
    }
  }
  progress(`producing ${total} events at ${o.rate}/s (${warmup} warm-up), ${o.concurrency} producers`);
  const cpuBefore = process.cpuUsage();
  await Promise.all(Array.from({ length: o.concurrency }, () => producer()));
  const producedIn = performance.now() - start;
  const cpu = process.cpuUsage(cpuBefore);
  const deadline = performance.now() + 30_000;
  while (applied < total && performance.now() < deadline) await sleep(10);
  await messaging.stop();
  if (applied < total) throw new Error(`only ${applied} of ${total} events were applied within 30 s of the last commit`);
  // A fast but wrong delivery is no result: each event applied once, at its first attempt.
  const check = await pools.get(SUBSCRIBER)!.query<{ effects: number; distinct: number; retried: number }>(
    `SELECT (SELECT count(*) FROM bench_effects)::int AS effects, (SELECT count(DISTINCT event_id) FROM bench_effects)::int AS distinct,
            (SELECT count(*) FROM ${SUBSCRIBER}_inbox_events WHERE status <> 'processed' OR attempts <> 1)::int AS retried`,
  );
  const { effects, distinct, retried } = check.rows[0]!;
  if (effects !== total || distinct !== total || retried !== 0) {
    throw new Error(`delivery went wrong: ${effects} effects of ${distinct} distinct events for ${total} produced; ${retried} not applied at the first attempt`);
  }

  const latencies: number[] = [];
  let first = Number.POSITIVE_INFINITY;
  let last = 0;
  for (let i = warmup; i < total; i++) {
    latencies.push(appliedAt[i]! - committedAt[i]!);
    first = Math.min(first, committedAt[i]!);
    last = Math.max(last, appliedAt[i]!);
  }
  latencies.sort((a, b) => a - b);
  const stage = (from: Float64Array, to: Float64Array) => {
    const values: number[] = [];
    for (let i = warmup; i < total; i++) values.push(to[i]! - from[i]!);
    values.sort((a, b) => a - b);
    return `p50 ${round(percentile(values, 50), 1)} p99 ${round(percentile(values, 99), 1)} ms`;
  };
  progress(
    `stages: commit → relay sends ${stage(committedAt, sentAt)}; inbox insert ${stage(sentAt, receivedAt)}; inbox → handler committed ${stage(receivedAt, appliedAt)}`,
  );
  progress(
    `produced at ${round((total * 1000) / producedIn, 0)}/s; consumer: ${trace.consumerRuns} batches, ${round(trace.consumerEvents / Math.max(1, trace.consumerRuns), 1)} events and ${round(trace.consumerMs / Math.max(1, trace.consumerRuns), 2)} ms each, busy ${round(trace.consumerMs / producedIn, 2)}; relay: ${trace.relayRuns} batches, ${round(trace.relayMs / Math.max(1, trace.relayRuns), 2)} ms each, busy ${round(trace.relayMs / producedIn, 2)}; this process used ${round((cpu.user + cpu.system) / 1000 / producedIn, 2)} of a core`,
  );
  return {
    events: latencies.length,
    eventsPerSecond: round((latencies.length * 1000) / (last - first), 0),
    latencyMsP50: round(percentile(latencies, 50)),
    latencyMsP90: round(percentile(latencies, 90)),
    latencyMsP99: round(percentile(latencies, 99)),
    latencyMsMax: round(latencies[latencies.length - 1]!),
  };
}

/** A bare loop: one outbox row per transaction, `concurrency` loops at once, as fast as the server takes them. */
async function referencePhase(orders: Pool, o: Options): Promise<number> {
  const aggregateId = newId();
  const headers = JSON.stringify({ source: '/bazaar/orders', time: new Date().toISOString(), correlationid: aggregateId, causationid: null });
  let count = 0;
  const until = performance.now() + o.referenceSeconds * 1000;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: o.concurrency }, async () => {
      while (performance.now() < until) {
        await withTransaction(orders, (tx) =>
          tx.query(
            'INSERT INTO orders_outbox_events (id, aggregate_id, aggregate_type, event_type, payload, headers) VALUES ($1, $2, $3, $4, $5, $6)',
            [newId(), aggregateId, 'bench', ProbeRecorded.type, '{"n":0}', headers],
          ),
        );
        count++;
      }
    }),
  );
  return round((count * 1000) / (performance.now() - started), 0);
}

async function withDatabase<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

async function run(flags: Flags): Promise<Record<string, unknown>> {
  const o = options(flags);
  const dbs = await benchDatabases([SOURCE, SUBSCRIBER]);
  const pools = new Map<DomainName, Pool>();
  const urls = new Map<DomainName, string>();
  try {
    for (const [domain, target] of dbs.targets) {
      // Diagnostic only: with `off`, commits stop waiting for the disk, which shows how much of the latency is flushes.
      if (o.synchronousCommit === 'off') await withDatabase(target.adminUrl, (c) => c.query(`ALTER DATABASE ${quoteIdent(target.database)} SET synchronous_commit = off`));
      pools.set(domain, createPool(target.url, o.poolSize, `bench-${domain}`));
      urls.set(domain, target.url);
    }
    await pools.get(SUBSCRIBER)!.query('CREATE TABLE bench_effects (event_id uuid NOT NULL, n integer NOT NULL, applied_at timestamptz NOT NULL DEFAULT clock_timestamp())');
    const delivery = await deliveryPhase(pools, urls, o);
    progress(`delivery: ${JSON.stringify(delivery)}`);
    const referenceInsertsPerSecond = await referencePhase(pools.get(SOURCE)!, o);
    return {
      events: delivery.events,
      eventsPerSecond: delivery.eventsPerSecond,
      latencyMsP50: delivery.latencyMsP50,
      latencyMsP99: delivery.latencyMsP99,
      referenceInsertsPerSecond,
      latencyMsP90: delivery.latencyMsP90,
      latencyMsMax: delivery.latencyMsMax,
      targetEventsPerSecond: o.rate,
      concurrency: o.concurrency,
      synchronousCommit: o.synchronousCommit,
      server: dbs.server,
    };
  } finally {
    await Promise.all([...pools.values()].map((p) => p.end()));
    await dbs.close();
  }
}

export const scenario: Scenario = {
  description: 'commit-to-handler latency of the outbox → relay → inbox → consumer path at a fixed rate, beside a bare outbox insert loop',
  flags: {
    rate: 'target events per second (1000)',
    seconds: 'measured seconds (5)',
    warmup: 'seconds produced first and not measured (1)',
    concurrency: 'producer transactions in flight at most, also used by the reference loop (8)',
    'reference-seconds': 'seconds of the bare insert loop (3)',
    'pool-size': 'connections per domain database pool (DATABASE_POOL_SIZE_MAX, as the app: 5)',
    'batch-size': 'relay and consumer batch size max (RELAY_BATCH_SIZE_MAX, 500)',
    'synchronous-commit': 'on, or off to see how much of the latency is disk flushes; never what production runs (on)',
  },
  run,
};
