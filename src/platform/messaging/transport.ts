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

/**
 * Delivery inside one process (or several processes sharing the databases): straight into the
 * inboxes. The relay delivers to each subscriber domain on its own (PerSubscriberDelivery), so one
 * that cannot be reached is held back alone; `publish` delivers to all at once.
 */
export class InProcessTransport implements Transport, PerSubscriberDelivery {
  readonly name = 'inprocess';
  readonly #routes: Map<string, Route[]>;
  constructor(
    readonly pools: ReadonlyMap<DomainName, Pool>,
    subscriptions: readonly Subscription[],
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
  async deliverTo(subscriber: DomainName, entries: InboxEntry[]): Promise<void> {
    const pool = this.pools.get(subscriber);
    if (!pool) throw new Error(`no database pool for subscriber domain ${subscriber}`);
    await insertIntoInbox(pool, subscriber, entries);
  }
}
