import { decodeCursor, encodeCursor, isCursorInstant } from '../../platform/http/cursor.ts';
import { AppError } from '../../platform/http/errors.ts';
import { isUuid } from '../../platform/ids.ts';
import type { NotificationsDeps } from './deps.ts';
import { type NotificationView, notificationView } from './schemas.ts';
import { countUnread, markRead, selectUserNotifications } from './sql.ts';
import type { Channel } from './types.ts';

/** The user's own notifications on one channel, newest first, one page. */
export async function listNotifications(
  deps: Pick<NotificationsDeps, 'pool'>,
  userId: string,
  query: { channel: Channel; unread: boolean; cursor: string | undefined; limit: number },
): Promise<{ items: NotificationView[]; nextCursor: string | null; unreadCount: number }> {
  const scope = `notifications:${userId}:${query.channel}:${query.unread}`;
  const after = decodeCursor<{ createdAt: string; id: string }>(scope, query.cursor, ['createdAt', 'id']);
  if (after && (!isUuid(after.id) || !isCursorInstant(after.createdAt))) throw new AppError('INVALID_CURSOR');
  const [rows, unreadCount] = await Promise.all([
    selectUserNotifications(deps.pool, userId, query.channel, query.unread, after, query.limit + 1),
    countUnread(deps.pool, userId),
  ]);
  const page = rows.slice(0, query.limit);
  const last = page.at(-1);
  return {
    items: page.map(notificationView),
    nextCursor: rows.length > query.limit && last ? encodeCursor(scope, { createdAt: last.created_at.toISOString(), id: last.id }) : null,
    unreadCount,
  };
}

/** Marks one of the user's own notifications read (again: no change); another user's is a 404. */
export async function readNotification(deps: Pick<NotificationsDeps, 'pool' | 'clock'>, userId: string, id: string): Promise<NotificationView> {
  const row = await markRead(deps.pool, userId, id, deps.clock.now());
  if (!row) throw new AppError('NOT_FOUND', 'notification not found');
  return notificationView(row);
}
