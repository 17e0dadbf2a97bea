import type { Queryable } from '../../platform/db/pool.ts';
import type { Channel, NotificationType } from './types.ts';

/** The notifications domain's queries, parameterised; every list is bounded by its caller. */

export type NotificationStatus = 'pending' | 'sent' | 'failed';

export interface NotificationRow {
  id: string;
  user_id: string;
  type: NotificationType;
  channel: Channel;
  payload_json: { title: string; body: string; data: Record<string, unknown> };
  status: NotificationStatus;
  attempts: number;
  last_error: string | null;
  source_event_id: string | null;
  created_at: Date;
  sent_at: Date | null;
  read_at: Date | null;
}

const COLUMNS = 'id, user_id, type, channel, payload_json, status, attempts, last_error, source_event_id, created_at, sent_at, read_at';

export interface NewNotification {
  id: string;
  userId: string;
  type: NotificationType;
  channel: Channel;
  payload: { title: string; body: string; data: Record<string, unknown> };
}

/** The channels chosen by each user for the given types (rows only where a choice was made). */
export async function selectChosenChannels(
  q: Queryable,
  wanted: readonly { userId: string; type: NotificationType }[],
): Promise<Map<string, string[]>> {
  const { rows } = await q.query<{ user_id: string; notification_type: string; channels: string[] }>(
    `SELECT p.user_id, p.notification_type, p.channels
       FROM unnest($1::uuid[], $2::text[]) AS w(user_id, notification_type)
       JOIN notification_preferences p ON p.user_id = w.user_id AND p.notification_type = w.notification_type`,
    [wanted.map((w) => w.userId), wanted.map((w) => w.type)],
  );
  return new Map(rows.map((r) => [`${r.user_id}/${r.notification_type}`, r.channels]));
}

/**
 * Inserts the notifications of one source event. in_app ones are sent as they are written; the
 * others wait for the delivery worker, due at once. A recipient who has any notification of the
 * event already gets none more (an event applied again: a replayed dead letter, a pruned inbox),
 * whatever channels they chose since (found by an audit: a channel added in between was sent the
 * old news). One per (event, user, channel) is also held by the unique key.
 */
export async function insertNotifications(q: Queryable, sourceEventId: string, rows: readonly NewNotification[], now: Date): Promise<NotificationRow[]> {
  if (rows.length === 0) return [];
  const result = await q.query<NotificationRow>(
    `INSERT INTO notifications (id, user_id, type, channel, payload_json, status, source_event_id, created_at, sent_at, next_attempt_at)
     SELECT n.id, n.user_id, n.type, n.channel, n.payload,
            CASE WHEN n.channel = 'in_app' THEN 'sent' ELSE 'pending' END,
            $6::uuid, $7::timestamptz,
            CASE WHEN n.channel = 'in_app' THEN $7::timestamptz END,
            CASE WHEN n.channel = 'in_app' THEN NULL ELSE $7::timestamptz END
       FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::jsonb[]) WITH ORDINALITY AS n(id, user_id, type, channel, payload, ord)
      WHERE NOT EXISTS (SELECT 1 FROM notifications made WHERE made.source_event_id = $6::uuid AND made.user_id = n.user_id)
      ORDER BY n.ord
     ON CONFLICT (source_event_id, user_id, channel) DO NOTHING
     RETURNING ${COLUMNS}`,
    [rows.map((r) => r.id), rows.map((r) => r.userId), rows.map((r) => r.type), rows.map((r) => r.channel), rows.map((r) => JSON.stringify(r.payload)), sourceEventId, now],
  );
  return result.rows;
}

export async function upsertContact(q: Queryable, userId: string, email: string, at: Date): Promise<void> {
  await q.query(
    `INSERT INTO user_contacts (user_id, email, updated_at) VALUES ($1, $2, $3)
     ON CONFLICT (user_id) DO UPDATE SET email = excluded.email, updated_at = excluded.updated_at
      WHERE user_contacts.updated_at <= excluded.updated_at`,
    [userId, email, at],
  );
}

/** A user's notifications on one channel, newest first, after the cursor; uses notifications_user_idx. */
export async function selectUserNotifications(
  q: Queryable,
  userId: string,
  channel: Channel,
  unreadOnly: boolean,
  after: { createdAt: string; id: string } | undefined,
  limit: number,
): Promise<NotificationRow[]> {
  const { rows } = await q.query<NotificationRow>(
    `SELECT ${COLUMNS} FROM notifications
      WHERE user_id = $1 AND channel = $2 AND ($3::boolean IS FALSE OR read_at IS NULL)
        AND ($4::timestamptz IS NULL OR (created_at, id) < ($4::timestamptz, $5::uuid))
      ORDER BY created_at DESC, id DESC
      LIMIT $6`,
    [userId, channel, unreadOnly, after?.createdAt ?? null, after?.id ?? null, limit],
  );
  return rows;
}

/** How many of the user's in-app notifications are not marked read (through the user index). */
export async function countUnread(q: Queryable, userId: string): Promise<number> {
  const { rows } = await q.query<{ n: number }>(
    "SELECT count(*)::int AS n FROM notifications WHERE user_id = $1 AND channel = 'in_app' AND read_at IS NULL",
    [userId],
  );
  return rows[0]?.n ?? 0;
}

/** Marks one of the user's notifications read (the first time only); undefined when it is not theirs. */
export async function markRead(q: Queryable, userId: string, id: string, now: Date): Promise<NotificationRow | undefined> {
  const { rows } = await q.query<NotificationRow>(
    `UPDATE notifications SET read_at = coalesce(read_at, $3) WHERE id = $2 AND user_id = $1 RETURNING ${COLUMNS}`,
    [userId, id, now],
  );
  return rows[0];
}

export interface PreferenceRow {
  notification_type: string;
  channels: string[];
  updated_at: Date;
}

export async function selectPreferences(q: Queryable, userId: string): Promise<PreferenceRow[]> {
  const { rows } = await q.query<PreferenceRow>(
    'SELECT notification_type, channels, updated_at FROM notification_preferences WHERE user_id = $1',
    [userId],
  );
  return rows;
}

/**
 * Sets the user's channels for some types and puts others back to their defaults, in one
 * statement (all or nothing), answering the user's choices as they are after it.
 */
export async function writePreferences(
  q: Queryable,
  userId: string,
  set: readonly { id: string; type: NotificationType; channels: readonly Channel[] }[],
  reset: readonly NotificationType[],
  now: Date,
): Promise<void> {
  await q.query(
    `WITH removed AS (
       DELETE FROM notification_preferences WHERE user_id = $1 AND notification_type = ANY($6::text[])
     )
     INSERT INTO notification_preferences (id, user_id, notification_type, channels, updated_at)
     SELECT s.id, $1, s.notification_type, s.channels, $5
       FROM unnest($2::uuid[], $3::text[], $4::jsonb[]) AS s(id, notification_type, channels)
     ON CONFLICT (user_id, notification_type) DO UPDATE SET channels = excluded.channels, updated_at = excluded.updated_at`,
    [userId, set.map((s) => s.id), set.map((s) => s.type), set.map((s) => JSON.stringify(s.channels)), now, reset],
  );
}

export interface DueRow {
  id: string;
  user_id: string;
  type: NotificationType;
  channel: Exclude<Channel, 'in_app'>;
  payload_json: NotificationRow['payload_json'];
  attempts: number;
  source_event_id: string | null;
  email: string | null;
  created_at: Date;
  /** The end of this claim's lease: with the attempt count, what tells this claim from a later one. */
  lease_until: Date;
}

/**
 * Claims up to `limit` due notifications: counts the attempt and moves their next attempt to
 * `leaseUntil`, so that no other worker takes them while this one sends; if it dies, they are due
 * again then. Rows another worker holds are skipped. Uses notifications_due_idx.
 */
export async function claimDue(q: Queryable, now: Date, leaseUntil: Date, limit: number): Promise<DueRow[]> {
  const { rows } = await q.query<DueRow>(
    `WITH due AS (
       SELECT id FROM notifications
        WHERE status = 'pending' AND next_attempt_at <= $1
        ORDER BY next_attempt_at, id
        LIMIT $3
        FOR UPDATE SKIP LOCKED
     )
     UPDATE notifications n SET attempts = n.attempts + 1, next_attempt_at = $2
       FROM due WHERE n.id = due.id
     RETURNING n.id, n.user_id, n.type, n.channel, n.payload_json, n.attempts, n.source_event_id, n.created_at, n.next_attempt_at AS lease_until,
               (SELECT c.email FROM user_contacts c WHERE c.user_id = n.user_id) AS email`,
    [now, leaseUntil, limit],
  );
  return rows;
}

export interface Outcome {
  id: string;
  /**
   * The claim this outcome is of (its attempt count and lease end): a worker whose lease ran out
   * (another took over) changes nothing. The count alone could not tell, since an uncounted claim
   * takes it back (found by a review: a stale worker's wait overwrote its successor's).
   */
  attempts: number;
  leaseUntil: Date;
  /** False when nothing was sent (an email whose address has not arrived): the claim's count is taken back. */
  counted: boolean;
  status: NotificationStatus;
  sentAt: Date | null;
  nextAttemptAt: Date | null;
  lastError: string | null;
}

export interface RecordedOutcome {
  id: string;
  user_id: string;
  type: NotificationType;
  channel: Channel;
  status: NotificationStatus;
  attempts: number;
  source_event_id: string | null;
  sent_at: Date | null;
  last_error: string | null;
}

/** Records the outcomes of claimed attempts; answers the rows it changed. */
export async function recordOutcomes(q: Queryable, outcomes: readonly Outcome[]): Promise<RecordedOutcome[]> {
  if (outcomes.length === 0) return [];
  const { rows } = await q.query<RecordedOutcome>(
    `UPDATE notifications n
        SET status = o.status, sent_at = o.sent_at, next_attempt_at = o.next_attempt_at, last_error = o.last_error,
            attempts = CASE WHEN o.counted THEN n.attempts ELSE n.attempts - 1 END
       FROM unnest($1::uuid[], $2::int[], $3::text[], $4::timestamptz[], $5::timestamptz[], $6::text[], $7::boolean[], $8::timestamptz[])
            AS o(id, attempts, status, sent_at, next_attempt_at, last_error, counted, lease_until)
      WHERE n.id = o.id AND n.status = 'pending' AND n.attempts = o.attempts AND n.next_attempt_at = o.lease_until
     RETURNING n.id, n.user_id, n.type, n.channel, n.status, n.attempts, n.source_event_id, n.sent_at, n.last_error`,
    [
      outcomes.map((o) => o.id),
      outcomes.map((o) => o.attempts),
      outcomes.map((o) => o.status),
      outcomes.map((o) => o.sentAt?.toISOString() ?? null),
      outcomes.map((o) => o.nextAttemptAt?.toISOString() ?? null),
      outcomes.map((o) => o.lastError),
      outcomes.map((o) => o.counted),
      outcomes.map((o) => o.leaseUntil.toISOString()),
    ],
  );
  return rows;
}
