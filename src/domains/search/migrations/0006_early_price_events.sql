-- search_db, migration 0006: a price event (a window added or withdrawn) that comes before its
-- product's first snapshot is kept until the snapshot comes. Products announce a product's snapshot
-- before its price events, so this happens only when the snapshot was parked (its handling failed)
-- and replayed later from the dead letters: the price event used to be skipped, and the row then
-- kept the snapshot's older windows (a price the seller had changed) until its next event.
CREATE TABLE search_early_price_events (
  product_id uuid NOT NULL,
  product_version integer NOT NULL CHECK (product_version >= 0),
  envelope jsonb NOT NULL,
  received_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (product_id, product_version)
);
COMMENT ON TABLE search_early_price_events IS 'Added (not in design): price events (products.price_changed.v1, products.price_withdrawn.v1) that came before their product''s first snapshot, kept until the snapshot comes and then applied after it, in version order; part of the product_search read model (rebuilt with it).';
COMMENT ON COLUMN search_early_price_events.product_id IS 'Product (products domain id) the event is about.';
COMMENT ON COLUMN search_early_price_events.product_version IS 'products.version the event carries; the snapshot that comes applies only the newer ones.';
COMMENT ON COLUMN search_early_price_events.envelope IS 'The event as delivered (CloudEvents envelope), applied as if it came after the snapshot.';
COMMENT ON COLUMN search_early_price_events.received_at IS 'When the event came.';
