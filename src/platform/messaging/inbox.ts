import type { Queryable } from '../db/pool.ts';
import { type DomainName, domainTables } from '../domains.ts';
import type { EventEnvelope } from './envelope.ts';

export interface InboxEntry {
  consumer: string;
  event: EventEnvelope;
}

/** Puts events into a domain's inbox; an event already there for that consumer is left alone. */
export async function insertIntoInbox(db: Queryable, domain: DomainName, entries: InboxEntry[]): Promise<number> {
  if (entries.length === 0) return 0;
  const result = await db.query(
    `INSERT INTO ${domainTables(domain).inbox} (consumer, event_id, source, aggregate_id, event_type, envelope)
     SELECT * FROM unnest($1::text[], $2::uuid[], $3::text[], $4::uuid[], $5::text[], $6::jsonb[])
     ON CONFLICT (consumer, event_id) DO NOTHING`,
    [
      entries.map((e) => e.consumer),
      entries.map((e) => e.event.id),
      entries.map((e) => e.event.source),
      entries.map((e) => e.event.subject),
      entries.map((e) => e.event.type),
      entries.map((e) => JSON.stringify(e.event)),
    ],
  );
  return result.rowCount ?? 0;
}
