import type { Queryable } from '../db/pool.ts';
import { type DomainName, domainTables } from '../domains.ts';
import type { EventEnvelope } from './envelope.ts';

export interface InboxEntry {
  consumer: string;
  event: EventEnvelope;
}

/**
 * Puts events into a domain's inbox; an event already there for that consumer is left alone. The
 * envelopes travel as one JSON array (one text for PostgreSQL to parse, where an array of jsonb was
 * escaped element by element here and unescaped there), the consumers as an array beside it.
 */
export async function insertIntoInbox(db: Queryable, domain: DomainName, entries: InboxEntry[]): Promise<number> {
  if (entries.length === 0) return 0;
  const result = await db.query(
    `INSERT INTO ${domainTables(domain).inbox} (consumer, event_id, source, aggregate_id, event_type, envelope)
     SELECT ($1::text[])[e.n], (e.envelope->>'id')::uuid, e.envelope->>'source', (e.envelope->>'subject')::uuid, e.envelope->>'type', e.envelope
       FROM jsonb_array_elements($2::jsonb) WITH ORDINALITY AS e(envelope, n)
     ON CONFLICT (consumer, event_id) DO NOTHING`,
    [entries.map((e) => e.consumer), JSON.stringify(entries.map((e) => e.event))],
  );
  return result.rowCount ?? 0;
}
