import { Type } from '@sinclair/typebox';
import type { Pool } from '../db/pool.ts';
import { type DomainName, isDomainName } from '../domains.ts';
import { pendingMigrations } from '../db/migrate.ts';
import { heldFor, outboxBacklog, outboxStatus, replayDeadLetter } from '../messaging/admin.ts';
import type { Messaging } from '../messaging/runtime.ts';
import type { Metrics } from '../metrics.ts';
import { AppError } from './errors.ts';
import { deadLetterPage } from './dead-letter-page.ts';
import { Defaulted, ProblemResponse, pageOf } from './schemas.ts';
import type { HttpApp } from './server.ts';

export interface OpsDeps {
  pools: ReadonlyMap<DomainName, Pool>;
  messaging: Messaging;
  metrics: Metrics;
}

async function databaseProblems(pools: ReadonlyMap<DomainName, Pool>): Promise<string[]> {
  const problems = await Promise.all(
    [...pools].map(async ([domain, pool]) => {
      try {
        const pending = await pendingMigrations(pool, domain);
        return pending.length > 0 ? [`${domain} database has ${pending.length} pending migration(s)`] : [];
      } catch {
        return [`${domain} database is unreachable`];
      }
    }),
  );
  return problems.flat();
}

/** The outbox gauges are read again at most this often, however often /metrics (public) is asked. */
const GAUGES_FRESH_MS = 5000;
const gaugesReadAt = new WeakMap<OpsDeps['metrics'], number>();
/** Subscribers a held gauge was ever set for, per source: set back to 0 once they caught up. */
const heldLabelsOf = new WeakMap<OpsDeps['metrics'], Map<string, Set<string>>>();

export async function refreshOutboxGauges(deps: OpsDeps): Promise<void> {
  const now = Date.now();
  if (now - (gaugesReadAt.get(deps.metrics) ?? Number.NEGATIVE_INFINITY) < GAUGES_FRESH_MS) return;
  gaugesReadAt.set(deps.metrics, now);
  const heldLabels = heldLabelsOf.get(deps.metrics) ?? new Map<string, Set<string>>();
  heldLabelsOf.set(deps.metrics, heldLabels);
  await Promise.all(
    [...deps.pools].map(async ([domain, pool]) => {
      try {
        const s = await outboxBacklog(domain, pool);
        deps.metrics.outboxBacklog.set({ domain }, s.backlog);
        deps.metrics.outboxOldestAge.set({ domain }, s.oldestUnpublishedAgeSeconds);
        // Held events are published (not in the backlog) yet not delivered everywhere.
        const held = await heldFor(domain, pool);
        for (const h of held) {
          deps.metrics.heldEvents.set({ domain, subscriber: h.subscriber }, h.held);
          deps.metrics.heldAge.set({ domain, subscriber: h.subscriber }, h.heldForSeconds);
        }
        for (const subscriber of heldLabels.get(domain) ?? []) {
          if (held.some((h) => h.subscriber === subscriber)) continue;
          deps.metrics.heldEvents.set({ domain, subscriber }, 0);
          deps.metrics.heldAge.set({ domain, subscriber }, 0);
        }
        heldLabels.set(domain, new Set([...(heldLabels.get(domain) ?? []), ...held.map((h) => h.subscriber)]));
      } catch {
        // An unreachable database shows up in /ready; the gauge keeps its last value.
      }
    }),
  );
}

const DeadLetterSchema = Type.Object({
  id: Type.String({ format: 'uuid' }),
  domain: Type.String(),
  consumer: Type.String(),
  eventId: Type.String({ format: 'uuid' }),
  eventType: Type.String(),
  source: Type.String(),
  attempts: Type.Integer(),
  lastError: Type.String(),
  parkedAt: Type.String({ format: 'date-time' }),
});

export function registerOpsRoutes(app: HttpApp, deps: OpsDeps): void {
  app.get('/health', { config: { access: 'public' }, schema: { tags: ['operations'], summary: 'Liveness', response: { 200: Type.Object({ status: Type.Literal('ok') }) } } }, async () => ({
    status: 'ok' as const,
  }));

  app.get(
    '/ready',
    {
      config: { access: 'public' },
      schema: {
        tags: ['operations'],
        summary: 'Readiness: every domain database reachable and migrated, event delivery running',
        description:
          'Ready when every database answers and is migrated and event delivery runs. A read model whose last rebuild failed is named in `stalledReadModels` (it falls behind until a rebuild succeeds; see POST /v1/admin/read-models/{name}/rebuild) without making the process unready.',
        response: {
          200: Type.Object({
            status: Type.Literal('ready'),
            stalledReadModels: Type.Optional(Type.Array(Type.String(), { description: 'Read models whose last rebuild failed; present only when there are some' })),
          }),
          503: Type.Object({ status: Type.Literal('not_ready'), problems: Type.Array(Type.String()) }),
        },
      },
    },
    async (_request, reply) => {
      const problems = [...(await databaseProblems(deps.pools)), ...deps.messaging.problems()];
      if (problems.length > 0) return reply.status(503).send({ status: 'not_ready' as const, problems });
      const stalled = await deps.messaging.stalledReadModels().catch(() => undefined);
      if (!stalled) return reply.status(503).send({ status: 'not_ready' as const, problems: ['the state of the read models could not be read'] });
      return stalled.length > 0 ? { status: 'ready' as const, stalledReadModels: stalled } : { status: 'ready' as const };
    },
  );

  // Their 200s are described by media type (a route's schema otherwise stands for JSON); a string is
  // sent as it is, and the document's object as a whole.
  const metricsAnswer = { description: 'The Prometheus text exposition format', content: { 'text/plain': { schema: Type.String() } } };
  const documentAnswer = { description: 'This document', content: { 'application/json': { schema: Type.Object({}, { additionalProperties: true }) } } };
  app.get('/metrics', { config: { access: 'public' }, schema: { tags: ['operations'], summary: 'Prometheus metrics', response: { 200: metricsAnswer } } }, async (_request, reply) => {
    await refreshOutboxGauges(deps);
    reply.type(deps.metrics.registry.contentType);
    return deps.metrics.registry.metrics();
  });

  app.get(
    '/openapi.json',
    { config: { access: 'public' }, schema: { tags: ['operations'], summary: 'The OpenAPI 3.1 description of this API', response: { 200: documentAnswer } } },
    async () => app.swagger(),
  );

  app.get(
    '/v1/admin/events/outbox',
    {
      config: { access: ['admin'] },
      schema: {
        tags: ['operations'],
        summary: 'Outbox backlog and oldest unpublished age per domain, and events held for subscribers that could not be reached',
        response: {
          200: Type.Object({
            items: Type.Array(
              Type.Object({
                domain: Type.String(),
                backlog: Type.Integer(),
                oldestUnpublishedAgeSeconds: Type.Number(),
                published: Type.Integer(),
                held: Type.Record(Type.String(), Type.Integer(), { description: 'Published events not yet in a subscriber domain’s inbox (it could not be reached), per subscriber' }),
              }),
            ),
          }),
          401: ProblemResponse,
          403: ProblemResponse,
        },
      },
    },
    async () => ({ items: await Promise.all([...deps.pools].map(([domain, pool]) => outboxStatus(domain, pool))) }),
  );

  app.get(
    '/v1/admin/events/dead-letters',
    {
      config: { access: ['admin'] },
      schema: {
        tags: ['operations'],
        summary: 'Parked events with their last error, newest first, cursor paged',
        description:
          'Events parked in every domain (or in `domain`), newest parked first. Pass the answer\'s `nextCursor` as `cursor` for the next page; it is null on the last page. ' +
          'A cursor that is not one this route wrote is 400 INVALID_CURSOR.',
        querystring: Type.Object(
          {
            domain: Type.Optional(Type.String({ maxLength: 40 })),
            cursor: Type.Optional(Type.String({ maxLength: 500 })),
            limit: Defaulted(Type.Integer({ minimum: 1, maximum: 200, default: 50 })),
          },
          { additionalProperties: false },
        ),
        response: { 200: pageOf(DeadLetterSchema), 400: ProblemResponse, 401: ProblemResponse, 403: ProblemResponse },
      },
    },
    async (request) => {
      const { domain, cursor, limit } = request.query;
      if (domain !== undefined && !isDomainName(domain)) throw new AppError('VALIDATION_FAILED', `unknown domain ${domain}`);
      return deadLetterPage([...deps.pools].filter(([d]) => domain === undefined || d === domain), cursor, limit);
    },
  );

  app.post(
    '/v1/admin/events/dead-letters/:id/replay',
    {
      config: { access: ['admin'] },
      schema: {
        tags: ['operations'],
        summary: 'Deliver a parked event again',
        params: Type.Object({ id: Type.String({ format: 'uuid' }) }, { additionalProperties: false }),
        response: { 202: Type.Object({ id: Type.String(), replayed: Type.Literal(true) }), 400: ProblemResponse, 401: ProblemResponse, 403: ProblemResponse, 404: ProblemResponse },
      },
    },
    async (request, reply) => {
      for (const [domain, pool] of deps.pools) {
        if (await replayDeadLetter(domain, pool, request.params.id)) {
          return reply.status(202).send({ id: request.params.id, replayed: true as const });
        }
      }
      throw new AppError('NOT_FOUND', 'no parked event with this id');
    },
  );
}
