import { newId } from '../../platform/ids.ts';
import type { NotificationsDeps } from './deps.ts';
import { type PreferencesBody, preferencesView } from './schemas.ts';
import { selectPreferences, writePreferences } from './sql.ts';
import type { Channel, NotificationType } from './types.ts';

export async function readPreferences(deps: Pick<NotificationsDeps, 'pool'>, userId: string) {
  return preferencesView(await selectPreferences(deps.pool, userId));
}

/**
 * Sets the channels of the types in the body ([] switches a type off, null puts its default back);
 * other types keep theirs. One statement: all of it or nothing. Answers every type as it is now.
 */
export async function updatePreferences(deps: Pick<NotificationsDeps, 'pool' | 'clock'>, userId: string, body: PreferencesBody) {
  const set: { id: string; type: NotificationType; channels: Channel[] }[] = [];
  const reset: NotificationType[] = [];
  for (const [type, channels] of Object.entries(body.channels) as [NotificationType, Channel[] | null | undefined][]) {
    if (channels === undefined) continue;
    if (channels === null) reset.push(type);
    else set.push({ id: newId(), type, channels });
  }
  await writePreferences(deps.pool, userId, set, reset, deps.clock.now());
  return readPreferences(deps, userId);
}
