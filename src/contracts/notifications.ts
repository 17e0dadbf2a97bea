import { type Static, Type } from '@sinclair/typebox';
import { defineEvent } from './define.ts';
import { registerContracts } from './registry.ts';

/**
 * Events of the notifications domain: a notification reached its user on a channel, or delivery
 * gave up. Neither carries the message nor the address it went to (an email is personal data, and
 * the outbox is a log that is never erased); the notification's id leads to both.
 */
const Uuid = Type.String({ pattern: '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$', maxLength: 36 });
const Instant = Type.String({ pattern: '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d+)?Z$', maxLength: 40 });
const NotificationType = Type.String({ pattern: '^[a-z][a-z0-9_.]{0,99}$', maxLength: 100 });
const Channel = Type.Union([Type.Literal('in_app'), Type.Literal('email'), Type.Literal('sms'), Type.Literal('push')]);

const notificationFacts = {
  notificationId: Uuid,
  userId: Uuid,
  notificationType: NotificationType,
  channel: Channel,
  /** The event that caused the notification; null when none did. */
  sourceEventId: Type.Union([Uuid, Type.Null()]),
  /** Sending attempts made (0 for in_app, which is shown at once). */
  attempts: Type.Integer({ minimum: 0, maximum: 1000 }),
};

export const NotificationSentV1 = defineEvent(
  'notifications.notification_sent.v1',
  Type.Object({ ...notificationFacts, sentAt: Instant }, { additionalProperties: false }),
);
export type NotificationSentV1 = Static<typeof NotificationSentV1.schema>;

export const NotificationFailedV1 = defineEvent(
  'notifications.notification_failed.v1',
  Type.Object(
    {
      ...notificationFacts,
      /** The provider's last error, as recorded. */
      lastError: Type.String({ minLength: 1, maxLength: 2000 }),
      failedAt: Instant,
    },
    { additionalProperties: false },
  ),
);
export type NotificationFailedV1 = Static<typeof NotificationFailedV1.schema>;

registerContracts(NotificationSentV1, NotificationFailedV1);
