import {
  AckPolicy,
  type Consumer,
  type ConsumerMessages,
  DeliverPolicy,
  type JetStreamClient,
  type JetStreamManager,
  type MsgRequest,
  jetstream,
  jetstreamManager,
} from '@nats-io/jetstream';
import { connect, nanos, type NatsConnection } from '@nats-io/transport-node';
import type pg from 'pg';
import type { Logger } from 'pino';
import { type Pool, commitSignals, dedicatedClient } from '../db/pool.ts';
import type { DomainName } from '../domains.ts';
import { isUuid } from '../ids.ts';
import type { EventEnvelope } from './envelope.ts';
import { insertIntoInbox } from './inbox.ts';
import type { Subscription } from './subscription.ts';
import type { Transport } from './transport.ts';
import { inTurn } from './in-turn.ts';

export interface NatsOptions {
  url: string;
  /** Stream name and subject prefix; several installations can share one NATS server. */
  stream: string;
  subjectPrefix: string;
  /** How often a process that does not lead a durable tries to take it over (ms); 1 s unless set. */
  leadRetryMs?: number;
  /** How long the stream keeps an event (days); 7 unless set. A stream kept otherwise is changed to it at start. */
  maxAgeDays?: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The first token of an event type names its family (`orders` in `orders.order_placed.v1`). */
function familyOf(eventType: string): string {
  return eventType.split('.')[0] ?? eventType;
}

function durableName(consumer: string, family: string): string {
  return `${consumer}--${family}`.replace(/[^A-Za-z0-9_-]/g, '_');
}

interface Binding {
  domain: DomainName;
  consumer: string;
  family: string;
  wanted: Set<string>;
}

/**
 * NATS JetStream between processes. The relay publishes each event with its id as the JetStream
 * message id (the server drops a re-publish inside the duplicate window); one durable pull consumer
 * per (subscriber, event family) moves messages into the subscriber's inbox and acknowledges them
 * only after the inbox insert committed. Handlers never see NATS: they read the inbox, as with the
 * in-process transport.
 */
export class NatsTransport implements Transport {
  readonly name = 'nats';
  #nc: NatsConnection | undefined;
  #js: JetStreamClient | undefined;
  #leads: DomainLead[] = [];
  readonly #bindings: Binding[];

  constructor(
    readonly options: NatsOptions,
    readonly pools: ReadonlyMap<DomainName, Pool>,
    subscriptions: readonly Subscription[],
    readonly log: Logger,
  ) {
    const bindings = new Map<string, Binding>();
    for (const s of subscriptions) {
      for (const type of s.events) {
        const family = familyOf(type);
        const key = `${s.consumer}\u0000${family}`;
        const binding = bindings.get(key) ?? { domain: s.domain, consumer: s.consumer, family, wanted: new Set<string>() };
        binding.wanted.add(type);
        bindings.set(key, binding);
      }
    }
    this.#bindings = [...bindings.values()];
  }

  subject(eventType: string): string {
    return `${this.options.subjectPrefix}.${eventType}`;
  }

  /** Whether the connection to NATS is up (false from a disconnect until the reconnect). */
  #connected = false;

  async start(): Promise<void> {
    try {
      this.#nc = await connect({ servers: this.options.url, name: 'bazaar', maxReconnectAttempts: -1 });
    } catch (error) {
      // Said as what it is (an unknown host was once reported as HOST not being this machine's).
      const where = new URL(this.options.url);
      where.username = '';
      where.password = '';
      throw new Error(`cannot reach NATS at ${where.host} (NATS_URL): ${(error as Error).message}`, { cause: error });
    }
    this.#connected = true;
    void this.#watch(this.#nc);
    const jsm = await jetstreamManager(this.#nc);
    await this.#ensureStream(jsm);
    this.#js = jetstream(this.#nc);
    const byDomain = new Map<DomainName, Binding[]>();
    for (const b of this.#bindings) {
      await jsm.consumers.add(this.options.stream, {
        durable_name: durableName(b.consumer, b.family),
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All,
        filter_subject: this.#filterOf(b),
        ack_wait: nanos(30_000),
        max_ack_pending: 1000,
      });
      byDomain.set(b.domain, [...(byDomain.get(b.domain) ?? []), b]);
    }
    for (const [domain, bindings] of byDomain) {
      const pool = this.pools.get(domain);
      if (!pool) throw new Error(`no pool for ${domain}`);
      const lead = new DomainLead(domain, bindings, pool, {
        js: this.#js,
        jsm,
        stream: this.options.stream,
        filterOf: (b) => this.#filterOf(b),
        log: this.log,
        retryMs: this.options.leadRetryMs ?? 1000,
      });
      this.#leads.push(lead);
      await lead.start();
    }
  }

  /**
   * Follows the connection: while NATS cannot be reached, this process leads no durable (another
   * process that reaches it takes them over: it holds the leads by database locks alone, so without
   * this a leader cut off from NATS kept them, and no process's events reached any inbox), and
   * problems() says so. The leads are taken again once it is back.
   */
  async #watch(nc: NatsConnection): Promise<void> {
    for await (const status of nc.status()) {
      if (status.type === 'disconnect' && this.#connected) {
        this.#connected = false;
        this.log.warn({ server: status.server }, 'NATS connection lost: this process gives up its consumers until it is back');
        for (const lead of this.#leads) lead.pause();
      } else if (status.type === 'reconnect' && !this.#connected) {
        this.#connected = true;
        this.log.info({ server: status.server }, 'NATS connection back');
        for (const lead of this.#leads) lead.resume();
      }
    }
  }

  problems(): string[] {
    return this.#nc && !this.#connected ? ['NATS is not reachable'] : [];
  }

  #filterOf(b: Binding): string {
    return `${this.options.subjectPrefix}.${b.family}.>`;
  }

  /** The durables this process leads now (tests). */
  get leading(): string[] {
    return this.#leads.flatMap((l) => l.leading);
  }

  async #ensureStream(jsm: JetStreamManager): Promise<void> {
    const config = {
      name: this.options.stream,
      subjects: [`${this.options.subjectPrefix}.>`],
      duplicate_window: nanos(120_000),
      max_age: nanos((this.options.maxAgeDays ?? 7) * 24 * 3600 * 1000),
    };
    let keptFor: number;
    try {
      keptFor = (await jsm.streams.info(this.options.stream)).config.max_age;
    } catch {
      await jsm.streams.add(config);
      return;
    }
    // NATS_MAX_AGE_DAYS changed since the stream was made: the stream follows the configuration.
    if (keptFor !== config.max_age) {
      await jsm.streams.update(this.options.stream, { max_age: config.max_age });
      this.log.info({ stream: this.options.stream, maxAgeDays: this.options.maxAgeDays ?? 7 }, 'the stream keeps events as long as NATS_MAX_AGE_DAYS says now');
    }
  }

  async publish(_source: DomainName, events: EventEnvelope[]): Promise<void> {
    const js = this.#js;
    if (!js) throw new Error('NATS transport is not started');
    // Failing at once lets the relay's batch go (another process may reach NATS) instead of waiting
    // out the publish timeout with it.
    if (!this.#connected) throw new Error('NATS is not reachable');
    // Acknowledged by the stream before the relay marks them published. An aggregate's events go one
    // after another (different aggregates in parallel): if one fails, the ones after it are not
    // sent, so a retry of the batch cannot store an aggregate's later event before its earlier one.
    const chains = new Map<string, Promise<unknown>>();
    for (const e of events) {
      const previous = chains.get(e.subject) ?? Promise.resolve();
      chains.set(
        e.subject,
        previous.then(() => js.publish(this.subject(e.type), encoder.encode(JSON.stringify(e)), { msgID: e.id })),
      );
    }
    await Promise.all(chains.values());
  }

  async stop(): Promise<void> {
    await Promise.allSettled(this.#leads.map((l) => l.stop()));
    this.#leads = [];
    await this.#nc?.drain().catch(() => undefined);
    this.#nc = undefined;
    this.#js = undefined;
  }

  /** Removes the stream (tests and benchmarks use a stream of their own). */
  static async deleteStream(url: string, stream: string): Promise<void> {
    const nc = await connect({ servers: url });
    try {
      const jsm = await jetstreamManager(nc);
      await jsm.streams.delete(stream).catch(() => undefined);
    } finally {
      await nc.close();
    }
  }
}

interface LeadSettings {
  js: JetStreamClient;
  jsm: JetStreamManager;
  stream: string;
  filterOf(binding: Binding): string;
  log: Logger;
  retryMs: number;
}

interface Led {
  messages: ConsumerMessages;
  loop: Promise<void>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * One process at a time moves a durable's messages into the inbox. JetStream shares a durable's
 * messages among all the clients pulling from it, so two processes inserting at once interleave an
 * aggregate's events in the inbox, and the consumer applies them in inbox order. A process leads a
 * durable while it holds a session advisory lock on the subscriber's database, on a connection of
 * its own that also does the inserts: if that connection is lost, the lock and the ability to
 * insert go together, so a process that lost its lead cannot write behind its successor's back.
 * The others try to take the lead every `retryMs`.
 */
class DomainLead {
  #client: pg.Client | undefined;
  /**
   * Runs a query on the lead connection once the queries before it are done: the pumps of this
   * domain's durables share the connection (its session holds their locks).
   */
  readonly #inTurn = inTurn();
  readonly #led = new Map<string, Led>();
  #timer: NodeJS.Timeout | undefined;
  #ticking: Promise<void> | undefined;
  #stopped = false;
  /** NATS cannot be reached: nothing is led (see NatsTransport#watch). */
  #paused = false;

  constructor(
    readonly domain: DomainName,
    readonly bindings: readonly Binding[],
    readonly pool: Pool,
    readonly s: LeadSettings,
  ) {}

  get leading(): string[] {
    return [...this.#led.keys()];
  }

  async start(): Promise<void> {
    await this.#tick();
    this.#timer = setInterval(() => void this.#tick(), this.s.retryMs);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearInterval(this.#timer);
    await this.#ticking;
    const led = [...this.#led.values()];
    this.#led.clear();
    for (const l of led) await l.messages.close().catch(() => undefined);
    await Promise.allSettled(led.map((l) => l.loop));
    await this.#client?.end().catch(() => undefined);
    this.#client = undefined;
  }

  /** Gives up every lead (and its locks) and takes none until resume(). */
  pause(): void {
    this.#paused = true;
    this.#lose();
  }

  resume(): void {
    this.#paused = false;
    void this.#tick();
  }

  #tick(): Promise<void> {
    this.#ticking ??= this.#takeLeads().finally(() => {
      this.#ticking = undefined;
    });
    return this.#ticking;
  }

  async #takeLeads(): Promise<void> {
    if (this.#stopped || this.#paused || this.#led.size === this.bindings.length) return;
    try {
      const client = this.#client ?? (await this.#connect());
      for (const b of this.bindings) {
        const durable = durableName(b.consumer, b.family);
        if (this.#stopped || this.#led.has(durable)) continue;
        const lock = `bazaar.nats:${this.s.stream}:${durable}`;
        const { rows } = await this.#inTurn(() => client.query<{ led: boolean }>('SELECT pg_try_advisory_lock(hashtextextended($1, 0)) AS led', [lock]));
        if (rows[0]?.led) await this.#lead(client, b, durable);
      }
    } catch (error) {
      this.s.log.warn({ err: error, domain: this.domain }, 'could not take the lead of NATS consumers; retrying');
      this.#lose();
    }
  }

  async #connect(): Promise<pg.Client> {
    const client = dedicatedClient(this.pool, 'bazaar-nats-lead');
    client.on('error', (error) => {
      this.s.log.warn({ err: error, domain: this.domain }, 'NATS lead connection lost: its consumers stop until it is back');
      if (this.#client === client) this.#lose();
    });
    await client.connect();
    this.#client = client;
    return client;
  }

  /** The connection is gone, and its locks with it: stop consuming until the lead is taken again. */
  #lose(): void {
    const client = this.#client;
    this.#client = undefined;
    void client?.end().catch(() => undefined);
    for (const l of this.#led.values()) void l.messages.close().catch(() => undefined);
    this.#led.clear();
  }

  /** Whether `client` is still this lead's connection (its locks held) and the lead not stopping or paused. */
  #holds(client: pg.Client): boolean {
    return this.#client === client && !this.#stopped && !this.#paused;
  }

  async #lead(client: pg.Client, b: Binding, durable: string): Promise<void> {
    const consumer = await this.s.js.consumers.get(this.s.stream, durable);
    const delivered = await this.#catchUp(client, b, consumer);
    // The connection (and the lock) may have been lost during any await: then lead nothing.
    if (!this.#holds(client)) return;
    const messages = await consumer.consume({ max_messages: 200 });
    if (!this.#holds(client)) {
      await messages.close().catch(() => undefined);
      return;
    }
    const led: Led = { messages, loop: Promise.resolve() };
    led.loop = this.#pump(client, b, messages, delivered)
      .catch((error: unknown) => this.s.log.warn({ err: error, consumer: b.consumer }, 'NATS consumer stopped'))
      .finally(() => {
        // A pump that ended while still leading (a gap, an error) starts over: the lead is given up
        // and taken again, with a catch-up.
        if (this.#led.get(durable) !== led) return;
        this.#led.delete(durable);
        if (this.#holds(client)) this.#lose();
      });
    this.#led.set(durable, led);
  }

  /**
   * Messages the previous leader (or this process, before a lost connection) was given but did not
   * acknowledge come back only after the ack wait, behind newer ones: they are read from the stream,
   * in order, before consuming (the inbox ignores those already stored). Answers the consumer
   * sequence of the last delivery, from which the pump expects the next one.
   */
  async #catchUp(client: pg.Client, b: Binding, consumer: Consumer): Promise<number> {
    const info = await consumer.info();
    const last = info.delivered.stream_seq;
    let seq = info.ack_floor.stream_seq + 1;
    while (seq <= last && this.#holds(client)) {
      // The next message of this durable's subjects from seq (null: none left). Errors are thrown:
      // a message skipped here would come back late, out of order.
      const query = { seq, next_by_subj: this.s.filterOf(b) } as unknown as MsgRequest;
      const stored = await this.s.jsm.streams.getMessage(this.s.stream, query);
      if (!stored || stored.seq > last) break;
      const event = parseEvent(stored.data);
      if (event && b.wanted.has(event.type)) await this.#store(client, b, event);
      seq = stored.seq + 1;
    }
    return info.delivered.consumer_seq;
  }

  async #store(client: pg.Client, b: Binding, event: EventEnvelope): Promise<void> {
    await this.#inTurn(() => insertIntoInbox(client, this.domain, [{ consumer: b.consumer, event }]));
    commitSignals(this.pool).emit('inbox');
  }

  async #pump(client: pg.Client, b: Binding, messages: ConsumerMessages, deliveredBefore: number): Promise<void> {
    let delivered = deliveredBefore;
    for await (const m of messages) {
      if (!this.#holds(client)) return;
      // Deliveries are numbered per consumer; one missing never reached this process (a NATS
      // connection lost mid-flight) and would be redelivered after the ack wait, behind this one.
      if (m.info.deliverySequence !== delivered + 1) {
        this.s.log.warn({ consumer: b.consumer, expected: delivered + 1, got: m.info.deliverySequence }, 'NATS deliveries were lost; catching up from the stream');
        return;
      }
      delivered = m.info.deliverySequence;
      const event = parseEvent(m.data);
      if (!event) {
        this.s.log.error({ consumer: b.consumer, seq: m.seq }, 'a NATS message is not an event envelope; it is dropped');
        m.term();
        continue;
      }
      // Retried in place while the lead holds: moving on would store later events before this one.
      for (;;) {
        try {
          if (b.wanted.has(event.type)) await this.#store(client, b, event);
          m.ack();
          break;
        } catch (error) {
          if (!this.#holds(client)) return;
          this.s.log.warn({ err: error, consumer: b.consumer }, 'could not store a NATS message in the inbox; retrying');
          m.working();
          await sleep(1000);
        }
      }
    }
  }
}

function parseEvent(data: Uint8Array): EventEnvelope | undefined {
  try {
    const event = JSON.parse(decoder.decode(data)) as EventEnvelope;
    // What the inbox insert needs, checked here: one it could never store would block the durable.
    const valid = typeof event?.type === 'string' && typeof event.source === 'string' && isUuid(event.id) && isUuid(event.subject);
    return valid ? event : undefined;
  } catch {
    return undefined;
  }
}
