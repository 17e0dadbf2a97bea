import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * CloudEvents 1.0 envelope, plus correlation and causation ids so that one HTTP request can be
 * traced through every event it causes.
 */
export interface EventEnvelope<D = unknown> {
  specversion: '1.0';
  id: string;
  type: string;
  source: string;
  subject: string;
  time: string;
  datacontenttype: 'application/json';
  correlationid: string;
  causationid: string | null;
  /** Added by the relay: the aggregate kind, so consumers can route without parsing data. */
  aggregatetype: string;
  data: D;
}

export interface Trace {
  correlationId: string;
  causationId: string | null;
}

const traceStorage = new AsyncLocalStorage<Trace>();

/** Runs `work` with a trace: events written inside it carry these correlation and causation ids. */
export function withTrace<T>(trace: Trace, work: () => T): T {
  return traceStorage.run(trace, work);
}

export function currentTrace(): Trace | undefined {
  return traceStorage.getStore();
}

export function eventSource(domain: string): string {
  return `/bazaar/${domain}`;
}
