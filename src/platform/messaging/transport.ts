import type { PoolClient } from 'pg';
import type { Pool } from '../db/pool.ts';
import type { DomainName } from '../domains.ts';
import type { EventEnvelope } from './envelope.ts';
import { type InboxEntry, insertIntoInbox } from './inbox.ts';
import type { PerSubscriberDelivery } from './relay.ts';
import type { Subscription } from './subscription.ts';

/**
 * The seam between a domain's outbox relay and the subscribers' inboxes.
 * `publish` resolves only once the events are durable on the other side (in every subscriber's
 * inbox, or acknowledged by the broker); only then does the relay mark them published.
 */
export interface Transport {
  readonly name: string;
  start(): Promise<void>;
  publish(source: DomainName, events: EventEnvelope[]): Promise<void>;
  stop(): Promise<void>;
  /** What keeps it from carrying events now (a broker that cannot be reached), for readiness; empty when it works. */
  problems?(): string[];
}

export interface Route {
  domain: DomainName;
  consumer: string;
}

export function routeTable(subscriptions: readonly Subscription[]): Map<string, Route[]> {
  const routes = new Map<string, Route[]>();
  for (const s of subscriptions) {
    for (const type of s.events) {
      const list = routes.get(type) ?? [];
      list.push({ domain: s.domain, consumer: s.consumer });
      routes.set(type, list);
    }
  }
  return routes;
}

/** Groups events by the subscriber domains whose consumers want them. */
export function inboxEntriesByDomain(routes: Map<string, Route[]>, events: EventEnvelope[]): Map<DomainName, InboxEntry[]> {
  const byDomain = new Map<DomainName, InboxEntry[]>();
  for (const event of events) {
    for (const route of routes.get(event.type) ?? []) {
      const list = byDomain.get(route.domain) ?? [];
      list.push({ consumer: route.consumer, event });
      byDomain.set(route.domain, list);
    }
  }
  return byDomain;
}

/** A subscriber's database gave no answer to a delivery within the transport's time. */
export class DeliveryTimeout extends Error {
  constructor(
    readonly subscriber: DomainName,
    readonly timeoutMs: number,
  ) {
    super(`the ${subscriber} database did not take a delivery within ${timeoutMs} ms`);
    this.name = 'DeliveryTimeout';
  }
}

/** How long one delivery into a subscriber's inbox may take (connecting included) before it counts as failed. */
export const DELIVERY_TIMEOUT_MS = 5000;

/**
 * Delivery inside one process (or several processes sharing the databases): straight into the
 * inboxes. The relay delivers to each subscriber domain on its own (PerSubscriberDelivery), so one
 * that cannot be reached, or does not answer within `deliveryTimeoutMs`, is held back alone;
 * `publish` delivers to all at once.
 */
export class InProcessTransport implements Transport, PerSubscriberDelivery {
  readonly name = 'inprocess';
  readonly #routes: Map<string, Route[]>;
  constructor(
    readonly pools: ReadonlyMap<DomainName, Pool>,
    subscriptions: readonly Subscription[],
    readonly deliveryTimeoutMs = DELIVERY_TIMEOUT_MS,
  ) {
    this.#routes = routeTable(subscriptions);
  }
  async start(): Promise<void> {}
  async stop(): Promise<void> {}
  async publish(_source: DomainName, events: EventEnvelope[]): Promise<void> {
    await Promise.all([...this.entriesFor(events)].map(([domain, entries]) => this.deliverTo(domain, entries)));
  }
  entriesFor(events: EventEnvelope[]): Map<DomainName, InboxEntry[]> {
    return inboxEntriesByDomain(this.#routes, events);
  }
  /** The event types some subscriber's inbox takes. */
  routedTypes(): ReadonlySet<string> {
    return new Set(this.#routes.keys());
  }
  /**
   * Inserts into the subscriber's inbox on a connection of its own, given up after the delivery
   * timeout: the connection is then destroyed (a hung server or network leaves a query waiting for
   * minutes otherwise), and an insert that still commits there later is only a duplicate of events
   * the relay holds and sends again first.
   */
  async deliverTo(subscriber: DomainName, entries: InboxEntry[]): Promise<void> {
    const pool = this.pools.get(subscriber);
    if (!pool) throw new Error(`no database pool for subscriber domain ${subscriber}`);
    let gaveUp = false;
    let client: PoolClient | undefined;
    let timer: NodeJS.Timeout | undefined;
    const work = (async () => {
      const connected = await pool.connect();
      if (gaveUp) {
        connected.release(new Error('delivery given up'));
        return;
      }
      client = connected;
      try {
        await insertIntoInbox(connected, subscriber, entries);
      } finally {
        if (!gaveUp) connected.release();
      }
    })();
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        gaveUp = true;
        client?.release(new DeliveryTimeout(subscriber, this.deliveryTimeoutMs));
        reject(new DeliveryTimeout(subscriber, this.deliveryTimeoutMs));
      }, this.deliveryTimeoutMs);
    });
    work.catch(() => undefined);
    try {
      await Promise.race([work, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }
}
