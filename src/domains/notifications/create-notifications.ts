import type { NotificationSentV1 } from '../../contracts/notifications.ts';
import { newId } from '../../platform/ids.ts';
import type { HandlerContext } from '../../platform/messaging/subscription.ts';
import { type NotificationIntent, perRecipient } from './intents.ts';
import { type NewNotification, insertNotifications, selectChosenChannels } from './sql.ts';
import { channelsFor } from './types.ts';

/**
 * Turns one event's intents into notifications, in the consumer's transaction: one per channel the
 * recipient wants for the type (their choice, or the type's default), none for a type switched
 * off. A recipient with notifications of the event already gets none more, so an event applied
 * again adds nothing (see insertNotifications). The in_app ones are
 * visible at once and announced as sent; the others wait for the delivery worker.
 */
export async function createNotifications(ctx: HandlerContext, sourceEventId: string, given: readonly NotificationIntent[]): Promise<number> {
  const intents = perRecipient(given);
  if (intents.length === 0) return 0;
  const chosen = await selectChosenChannels(ctx.tx, intents);
  const rows: NewNotification[] = intents.flatMap((intent) =>
    channelsFor(intent.type, chosen.get(`${intent.userId}/${intent.type}`)).map((channel) => ({
      id: newId(),
      userId: intent.userId,
      type: intent.type,
      channel,
      payload: { title: intent.title, body: intent.body, data: intent.data },
    })),
  );
  const inserted = await insertNotifications(ctx.tx, sourceEventId, rows, ctx.now);
  const sent = inserted.filter((n) => n.channel === 'in_app');
  await ctx.emit(
    sent.map((n) => {
      const data: NotificationSentV1 = {
        notificationId: n.id,
        userId: n.user_id,
        notificationType: n.type,
        channel: n.channel,
        sourceEventId: n.source_event_id,
        attempts: 0,
        sentAt: ctx.now.toISOString(),
      };
      return { type: 'notifications.notification_sent.v1', aggregateId: n.id, aggregateType: 'notification', data };
    }),
  );
  return inserted.length;
}
