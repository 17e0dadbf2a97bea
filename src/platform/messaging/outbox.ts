import { contractFor } from '../../contracts/index.ts';
import type { Queryable } from '../db/pool.ts';
import { type DomainName, domainTables } from '../domains.ts';
import { newId } from '../ids.ts';
import { currentTrace, eventSource } from './envelope.ts';

export interface NewEvent {
  type: string;
  aggregateId: string;
  aggregateType: string;
  data: unknown;
  /** Defaults to the current trace (the HTTP request or the event being handled). */
  correlationId?: string;
  causationId?: string | null;
}

export class ContractViolation extends Error {
  constructor(type: string, problems: string[]) {
    super(`event ${type} breaks its contract: ${problems.join('; ')}`);
    this.name = 'ContractViolation';
  }
}

/** Checks a payload against its versioned contract; an unknown type is refused too. */
export function assertContract(type: string, data: unknown): void {
  const contract = contractFor(type);
  if (!contract) throw new ContractViolation(type, ['no contract is registered for this event type']);
  const problems = contract.problems(data);
  if (problems.length > 0) throw new ContractViolation(type, problems);
}

/**
 * Writes events to the domain's outbox. Call it with the transaction that makes the change, so the
 * change and its events commit together: no dual write, no lost event.
 */
export async function appendEvents(tx: Queryable, domain: DomainName, events: NewEvent[], clockNow?: Date): Promise<string[]> {
  if (events.length === 0) return [];
  const trace = currentTrace();
  const ids: string[] = [];
  const aggregateIds: string[] = [];
  const aggregateTypes: string[] = [];
  const types: string[] = [];
  const payloads: string[] = [];
  const headers: string[] = [];
  const time = (clockNow ?? new Date()).toISOString();
  for (const e of events) {
    assertContract(e.type, e.data);
    const id = newId();
    ids.push(id);
    aggregateIds.push(e.aggregateId);
    aggregateTypes.push(e.aggregateType);
    types.push(e.type);
    payloads.push(JSON.stringify(e.data));
    headers.push(
      JSON.stringify({
        source: eventSource(domain),
        time,
        correlationid: e.correlationId ?? trace?.correlationId ?? id,
        causationid: e.causationId !== undefined ? e.causationId : (trace?.causationId ?? null),
      }),
    );
  }
  await tx.query(
    `INSERT INTO ${domainTables(domain).outbox} (id, aggregate_id, aggregate_type, event_type, payload, headers)
     SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::jsonb[], $6::jsonb[])`,
    [ids, aggregateIds, aggregateTypes, types, payloads, headers],
  );
  return ids;
}
