import { AckPolicy, type ConsumerMessages, DeliverPolicy, type JetStreamClient, type JetStreamManager, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, nanos, type NatsConnection } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import type { Pool } from '../db/pool.ts';
import type { DomainName } from '../domains.ts';
import type { EventEnvelope } from './envelope.ts';
import { insertIntoInbox } from './inbox.ts';
import type { Subscription } from './subscription.ts';
import type { Transport } from './transport.ts';

export interface NatsOptions {
  url: string;
  /** Stream name and subject prefix; several installations can share one NATS server. */
  stream: string;
  subjectPrefix: string;
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
  #consumers: ConsumerMessages[] = [];
  #loops: Promise<void>[] = [];
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

  async start(): Promise<void> {
    this.#nc = await connect({ servers: this.options.url, name: 'bazaar', maxReconnectAttempts: -1 });
    const jsm = await jetstreamManager(this.#nc);
    await this.#ensureStream(jsm);
    this.#js = jetstream(this.#nc);
    for (const b of this.#bindings) {
      const durable = durableName(b.consumer, b.family);
      await jsm.consumers.add(this.options.stream, {
        durable_name: durable,
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All,
        filter_subject: `${this.options.subjectPrefix}.${b.family}.>`,
        ack_wait: nanos(30_000),
        max_ack_pending: 1000,
      });
      const consumer = await this.#js.consumers.get(this.options.stream, durable);
      const messages = await consumer.consume({ max_messages: 200 });
      this.#consumers.push(messages);
      this.#loops.push(this.#pump(b, messages));
    }
  }

  async #ensureStream(jsm: JetStreamManager): Promise<void> {
    const config = {
      name: this.options.stream,
      subjects: [`${this.options.subjectPrefix}.>`],
      duplicate_window: nanos(120_000),
      max_age: nanos(7 * 24 * 3600 * 1000),
    };
    try {
      await jsm.streams.info(this.options.stream);
    } catch {
      await jsm.streams.add(config);
    }
  }

  async #pump(binding: Binding, messages: ConsumerMessages): Promise<void> {
    const pool = this.pools.get(binding.domain);
    if (!pool) throw new Error(`no pool for ${binding.domain}`);
    for await (const m of messages) {
      try {
        const event = JSON.parse(decoder.decode(m.data)) as EventEnvelope;
        if (binding.wanted.has(event.type)) {
          await insertIntoInbox(pool, binding.domain, [{ consumer: binding.consumer, event }]);
        }
        m.ack();
      } catch (error) {
        // Not acknowledged: JetStream delivers it again after a pause; the inbox deduplicates.
        this.log.warn({ err: error, consumer: binding.consumer }, 'could not store a NATS message in the inbox');
        m.nak(1000);
      }
    }
  }

  async publish(_source: DomainName, events: EventEnvelope[]): Promise<void> {
    const js = this.#js;
    if (!js) throw new Error('NATS transport is not started');
    // Sent in order on one connection, acknowledged by the stream before the relay marks them published.
    await Promise.all(events.map((e) => js.publish(this.subject(e.type), encoder.encode(JSON.stringify(e)), { msgID: e.id })));
  }

  async stop(): Promise<void> {
    for (const c of this.#consumers) await c.close().catch(() => undefined);
    await Promise.allSettled(this.#loops);
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
