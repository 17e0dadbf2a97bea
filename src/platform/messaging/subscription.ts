import type { Tx } from '../db/pool.ts';
import type { DomainName } from '../domains.ts';
import type { EventEnvelope } from './envelope.ts';
import type { NewEvent } from './outbox.ts';

/** What a handler gets: its own domain's transaction, a way to write its own events, and the clock. */
export interface HandlerContext {
  tx: Tx;
  now: Date;
  /** Writes events to the subscriber's outbox in the same transaction, caused by the handled event. */
  emit(events: NewEvent[]): Promise<void>;
}

/**
 * A consumer in a domain: the events it wants and how it applies them. The same code runs whatever
 * the transport (in-process or NATS JetStream): transports only move envelopes into the inbox.
 */
export interface Subscription {
  consumer: string;
  domain: DomainName;
  events: readonly string[];
  handle(ctx: HandlerContext, event: EventEnvelope): Promise<void>;
  /**
   * Optional: applies several events of this consumer at once, in their order, with the same effect
   * as `handle` on each in turn (a read model folding many changes into one statement). Used when a
   * batch holds more than one event for the consumer; when it throws, the batch falls back to
   * `handle` event by event, so a failing event is still isolated and retried alone.
   */
  handleBatch?(ctx: HandlerContext, events: readonly EventEnvelope[]): Promise<void>;
}
