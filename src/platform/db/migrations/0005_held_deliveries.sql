-- Events the relay could not hand to one subscriber domain's inbox (its database down or
-- unreachable) when it handed them to the others. The outbox row is marked published for
-- everyone; the held deliveries keep, per subscriber domain, which rows that subscriber still lacks,
-- in outbox order. While a subscriber has held deliveries, its later events are held behind them,
-- so it receives every aggregate's events in order once it is back (ADR 0002). Used by the
-- in-process transport; with NATS the broker keeps what a subscriber has not taken.
CREATE TABLE {{held_deliveries}} (
  subscriber text NOT NULL CHECK (length(subscriber) BETWEEN 1 AND 100),
  seq bigint NOT NULL,
  event_id uuid NOT NULL,
  held_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (subscriber, seq)
);
COMMENT ON TABLE {{held_deliveries}} IS 'Added (not in design): outbox events one subscriber domain has not received yet because its database could not be reached when the others received them; delivered in seq order once it can.';
COMMENT ON COLUMN {{held_deliveries}}.subscriber IS 'Subscriber domain whose inbox lacks the event.';
COMMENT ON COLUMN {{held_deliveries}}.seq IS 'Outbox seq of the event (delivery order).';
COMMENT ON COLUMN {{held_deliveries}}.event_id IS 'Outbox id of the event; its outbox row is kept (not pruned) while it is held.';
COMMENT ON COLUMN {{held_deliveries}}.held_at IS 'When the delivery was first held.';
CREATE INDEX {{held_deliveries}}_event_idx ON {{held_deliveries}} (event_id);
