import { Type } from '@sinclair/typebox';
import { principalOf } from '../../platform/http/access.ts';
import { PageQuerySchema, ProblemResponse, authProblems, pageOf } from '../../platform/http/schemas.ts';
import type { HttpApp } from '../../platform/http/server.ts';
import type { NotificationsDeps } from './deps.ts';
import { listNotifications, readNotification } from './list-notifications.ts';
import { readPreferences, updatePreferences } from './preferences.ts';
import { ChannelSchema, NotificationView, PreferencesBody, PreferencesView } from './schemas.ts';

const tags = ['notifications'];
const NotificationParams = Type.Object({ notificationId: Type.String({ format: 'uuid' }) }, { additionalProperties: false });

export function registerNotificationRoutes(app: HttpApp, deps: NotificationsDeps): void {
  app.get(
    '/v1/me/notifications',
    {
      config: { access: 'signed-in' },
      schema: {
        tags,
        summary: 'Your notifications, newest first',
        description:
          'In-app notifications by default; `channel=email` or `push` lists those with their delivery status (pending, sent, failed). ' +
          '`unread=true` keeps the ones not marked read. Cursor paged, `limit` at most 100. `unreadCount` counts your in-app notifications not marked read (all of them, not this page), for a badge.',
        querystring: Type.Object(
          {
            ...PageQuerySchema,
            channel: Type.Optional(ChannelSchema),
            unread: Type.Optional(Type.Boolean({ description: 'only notifications not marked read' })),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Composite([pageOf(NotificationView), Type.Object({ unreadCount: Type.Integer({ minimum: 0, description: 'In-app notifications not marked read' }) })]),
          ...authProblems,
        },
      },
    },
    async (request) =>
      listNotifications(deps, principalOf(request).userId, {
        channel: request.query.channel ?? 'in_app',
        unread: request.query.unread ?? false,
        cursor: request.query.cursor,
        limit: request.query.limit,
      }),
  );

  app.post(
    '/v1/me/notifications/:notificationId/read',
    {
      config: { access: 'signed-in' },
      schema: {
        tags,
        summary: 'Mark one of your notifications read',
        description: 'Idempotent: marking it again keeps the first readAt. Another user\'s notification is a 404.',
        params: NotificationParams,
        response: { 200: NotificationView, ...authProblems, 404: ProblemResponse },
      },
    },
    async (request) => readNotification(deps, principalOf(request).userId, request.params.notificationId),
  );

  app.get(
    '/v1/me/notification-preferences',
    {
      config: { access: 'signed-in' },
      schema: {
        tags,
        summary: 'Your channels per notification type',
        description: 'Every notification type with the channels it goes out on: your choice, or the default while you have not chosen.',
        response: { 200: PreferencesView, ...authProblems },
      },
    },
    async (request) => readPreferences(deps, principalOf(request).userId),
  );

  app.put(
    '/v1/me/notification-preferences',
    {
      config: { access: 'signed-in' },
      schema: {
        tags,
        summary: 'Choose the channels per notification type',
        description:
          'Sets the channels of the types given: `[]` switches a type off, `null` puts its default back; types left out keep their setting. ' +
          'Applies to notifications made from now on. An unknown type or channel, or a channel given twice, is a 400 and changes nothing.',
        body: PreferencesBody,
        response: { 200: PreferencesView, ...authProblems },
      },
    },
    async (request) => updatePreferences(deps, principalOf(request).userId, request.body as PreferencesBody),
  );
}
