-- One row per subscriber domain that has events held for it (see 0005): how many, since when, and
-- when to try it again. The relay reads this small table in its claim (not the held rows, which can
-- be millions after a long outage), shares the backoff between processes through it, and the
-- metrics read the counts and ages from it. Kept in the relay's transaction with the held rows.
CREATE TABLE {{held_subscribers}} (
  subscriber text PRIMARY KEY CHECK (length(subscriber) BETWEEN 1 AND 100),
  held bigint NOT NULL DEFAULT 0 CHECK (held >= 0),
  since timestamptz NOT NULL DEFAULT now(),
  attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  retry_at timestamptz NOT NULL DEFAULT now(),
  last_error text
);
COMMENT ON TABLE {{held_subscribers}} IS 'Added (not in design): subscriber domains with events held for them, with their count, age and retry backoff.';
COMMENT ON COLUMN {{held_subscribers}}.subscriber IS 'Subscriber domain.';
COMMENT ON COLUMN {{held_subscribers}}.held IS 'Events held for it now.';
COMMENT ON COLUMN {{held_subscribers}}.since IS 'When it started having events held (the row goes once none is left).';
COMMENT ON COLUMN {{held_subscribers}}.attempts IS 'Failed deliveries in a row; the backoff doubles with each.';
COMMENT ON COLUMN {{held_subscribers}}.retry_at IS 'Earliest time a relay (of any process) tries it again.';
COMMENT ON COLUMN {{held_subscribers}}.last_error IS 'Message of the last failed delivery.';
-- Rows held before this table existed (0005 alone) get theirs, so that they are seen.
INSERT INTO {{held_subscribers}} (subscriber, held, since)
SELECT subscriber, count(*), min(held_at) FROM {{held_deliveries}} GROUP BY subscriber;
