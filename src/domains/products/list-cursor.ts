import { decodeCursor, encodeCursor, isCursorInstant } from '../../platform/http/cursor.ts';
import { AppError } from '../../platform/http/errors.ts';
import { isUuid } from '../../platform/ids.ts';
import type { ListCursor } from './sql.ts';

/** Lists are newest first; `scope` names the list and its filters (cursor.ts) on (created_at, id); the cursor is the key of the last item returned. */
export function decodeListCursor(scope: string, cursor: string | undefined): ListCursor | undefined {
  const after = decodeCursor<{ createdAt: string; id: string }>(scope, cursor, ['createdAt', 'id']);
  if (after === undefined) return undefined;
  if (!isCursorInstant(after.createdAt) || typeof after.id !== 'string' || !isUuid(after.id)) {
    throw new AppError('INVALID_CURSOR');
  }
  return { createdAt: after.createdAt, id: after.id };
}

export function encodeListCursor(scope: string, last: { created_at: Date; id: string }): string {
  return encodeCursor(scope, { createdAt: last.created_at.toISOString(), id: last.id });
}
