-- Replays of the event log into one consumer (a read model's rebuild, ADR 0012), and how far the
-- outbox was pruned, so that a replay knows whether the log it reads is still whole.

-- In the subscriber's database: one row per replay of a consumer. While a consumer has a replay
-- that is running, or one that failed and was not run again, its consumer rounds skip it: its live
-- events wait in the inbox (pending) and are applied, in arrival order, once a replay is done.
CREATE TABLE {{consumer_replays}} (
  id uuid PRIMARY KEY,
  consumer text NOT NULL CHECK (length(consumer) BETWEEN 1 AND 200),
  status text NOT NULL CHECK (status IN ('running', 'done', 'failed', 'superseded')),
  sources jsonb NOT NULL DEFAULT '[]'::jsonb CHECK (jsonb_typeof(sources) = 'array'),
  events_applied bigint NOT NULL DEFAULT 0 CHECK (events_applied >= 0),
  events_parked bigint NOT NULL DEFAULT 0 CHECK (events_parked >= 0),
  last_error text,
  started_at timestamptz NOT NULL DEFAULT now(),
  finished_at timestamptz,
  updated_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE {{consumer_replays}} IS 'Added (not in design): replays of the source domains'' event logs into one consumer of this domain (a read model rebuild); the consumer''s live events wait while one is running or failed.';
COMMENT ON COLUMN {{consumer_replays}}.id IS 'Replay id (UUIDv7), the rebuild id the admin route answers.';
COMMENT ON COLUMN {{consumer_replays}}.consumer IS 'Consumer replayed, e.g. search.product_search.';
COMMENT ON COLUMN {{consumer_replays}}.status IS 'running; done (the consumer is live again); failed (the consumer stays paused until a replay is done); superseded (a later replay took over).';
COMMENT ON COLUMN {{consumer_replays}}.sources IS 'Per source domain: the outbox seq read up to, events replayed, where the kept log starts and whether older rows were pruned.';
COMMENT ON COLUMN {{consumer_replays}}.events_applied IS 'Events of the log applied to the consumer so far.';
COMMENT ON COLUMN {{consumer_replays}}.events_parked IS 'Events whose handler failed during the replay, parked as dead letters (replayable).';
COMMENT ON COLUMN {{consumer_replays}}.last_error IS 'Why the replay failed or was superseded; NULL otherwise.';
COMMENT ON COLUMN {{consumer_replays}}.started_at IS 'When the replay started (the consumer''s inbox records and read tables were cleared then).';
COMMENT ON COLUMN {{consumer_replays}}.finished_at IS 'When it ended (done, failed or superseded); NULL while running.';
COMMENT ON COLUMN {{consumer_replays}}.updated_at IS 'When its progress was last recorded.';
-- At most one replay per consumer holds it paused; consumer rounds probe this index.
CREATE UNIQUE INDEX {{consumer_replays}}_paused_idx ON {{consumer_replays}} (consumer) WHERE status IN ('running', 'failed');
CREATE INDEX {{consumer_replays}}_consumer_idx ON {{consumer_replays}} (consumer, started_at DESC);

-- In the source's database: each retention run that deleted outbox rows, with the highest seq it
-- deleted. A replay reading this log learns from it that older events are gone.
CREATE TABLE {{outbox_prunes}} (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  up_to_seq bigint NOT NULL CHECK (up_to_seq >= 1),
  rows_deleted bigint NOT NULL CHECK (rows_deleted >= 1),
  older_than timestamptz NOT NULL,
  pruned_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE {{outbox_prunes}} IS 'Added (not in design): retention runs that deleted published outbox rows (events prune); a replay of the log warns or refuses when events it needs were deleted.';
COMMENT ON COLUMN {{outbox_prunes}}.id IS 'Run number.';
COMMENT ON COLUMN {{outbox_prunes}}.up_to_seq IS 'Highest outbox seq the run deleted (rows held for a subscriber may remain below it).';
COMMENT ON COLUMN {{outbox_prunes}}.rows_deleted IS 'Rows the run deleted.';
COMMENT ON COLUMN {{outbox_prunes}}.older_than IS 'The run deleted published rows published before this instant.';
COMMENT ON COLUMN {{outbox_prunes}}.pruned_at IS 'When the run committed.';
