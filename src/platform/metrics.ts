import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Prometheus metrics of one running marketplace (one registry per app, so tests stay isolated). */
export class Metrics {
  readonly registry = new Registry();
  readonly httpDuration = new Histogram({
    name: 'bazaar_http_request_duration_seconds',
    help: 'HTTP request latency by route',
    labelNames: ['method', 'route', 'status'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });
  readonly eventsPublished = new Counter({
    name: 'bazaar_events_published_total',
    help: 'Outbox events handed to the transport, per source domain',
    labelNames: ['domain'],
    registers: [this.registry],
  });
  readonly deliveries = new Counter({
    name: 'bazaar_event_deliveries_total',
    help: 'Events applied by a consumer',
    labelNames: ['domain', 'consumer'],
    registers: [this.registry],
  });
  readonly retries = new Counter({
    name: 'bazaar_event_retries_total',
    help: 'Failed handler attempts that will be retried with backoff',
    labelNames: ['domain', 'consumer'],
    registers: [this.registry],
  });
  readonly deadLetters = new Counter({
    name: 'bazaar_event_dead_letters_total',
    help: 'Events parked as dead letters after the bounded number of attempts',
    labelNames: ['domain', 'consumer'],
    registers: [this.registry],
  });
  readonly outboxBacklog = new Gauge({
    name: 'bazaar_outbox_backlog',
    help: 'Unpublished outbox events per domain',
    labelNames: ['domain'],
    registers: [this.registry],
  });
  readonly outboxOldestAge = new Gauge({
    name: 'bazaar_outbox_oldest_unpublished_age_seconds',
    help: 'Age of the oldest unpublished outbox event per domain (0 when none)',
    labelNames: ['domain'],
    registers: [this.registry],
  });
  readonly heldEvents = new Gauge({
    name: 'bazaar_events_held',
    help: 'Published events a subscriber domain has not received yet because it could not be reached (in-process transport), per source and subscriber',
    labelNames: ['domain', 'subscriber'],
    registers: [this.registry],
  });
  readonly heldAge = new Gauge({
    name: 'bazaar_events_held_for_seconds',
    help: 'How long a subscriber domain has had events held for it, per source and subscriber',
    labelNames: ['domain', 'subscriber'],
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'bazaar_' });
  }
}
