import { contractFor } from '../../contracts/index.ts';
import { OUTBOX_SOME_PENDING, type Queryable } from '../db/pool.ts';
import type { Statement } from '../db/statements.ts';
import { type DomainName, domainTables } from '../domains.ts';
import { newId } from '../ids.ts';
import { type Trace, eventSource } from './envelope.ts';
import { wellFormedJson } from '../unicode.ts';

export interface NewEvent {
  type: string;
  aggregateId: string;
  aggregateType: string;
  data: unknown;
  /** Defaults to the trace the event is written with (the HTTP request or the event being handled). */
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
 * What an event delivery runtime of this process does with events: the domains whose outboxes it
 * relays, and the event types its transport puts into some inbox. `routed` undefined: every event
 * goes out (a broker, where subscribers of other processes take what they want).
 */
export interface DeliveryPlan {
  domains: ReadonlySet<DomainName>;
  routed: ReadonlySet<string> | undefined;
}

const deliveryPlans = new Set<DeliveryPlan>();

/**
 * Tells the outbox writers of this process what its running delivery does (Messaging.start); the
 * returned function takes it back (Messaging.stop). See `deliveredToNobody`. Plans are per process
 * and name domains, not databases: an app of the process that runs no delivery registers one that
 * routes everything (app.ts), so that another app's plan never decides for its databases.
 */
export function registerDeliveryPlan(plan: DeliveryPlan): () => void {
  deliveryPlans.add(plan);
  return () => deliveryPlans.delete(plan);
}

/**
 * Whether an event of `type` written to `domain`'s outbox would be relayed to no inbox at all: this
 * process's delivery relays the domain in-process, and no delivery of this process routes the type.
 * The relay would claim such an event, give it to nobody and mark it published, a round trip or two
 * for nothing; it is written published instead (ADR 0008, point 21). Never with a broker running in
 * the process, nor in a process without delivery (a CLI command): their events stay pending for
 * whichever relay takes them.
 */
function deliveredToNobody(domain: DomainName, type: string): boolean {
  let relayedHere = false;
  for (const plan of deliveryPlans) {
    if (!plan.routed || plan.routed.has(type)) return false;
    if (plan.domains.has(domain)) relayedHere = true;
  }
  return relayedHere;
}

/** An INSERT of events into a domain's outbox, to run alone or as a CTE of a larger statement. */
export interface OutboxInsert {
  /** `INSERT INTO <outbox> … FROM jsonb_array_elements($first)`, then ` WHERE <guard>` if one is given. */
  sql: string;
  /** The one parameter the SQL refers to (`$first`): the events as a JSON array. */
  values: unknown[];
  ids: string[];
}

/**
 * Prepares an outbox INSERT for `events`, checked against their contracts, its one parameter
 * numbered `$first`. With `guard` (an SQL condition, e.g. `EXISTS (SELECT 1 FROM item)`), the rows
 * are written only if it holds: a change and its events can then be ONE statement, atomic without
 * BEGIN and COMMIT, in one round trip. The rows travel as one JSON array (one text to escape and
 * parse, about three times cheaper for big batches than arrays of jsonb) and keep its order.
 * With `payload`, an SQL expression of `e` (each event, `e->'payload'` its data) replaces the data
 * written: for fields only the same statement knows, e.g. a counter after its UPDATE. The data is
 * checked against its contract before that, so the expression may only change what the contract
 * allows.
 */
export function outboxInsert(
  domain: DomainName,
  events: readonly NewEvent[],
  first: number,
  trace: Trace | null,
  clockNow?: Date,
  { guard, payload }: { guard?: string; payload?: string } = {},
): OutboxInsert {
  const ids: string[] = [];
  const parts: string[] = [];
  const time = (clockNow ?? new Date()).toISOString();
  const source = eventSource(domain);
  const toNobody = events.map((e) => deliveredToNobody(domain, e.type));
  // Written published when none of them goes to any inbox. In a batch where some do, those nobody
  // takes are written published and the others pending, each row as the relay would leave it (a
  // flash sale's batch: every reservation's event goes to nobody, its levels' event to a copy).
  const published = events.length > 0 && toNobody.every(Boolean);
  const mixed = !published && toNobody.some(Boolean);
  for (const [i, e] of events.entries()) {
    assertContract(e.type, e.data);
    const id = newId();
    ids.push(id);
    const headers = {
      source,
      time,
      correlationid: e.correlationId ?? trace?.correlationId ?? id,
      causationid: e.causationId !== undefined ? e.causationId : (trace?.causationId ?? null),
    };
    parts.push(
      `{"id":"${id}","aggregateId":${JSON.stringify(e.aggregateId)},"aggregateType":${JSON.stringify(e.aggregateType)},"type":${JSON.stringify(e.type)},"payload":${JSON.stringify(e.data)},"headers":${JSON.stringify(headers)}${mixed && toNobody[i] ? ',"published":true' : ''}}`,
    );
  }
  // The column list names published_at only when some rows are written published; the connection
  // then wakes no relay (platform/db/pool.ts), unless the INSERT is marked as leaving some pending.
  const publishedAt = published ? ', now()' : mixed ? ", CASE WHEN (e->>'published')::boolean THEN now() END" : '';
  const sql = `INSERT INTO ${domainTables(domain).outbox}${mixed ? ` ${OUTBOX_SOME_PENDING}` : ''} (id, aggregate_id, aggregate_type, event_type, payload, headers${published || mixed ? ', published_at' : ''})
     SELECT (e->>'id')::uuid, (e->>'aggregateId')::uuid, e->>'aggregateType', e->>'type', ${payload ?? "e->'payload'"}, e->'headers'${publishedAt}
       FROM jsonb_array_elements($${first}::jsonb) WITH ORDINALITY AS x(e, n)${guard ? ` WHERE ${guard}` : ''}
      ORDER BY n`;
  // A text cut in the middle of a surrogate pair (a reason truncated by a handler) would fail the insert.
  return { sql, values: [wellFormedJson(`[${parts.join(',')}]`)], ids };
}

/** The outbox INSERT of `events` as a statement of its own (for runTogether); undefined when there are none. */
export function outboxStatement(domain: DomainName, events: readonly NewEvent[], trace: Trace | null, clockNow?: Date): Statement | undefined {
  if (events.length === 0) return undefined;
  const insert = outboxInsert(domain, events, 1, trace, clockNow);
  return { text: insert.sql, values: insert.values };
}

/**
 * Writes events to the domain's outbox. Call it with the transaction that makes the change, so the
 * change and its events commit together: no dual write, no lost event.
 */
export async function appendEvents(tx: Queryable, domain: DomainName, events: NewEvent[], trace: Trace | null, clockNow?: Date): Promise<string[]> {
  if (events.length === 0) return [];
  const insert = outboxInsert(domain, events, 1, trace, clockNow);
  await tx.query(insert.sql, insert.values);
  return insert.ids;
}
