-- notifications_db, migration 0002: what delivery needs beyond 0001.
-- - notifications.next_attempt_at: the delivery worker's retry schedule (backoff between attempts,
--   and the lease of an attempt in flight); set exactly while a notification is pending.
-- - user_contacts: the email address of each user, a snapshot kept from accounts events, so that
--   email can be sent without reading the accounts database.

ALTER TABLE notifications ADD COLUMN next_attempt_at timestamptz;
COMMENT ON COLUMN notifications.next_attempt_at IS 'Added (not in design): when the delivery worker may try sending next (backoff after a failure, lease while an attempt is in flight); set while pending, NULL once sent or failed.';
ALTER TABLE notifications ADD CONSTRAINT notifications_schedule_check CHECK ((status = 'pending') = (next_attempt_at IS NOT NULL));
-- in_app needs no provider: it is shown as soon as it exists.
ALTER TABLE notifications ADD CONSTRAINT notifications_in_app_sent_check CHECK (channel <> 'in_app' OR status = 'sent');

-- The worker takes the due notifications, soonest first; 0001's index was in creation order, which
-- would walk past every notification waiting out a backoff.
DROP INDEX notifications_pending_idx;
CREATE INDEX notifications_due_idx ON notifications (next_attempt_at, id) WHERE status = 'pending';

CREATE TABLE user_contacts (
  user_id uuid PRIMARY KEY,
  email text NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
  updated_at timestamptz NOT NULL
);
COMMENT ON TABLE user_contacts IS 'Added (not in design): where to reach each user, copied from accounts events (accounts.user_registered.v1); never read from the accounts database.';
COMMENT ON COLUMN user_contacts.user_id IS 'User (accounts user id).';
COMMENT ON COLUMN user_contacts.email IS 'Email address the user registered with; email notifications go there.';
COMMENT ON COLUMN user_contacts.updated_at IS 'When the address was last copied from an accounts event.';
