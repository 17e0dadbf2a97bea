import type { Tx } from '../db/pool.ts';
import type { DomainName } from '../domains.ts';
import type { EventEnvelope, Trace } from './envelope.ts';
import type { NewEvent } from './outbox.ts';

/** What a handler gets: its own domain's transaction, a way to write its own events, and the clock. */
export interface HandlerContext {
  tx: Tx;
  now: Date;
  /**
   * The handled event's trace (of a batch, its first event's): pass it to every outbox write the
   * handler makes itself, so those events name the handled one as their cause.
   */
  trace: Trace;
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
  /**
   * Optional: called in this process once a consumer round that applied some of this consumer's
   * events has committed, to wake whatever works on what the handlers wrote (the notifications'
   * sender). Not called for a replay's batches.
   */
  afterCommit?(): void;
  /**
   * Optional: the consumer maintains a read model that can be rebuilt from the event log (a replay,
   * ADR 0012). Its handlers must then depend on nothing but the events they are given.
   */
  readModel?: ReadModelHooks;
}

/** What a replay tells a read model's consumer, in the subscriber's transaction. */
export interface ReplayContext {
  tx: Tx;
  replayId: string;
  /** The source domains whose logs are replayed, in the order they are read. */
  sources: readonly DomainName[];
}

/** How a consumer's read model takes part in a replay of the log into it. */
export interface ReadModelHooks {
  /** The name the admin route rebuilds it by (lowercase, digits and underscores). */
  name: string;
  description: string;
  /** Starts the model over, empty (and marks it rebuilding), in the transaction that clears the consumer's inbox records. */
  reset(ctx: ReplayContext): Promise<void>;
  /**
   * Run first in every transaction that applies replayed events: where the handlers' writes go (a
   * model rebuilt beside the live one sets its search_path). Without it they go to the live tables.
   */
  scope?(ctx: ReplayContext): Promise<void>;
  /** Notes how far a source's log has been applied (in the transaction that applied it). */
  progress?(ctx: ReplayContext, source: DomainName, lastSeq: number, lastEventId: string): Promise<void>;
  /** The replay is done: the read model is live again (in the transaction that resumes the consumer). */
  finish?(ctx: ReplayContext): Promise<void>;
}
