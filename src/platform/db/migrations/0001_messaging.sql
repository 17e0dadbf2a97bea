-- Platform messaging tables, created in every domain database from this one template.
-- {{outbox}}, {{inbox}} and {{dead_letters}} are replaced by the domain's table names.

CREATE OR REPLACE FUNCTION bazaar_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP USING ERRCODE = 'BZ001';
END;
$$;
COMMENT ON FUNCTION bazaar_refuse_change() IS 'Trigger function that makes a table append-only by refusing UPDATE, DELETE and TRUNCATE.';

-- Outbox rows are immutable except for published_at, which may be set once.
-- Published rows may be deleted only by an explicit retention run (SET LOCAL bazaar.outbox_prune = 'on').
CREATE OR REPLACE FUNCTION bazaar_outbox_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    IF OLD.published_at IS NOT NULL AND current_setting('bazaar.outbox_prune', true) = 'on' THEN
      RETURN OLD;
    END IF;
    RAISE EXCEPTION '% is append-only: DELETE refused', TG_TABLE_NAME USING ERRCODE = 'BZ001';
  END IF;
  IF OLD.published_at IS NULL AND NEW.published_at IS NOT NULL
     AND (to_jsonb(NEW) - 'published_at') = (to_jsonb(OLD) - 'published_at') THEN
    RETURN NEW;
  END IF;
  RAISE EXCEPTION '% is append-only: only published_at may be set, once', TG_TABLE_NAME USING ERRCODE = 'BZ001';
END;
$$;

CREATE OR REPLACE FUNCTION bazaar_notify_channel() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify(TG_ARGV[0], '');
  RETURN NULL;
END;
$$;

CREATE TABLE {{outbox}} (
  id uuid PRIMARY KEY,
  seq bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
  aggregate_id uuid NOT NULL,
  aggregate_type text NOT NULL CHECK (length(aggregate_type) BETWEEN 1 AND 100),
  event_type text NOT NULL CHECK (event_type ~ '^[a-z_]+\.[a-z_]+\.v[0-9]+$'),
  payload jsonb NOT NULL,
  headers jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  published_at timestamptz
);
COMMENT ON TABLE {{outbox}} IS 'Transactional outbox: events written in the same transaction as the change they describe; kept after publication as the durable, replayable event log.';
COMMENT ON COLUMN {{outbox}}.id IS 'Event id (UUIDv7), the CloudEvents id; subscribers deduplicate on it.';
COMMENT ON COLUMN {{outbox}}.seq IS 'Added (not in design): commit-ordered sequence used by the relay to keep per-aggregate order.';
COMMENT ON COLUMN {{outbox}}.aggregate_id IS 'Id of the aggregate the event is about (the CloudEvents subject).';
COMMENT ON COLUMN {{outbox}}.aggregate_type IS 'Added (not in design): kind of aggregate, e.g. order or stock_item.';
COMMENT ON COLUMN {{outbox}}.event_type IS 'Versioned past-tense event type, e.g. orders.order_placed.v1.';
COMMENT ON COLUMN {{outbox}}.payload IS 'Event data, validated against the versioned contract schema before it is written.';
COMMENT ON COLUMN {{outbox}}.headers IS 'Added (not in design): CloudEvents attributes besides data (source, time, subject) plus correlation and causation ids.';
COMMENT ON COLUMN {{outbox}}.created_at IS 'When the event was written.';
COMMENT ON COLUMN {{outbox}}.published_at IS 'When the relay handed the event to the transport; NULL while pending. Set once, never cleared.';
CREATE INDEX {{outbox}}_pending_idx ON {{outbox}} (seq) WHERE published_at IS NULL;
CREATE INDEX {{outbox}}_aggregate_idx ON {{outbox}} (aggregate_id, seq);
CREATE INDEX {{outbox}}_created_at_idx ON {{outbox}} (created_at);
CREATE TRIGGER {{outbox}}_guard BEFORE UPDATE OR DELETE ON {{outbox}}
  FOR EACH ROW EXECUTE FUNCTION bazaar_outbox_guard();
CREATE TRIGGER {{outbox}}_no_truncate BEFORE TRUNCATE ON {{outbox}}
  FOR EACH STATEMENT EXECUTE FUNCTION bazaar_refuse_change();
CREATE TRIGGER {{outbox}}_notify AFTER INSERT ON {{outbox}}
  FOR EACH STATEMENT EXECUTE FUNCTION bazaar_notify_channel('bazaar_outbox');

CREATE TABLE {{inbox}} (
  consumer text NOT NULL CHECK (length(consumer) BETWEEN 1 AND 200),
  event_id uuid NOT NULL,
  seq bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
  source text NOT NULL,
  aggregate_id uuid NOT NULL,
  event_type text NOT NULL,
  envelope jsonb NOT NULL,
  status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'processed', 'dead')),
  attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  last_error text,
  received_at timestamptz NOT NULL DEFAULT now(),
  processed_at timestamptz,
  PRIMARY KEY (consumer, event_id)
);
COMMENT ON TABLE {{inbox}} IS 'Added (not in design): inbox of events received by this domain''s consumers; unique per consumer and event so a duplicate delivery is a no-op.';
COMMENT ON COLUMN {{inbox}}.consumer IS 'Name of the subscribing consumer, e.g. inventory.catalog.';
COMMENT ON COLUMN {{inbox}}.event_id IS 'Id of the received event.';
COMMENT ON COLUMN {{inbox}}.seq IS 'Arrival order, used to apply events of one aggregate in order.';
COMMENT ON COLUMN {{inbox}}.source IS 'Domain that published the event.';
COMMENT ON COLUMN {{inbox}}.aggregate_id IS 'Aggregate the event is about, for per-aggregate ordering.';
COMMENT ON COLUMN {{inbox}}.event_type IS 'Versioned event type.';
COMMENT ON COLUMN {{inbox}}.envelope IS 'The whole CloudEvents envelope as received.';
COMMENT ON COLUMN {{inbox}}.status IS 'pending until applied, processed once applied, dead once parked as a dead letter.';
COMMENT ON COLUMN {{inbox}}.attempts IS 'How many times the handler has been run for this event.';
COMMENT ON COLUMN {{inbox}}.next_attempt_at IS 'Earliest time of the next attempt (exponential backoff after a failure).';
COMMENT ON COLUMN {{inbox}}.last_error IS 'Message of the last handler failure.';
COMMENT ON COLUMN {{inbox}}.received_at IS 'When the event reached this inbox.';
COMMENT ON COLUMN {{inbox}}.processed_at IS 'When the handler''s effect committed.';
CREATE INDEX {{inbox}}_pending_idx ON {{inbox}} (consumer, seq) WHERE status = 'pending';
CREATE INDEX {{inbox}}_pending_aggregate_idx ON {{inbox}} (consumer, aggregate_id, seq) WHERE status = 'pending';
CREATE TRIGGER {{inbox}}_notify AFTER INSERT OR UPDATE OF status ON {{inbox}}
  FOR EACH STATEMENT EXECUTE FUNCTION bazaar_notify_channel('bazaar_inbox');

CREATE TABLE {{dead_letters}} (
  id uuid PRIMARY KEY,
  consumer text NOT NULL,
  event_id uuid NOT NULL,
  event_type text NOT NULL,
  source text NOT NULL,
  envelope jsonb NOT NULL,
  attempts integer NOT NULL CHECK (attempts > 0),
  last_error text NOT NULL,
  parked_at timestamptz NOT NULL DEFAULT now(),
  replayed_at timestamptz,
  FOREIGN KEY (consumer, event_id) REFERENCES {{inbox}} (consumer, event_id)
);
COMMENT ON TABLE {{dead_letters}} IS 'Added (not in design): events a consumer failed to apply after the bounded number of attempts, parked for inspection and replay.';
COMMENT ON COLUMN {{dead_letters}}.id IS 'Dead letter id (UUIDv7), used to replay it.';
COMMENT ON COLUMN {{dead_letters}}.consumer IS 'Consumer that failed.';
COMMENT ON COLUMN {{dead_letters}}.event_id IS 'Id of the parked event.';
COMMENT ON COLUMN {{dead_letters}}.event_type IS 'Versioned event type.';
COMMENT ON COLUMN {{dead_letters}}.source IS 'Domain that published the event.';
COMMENT ON COLUMN {{dead_letters}}.envelope IS 'The whole CloudEvents envelope.';
COMMENT ON COLUMN {{dead_letters}}.attempts IS 'Attempts made before parking.';
COMMENT ON COLUMN {{dead_letters}}.last_error IS 'Message of the last failure.';
COMMENT ON COLUMN {{dead_letters}}.parked_at IS 'When the event was parked.';
COMMENT ON COLUMN {{dead_letters}}.replayed_at IS 'When an operator sent it back for delivery; NULL while parked.';
CREATE INDEX {{dead_letters}}_parked_idx ON {{dead_letters}} (parked_at DESC) WHERE replayed_at IS NULL;
