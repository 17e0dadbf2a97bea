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

/**
 * What caused a change: the HTTP request (its correlation id, no causation) or the event being
 * handled (its correlation id, and its id as causation). Events written for the change carry both.
 * It is passed along explicitly, from the request or the handler context down to the outbox write,
 * as `null` where no request or event started the work (sweepers, workers): their events then start
 * a trace of their own. ADR 0013 says why it is not an AsyncLocalStorage.
 */
export interface Trace {
  correlationId: string;
  causationId: string | null;
}

/** The trace of work an event causes: the event's correlation id, and the event as its cause. */
export function traceOf(event: Pick<EventEnvelope, 'id' | 'correlationid'>): Trace {
  return { correlationId: event.correlationid, causationId: event.id };
}

export function eventSource(domain: string): string {
  return `/bazaar/${domain}`;
}
