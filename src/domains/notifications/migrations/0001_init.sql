-- notifications_db, migration 0001: messages to users.
-- Design tables: notifications, notification_channels (notifications_outbox_events comes from the
-- platform template).
-- Added: notification_preferences (the channels a user wants per notification type).

-- ---------------------------------------------------------------------------
-- notifications (design, aggregate root)
-- ---------------------------------------------------------------------------
CREATE TABLE notifications (
  id uuid PRIMARY KEY,
  user_id uuid NOT NULL,
  type text NOT NULL CHECK (type ~ '^[a-z][a-z0-9_.]{0,99}$'),
  channel text NOT NULL CHECK (channel IN ('email', 'sms', 'push', 'in_app')),
  payload_json jsonb NOT NULL CHECK (jsonb_typeof(payload_json) = 'object'),
  status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
  attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  last_error text CHECK (length(last_error) <= 2000),
  source_event_id uuid,
  created_at timestamptz NOT NULL DEFAULT now(),
  sent_at timestamptz,
  read_at timestamptz,
  CONSTRAINT notifications_sent_check CHECK ((status = 'sent') = (sent_at IS NOT NULL)),
  -- One notification per event, user and channel, so a redelivered event notifies once.
  CONSTRAINT notifications_event_user_channel_key UNIQUE (source_event_id, user_id, channel)
);
COMMENT ON TABLE notifications IS 'Aggregate root: one message to one user on one channel, with its delivery status.';
COMMENT ON COLUMN notifications.id IS 'Notification id (UUIDv7 made by the application).';
COMMENT ON COLUMN notifications.user_id IS 'Recipient (accounts user id).';
COMMENT ON COLUMN notifications.type IS 'Notification type, e.g. order_paid or shipment_delivered; preferences are per type.';
COMMENT ON COLUMN notifications.channel IS 'Added (not in design): channel it goes out on: email, sms, push or in_app.';
COMMENT ON COLUMN notifications.payload_json IS 'Data rendered into the message (order number, amounts, tracking link).';
COMMENT ON COLUMN notifications.status IS 'pending (to send), sent or failed (gave up after bounded attempts).';
COMMENT ON COLUMN notifications.attempts IS 'Added (not in design): how many times sending was tried.';
COMMENT ON COLUMN notifications.last_error IS 'Added (not in design): provider error of the last failed attempt.';
COMMENT ON COLUMN notifications.source_event_id IS 'Added (not in design): id of the event that caused the notification; NULL when none.';
COMMENT ON COLUMN notifications.created_at IS 'When the notification was created.';
COMMENT ON COLUMN notifications.sent_at IS 'When the provider accepted it; NULL unless sent.';
COMMENT ON COLUMN notifications.read_at IS 'Added (not in design): when the user marked it read; NULL while unread.';
-- The user's own notifications, newest first.
CREATE INDEX notifications_user_idx ON notifications (user_id, created_at DESC, id DESC);
-- Sender: pending notifications in creation order.
CREATE INDEX notifications_pending_idx ON notifications (created_at, id) WHERE status = 'pending';

-- ---------------------------------------------------------------------------
-- notification_channels (design)
-- ---------------------------------------------------------------------------
CREATE TABLE notification_channels (
  id uuid PRIMARY KEY,
  type text NOT NULL CHECK (type IN ('email', 'sms', 'push', 'in_app')),
  name text NOT NULL UNIQUE CHECK (name ~ '^[a-z0-9_-]{1,40}$'),
  provider_info jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(provider_info) = 'object'),
  enabled boolean NOT NULL DEFAULT true,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE notification_channels IS 'Delivery providers per channel type (email, SMS, push, in-app) and their settings.';
COMMENT ON COLUMN notification_channels.id IS 'Channel id (UUIDv7 made by the application).';
COMMENT ON COLUMN notification_channels.type IS 'Channel type: email, sms, push or in_app.';
COMMENT ON COLUMN notification_channels.name IS 'Added (not in design): unique name of the provider configuration, e.g. smtp or console.';
COMMENT ON COLUMN notification_channels.provider_info IS 'Provider and its non-secret settings as a JSON object (secrets come from the environment).';
COMMENT ON COLUMN notification_channels.enabled IS 'Added (not in design): whether the provider is used.';
COMMENT ON COLUMN notification_channels.created_at IS 'Added (not in design): when the channel was configured.';
COMMENT ON COLUMN notification_channels.updated_at IS 'Added (not in design): when the channel last changed.';
CREATE INDEX notification_channels_type_idx ON notification_channels (type) WHERE enabled;

-- ---------------------------------------------------------------------------
-- notification_preferences (added)
-- ---------------------------------------------------------------------------
CREATE TABLE notification_preferences (
  id uuid PRIMARY KEY,
  user_id uuid NOT NULL,
  notification_type text NOT NULL CHECK (notification_type ~ '^[a-z][a-z0-9_.]{0,99}$'),
  channels jsonb NOT NULL DEFAULT '[]'::jsonb CHECK (
    jsonb_typeof(channels) = 'array' AND channels <@ '["email", "sms", "push", "in_app"]'::jsonb
  ),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT notification_preferences_user_type_key UNIQUE (user_id, notification_type)
);
COMMENT ON TABLE notification_preferences IS 'Added (not in design): the channels a user wants for each notification type; no row means the default channels.';
COMMENT ON COLUMN notification_preferences.id IS 'Preference id (UUIDv7 made by the application).';
COMMENT ON COLUMN notification_preferences.user_id IS 'User (accounts user id) the preference belongs to.';
COMMENT ON COLUMN notification_preferences.notification_type IS 'Notification type the preference applies to; unique per user.';
COMMENT ON COLUMN notification_preferences.channels IS 'JSON array of channel types (email, sms, push, in_app); empty to receive none.';
COMMENT ON COLUMN notification_preferences.updated_at IS 'When the preference last changed.';
