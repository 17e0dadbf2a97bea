import { Type } from '@sinclair/typebox';
import { ReplayRefused, type ReplayStatus } from '../messaging/replay.ts';
import type { Messaging } from '../messaging/runtime.ts';
import type { Subscription } from '../messaging/subscription.ts';
import { AppError } from './errors.ts';
import { Defaulted, ProblemResponse } from './schemas.ts';
import type { HttpApp } from './server.ts';

const tags = ['operations'];
const ReadModelName = Type.String({ pattern: '^[a-z][a-z0-9_]{0,62}$', maxLength: 63, description: 'Read model name, e.g. product_search' });

const RebuildSchema = Type.Object(
  {
    rebuildId: Type.String({ format: 'uuid' }),
    readModel: Type.String(),
    consumer: Type.String(),
    status: Type.Union([Type.Literal('running'), Type.Literal('done'), Type.Literal('failed'), Type.Literal('superseded')], {
      description:
        'running; done (live again); failed (the read model stays paused, its live events wait: rebuild again; also a rebuild whose process stopped before it finished); superseded (a later rebuild took over)',
    }),
    sources: Type.Array(
      Type.Object({
        source: Type.String({ description: 'Source domain whose event log (outbox) is replayed' }),
        lastSeq: Type.Union([Type.Integer(), Type.Null()], { description: 'Outbox seq of the last event read' }),
        events: Type.Integer(),
        prunedUpToSeq: Type.Union([Type.Integer(), Type.Null()], { description: 'Events up to this seq were deleted by `events prune`; null when none were' }),
        done: Type.Boolean(),
      }),
    ),
    eventsApplied: Type.Integer(),
    eventsParked: Type.Integer({ description: 'Events whose handler failed, parked as dead letters (see /v1/admin/events/dead-letters)' }),
    lastError: Type.Union([Type.String(), Type.Null()]),
    startedAt: Type.String({ format: 'date-time' }),
    finishedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  },
  { additionalProperties: false },
);

function rebuildView(name: string, s: ReplayStatus) {
  return {
    rebuildId: s.id,
    readModel: name,
    consumer: s.consumer,
    status: s.status,
    sources: s.sources,
    eventsApplied: s.eventsApplied,
    eventsParked: s.eventsParked,
    lastError: s.lastError,
    startedAt: s.startedAt,
    finishedAt: s.finishedAt,
  };
}

/**
 * Admin routes of the read models that declare themselves rebuildable (`Subscription.readModel`):
 * list them, rebuild one from the event log (202, the rebuild goes on in the background), and read
 * a rebuild's progress. The replay is the messaging runtime's (ADR 0012).
 */
export function registerReadModelRoutes(app: HttpApp, messaging: Messaging): void {
  const readModel = (name: string): Subscription => {
    const subscription = messaging.readModels().get(name);
    if (!subscription) throw new AppError('NOT_FOUND', `no read model ${name}`);
    return subscription;
  };

  app.get(
    '/v1/admin/read-models',
    {
      config: { access: ['admin'] },
      schema: {
        tags,
        summary: 'Read models that can be rebuilt from the event log, with their last rebuild',
        description: 'Each read model is kept by one consumer from the events of its source domains; `lastRebuild` is null when it was never rebuilt.',
        response: {
          200: Type.Object({
            items: Type.Array(
              Type.Object({
                name: Type.String(),
                description: Type.String(),
                consumer: Type.String(),
                domain: Type.String(),
                events: Type.Array(Type.String()),
                lastRebuild: Type.Union([RebuildSchema, Type.Null()]),
              }),
            ),
          }),
          401: ProblemResponse,
          403: ProblemResponse,
        },
      },
    },
    async () => ({
      items: await Promise.all(
        [...messaging.readModels()].map(async ([name, s]) => {
          const last = await messaging.latestReplay(s.consumer);
          return {
            name,
            description: s.readModel?.description ?? '',
            consumer: s.consumer,
            domain: s.domain,
            events: [...s.events],
            lastRebuild: last ? rebuildView(name, last) : null,
          };
        }),
      ),
    }),
  );

  app.post(
    '/v1/admin/read-models/:name/rebuild',
    {
      config: { access: ['admin'], location: true },
      schema: {
        tags,
        summary: 'Rebuild a read model from the event log',
        description:
          'Replays the source domains\u2019 kept event logs (their outboxes), in order, into empty copies of the read model\u2019s tables, while live ' +
          'events keep arriving: they wait in the consumer\u2019s inbox and are applied after the replay. Answers 202 once the rebuild has started; ' +
          'follow it at the `Location` given. Refused with 409 REBUILD_IN_PROGRESS while one runs, and with 409 EVENT_LOG_INCOMPLETE ' +
          'when `events prune` deleted older events (add `?allowIncompleteLog=true` to rebuild from what is left). While it runs, reads see the ' +
          'read model as it was when the rebuild began; when the replay is done the copies replace it in one transaction, so no read sees it half built.',
        params: Type.Object({ name: ReadModelName }, { additionalProperties: false }),
        querystring: Type.Object(
          { allowIncompleteLog: Defaulted(Type.Boolean({ default: false, description: 'Rebuild even though older events were pruned (the read model then lacks what they said)' })) },
          { additionalProperties: false },
        ),
        response: { 202: RebuildSchema, 400: ProblemResponse, 401: ProblemResponse, 403: ProblemResponse, 404: ProblemResponse, 409: ProblemResponse },
      },
    },
    async (request, reply) => {
      const { name } = request.params;
      const subscription = readModel(name);
      try {
        const status = await messaging.startReplay(subscription.consumer, { allowIncompleteLog: request.query.allowIncompleteLog });
        reply.header('location', `/v1/admin/read-models/${name}/rebuilds/${status.id}`);
        return reply.status(202).send(rebuildView(name, status));
      } catch (error) {
        if (error instanceof ReplayRefused) {
          if (error.reason === 'running') throw new AppError('REBUILD_IN_PROGRESS', error.message, error.details);
          if (error.reason === 'log_incomplete') throw new AppError('EVENT_LOG_INCOMPLETE', error.message, error.details);
        }
        throw error;
      }
    },
  );

  app.get(
    '/v1/admin/read-models/:name/rebuilds/:rebuildId',
    {
      config: { access: ['admin'] },
      schema: {
        tags,
        summary: 'A rebuild of a read model: its status and progress per source',
        params: Type.Object({ name: ReadModelName, rebuildId: Type.String({ format: 'uuid' }) }, { additionalProperties: false }),
        response: { 200: RebuildSchema, 400: ProblemResponse, 401: ProblemResponse, 403: ProblemResponse, 404: ProblemResponse },
      },
    },
    async (request) => {
      const { name, rebuildId } = request.params;
      const status = await messaging.replayStatus(readModel(name).consumer, rebuildId);
      if (!status) throw new AppError('NOT_FOUND', 'no such rebuild of this read model');
      return rebuildView(name, status);
    },
  );
}
