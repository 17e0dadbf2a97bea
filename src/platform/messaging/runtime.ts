import type { Logger } from 'pino';
import type { Clock } from '../clock.ts';
import { type Pool, SIGNAL_CHANNELS, commitSignals } from '../db/pool.ts';
import { type DomainName, domainTables } from '../domains.ts';
import type { Metrics } from '../metrics.ts';
import { type ConsumerOptions, InboxConsumer } from './consumer.ts';
import { Notifier } from './notifier.ts';
import { OutboxRelay } from './relay.ts';
import { ConsumerReplay, type ReplayOptions, ReplayRefused, type ReplayStatus, latestReplay, readReplay, replayLockHeld } from './replay.ts';
import type { Subscription } from './subscription.ts';
import { InProcessTransport, type Transport } from './transport.ts';
import { registerDeliveryPlan } from './outbox.ts';
import { WorkerLoop } from './worker-loop.ts';

export interface MessagingOptions extends ConsumerOptions {
  pollMs: number;
}

export interface DomainEndpoint {
  domain: DomainName;
  pool: Pool;
  url: string;
}

/**
 * Event delivery for every domain of this process: per domain database one outbox relay loop and one
 * inbox consumer loop, woken when this process commits work for them (CommitSignals), when another
 * process says it did (one LISTEN connection per database), and otherwise every `pollMs`.
 */
export class Messaging {
  readonly #loops: WorkerLoop[] = [];
  readonly #notifiers: Notifier[] = [];
  readonly #unsubscribe: (() => void)[] = [];
  readonly relays = new Map<DomainName, OutboxRelay>();
  readonly consumers = new Map<DomainName, InboxConsumer>();
  readonly #consumerLoops = new Map<DomainName, WorkerLoop>();
  /** Replays running in this process, by id: stopped (recorded as failed) when the process stops. */
  readonly #replays = new Map<string, { controller: AbortController; done: Promise<void> }>();
  #started = false;

  constructor(
    readonly endpoints: readonly DomainEndpoint[],
    readonly transport: Transport,
    readonly subscriptions: readonly Subscription[],
    readonly options: MessagingOptions,
    readonly clock: Clock,
    readonly metrics: Metrics | undefined,
    readonly log: Logger,
  ) {
    for (const { domain, pool } of endpoints) {
      this.relays.set(domain, new OutboxRelay(domain, pool, transport, options.batchSizeMax, metrics, log.child({ relay: domain })));
      this.consumers.set(domain, new InboxConsumer(domain, pool, subscriptions, options, clock, metrics, log.child({ inbox: domain })));
    }
  }

  async start(): Promise<void> {
    await this.transport.start();
    // Events that this in-process delivery would give to nobody are written published (outbox.ts).
    this.#unsubscribe.push(
      registerDeliveryPlan({
        domains: new Set(this.endpoints.map((e) => e.domain)),
        routed: this.transport instanceof InProcessTransport ? this.transport.routedTypes() : undefined,
      }),
    );
    for (const { domain, url, pool } of this.endpoints) {
      const relay = this.relays.get(domain);
      const consumer = this.consumers.get(domain);
      if (!relay || !consumer) continue;
      const onError = (kind: string) => (error: Error) => this.log.error({ err: error, domain }, `${kind} iteration failed`);
      const relayLoop = new WorkerLoop(`relay:${domain}`, () => relay.runOnce(), this.options.pollMs, onError('relay'));
      const notifier = new Notifier(url, this.log.child({ listen: domain }));
      // This process's own commits wake its loops directly (CommitSignals); the notifications are
      // for work committed by another process that runs no delivery (a CLI command, a replay).
      this.#unsubscribe.push(commitSignals(pool).on('outbox', () => relayLoop.wake()));
      notifier.on(SIGNAL_CHANNELS.outbox, () => relayLoop.wake());
      this.#loops.push(relayLoop);
      if (consumer.consumers.length > 0) {
        const consumerLoop = new WorkerLoop(`inbox:${domain}`, () => consumer.runOnce(), this.options.pollMs, onError('inbox'));
        this.#unsubscribe.push(commitSignals(pool).on('inbox', () => consumerLoop.wake()));
        notifier.on(SIGNAL_CHANNELS.inbox, () => consumerLoop.wake());
        this.#loops.push(consumerLoop);
        this.#consumerLoops.set(domain, consumerLoop);
      }
      this.#notifiers.push(notifier);
    }
    for (const loop of this.#loops) loop.start();
    await Promise.all(this.#notifiers.map((n) => n.start()));
    this.#started = true;
  }

  /** Names what is not running, for readiness: empty when delivery works. */
  problems(): string[] {
    if (!this.#started) return ['event delivery has not started'];
    const problems: string[] = [...(this.transport.problems?.() ?? [])];
    for (const loop of this.#loops) {
      if (!loop.running) problems.push(`${loop.name} stopped`);
      // The loop's name only: its error (a database's or the broker's message) is logged, not shown
      // to whoever asks /ready.
      else if (loop.lastError) problems.push(`${loop.name} failing`);
    }
    for (const n of this.#notifiers) if (!n.connected) problems.push('a notification connection is down');
    return problems;
  }

  /**
   * Read models whose last rebuild failed: their consumer stays paused (its events wait in the
   * inbox) until a rebuild is done, so they fall behind. Not a reason to take the API out of
   * service, but /ready names them.
   */
  async stalledReadModels(): Promise<string[]> {
    const byDomain = new Map<DomainName, Subscription[]>();
    for (const s of this.subscriptions) if (s.readModel) byDomain.set(s.domain, [...(byDomain.get(s.domain) ?? []), s]);
    const pools = this.#pools();
    const found = await Promise.all(
      [...byDomain].map(async ([domain, subscriptions]) => {
        const pool = pools.get(domain);
        if (!pool) return [];
        // Failed, or left running by a process that is gone (its lock held by nobody).
        const { rows } = await pool.query<{ consumer: string }>(
          `SELECT DISTINCT r.consumer FROM ${domainTables(domain).consumerReplays} r
            WHERE r.consumer = ANY($1::text[])
              AND (r.status = 'failed' OR (r.status = 'running' AND NOT ${replayLockHeld('r.consumer')}))`,
          [subscriptions.map((s) => s.consumer)],
        );
        const failed = new Set(rows.map((r) => r.consumer));
        return subscriptions.filter((s) => failed.has(s.consumer)).map((s) => s.readModel?.name as string);
      }),
    );
    return found.flat().sort();
  }

  /** The consumers that keep a read model which can be rebuilt, by read model name. */
  readModels(): Map<string, Subscription> {
    return new Map(this.subscriptions.filter((s) => s.readModel).map((s) => [s.readModel?.name as string, s]));
  }

  #pools(): Map<DomainName, Pool> {
    return new Map(this.endpoints.map((e) => [e.domain, e.pool]));
  }

  #subscription(consumer: string): Subscription {
    const subscription = this.subscriptions.find((s) => s.consumer === consumer);
    if (!subscription) throw new ReplayRefused('unknown_consumer', `no consumer ${consumer}`);
    return subscription;
  }

  /**
   * Starts a replay of the event log into one consumer (a read model's rebuild, ADR 0012): resolves
   * once the consumer is paused and emptied, with the replay's status; the replay itself goes on in
   * the background (`replayDone` waits for it). Refuses (ReplayRefused) while one is running.
   */
  async startReplay(consumer: string, options: Partial<ReplayOptions> = {}): Promise<ReplayStatus> {
    const subscription = this.#subscription(consumer);
    const replay = new ConsumerReplay(
      this.#pools(),
      subscription,
      { batchSizeMax: this.options.batchSizeMax, ...options },
      this.clock,
      this.log.child({ replay: consumer }),
      this.metrics,
    );
    const status = await replay.begin();
    const controller = new AbortController();
    const done = replay.run(controller.signal).then(() => {
      this.#replays.delete(replay.id);
      // Live events that waited in the inbox are applied now, not at the next poll.
      this.#consumerLoops.get(subscription.domain)?.wake();
    });
    this.#replays.set(replay.id, { controller, done });
    return status;
  }

  /** Waits until a replay started by this process has ended (at once when it is not running here). */
  async replayDone(id: string): Promise<void> {
    await this.#replays.get(id)?.done;
  }

  async replayStatus(consumer: string, id: string): Promise<ReplayStatus | undefined> {
    const subscription = this.#subscription(consumer);
    return readReplay(this.#pools().get(subscription.domain) as Pool, subscription.domain, consumer, id);
  }

  async latestReplay(consumer: string): Promise<ReplayStatus | undefined> {
    const subscription = this.#subscription(consumer);
    return latestReplay(this.#pools().get(subscription.domain) as Pool, subscription.domain, consumer);
  }

  async stop(): Promise<void> {
    this.#started = false;
    // A replay stops between two batches and is recorded as failed: its consumer stays paused, its
    // live events wait in the inbox, and a new rebuild starts it over.
    for (const r of this.#replays.values()) r.controller.abort();
    await Promise.all([...this.#replays.values()].map((r) => r.done));
    for (const unsubscribe of this.#unsubscribe.splice(0)) unsubscribe();
    await Promise.all(this.#loops.map((l) => l.stop()));
    await Promise.all(this.#notifiers.map((n) => n.stop()));
    await this.transport.stop();
  }
}
