-- search_db, migration 0009: a product's price events (deltas of its windows) are folded onto the
-- windows of its last snapshot in version order, however late one comes. Before, a price event
-- replayed after a newer one was skipped for good (a sale that never showed, a withdrawn window that
-- stayed), and a snapshot replayed after a price event kept the row's older windows, without those
-- the snapshot brought (a new variant's price). The price events newer than the row's snapshot are
-- kept, in the table that kept the early ones, and the snapshot's own windows beside the folded
-- ones. The column is added without a rewrite or a scan: a row written before keeps null, and its
-- windows are the snapshot's when no price event was applied since (price_version <= product_version).
ALTER TABLE product_search_view ADD COLUMN snapshot_windows_json jsonb;
ALTER TABLE product_search_view ADD COLUMN unkept_price_version integer;
COMMENT ON COLUMN product_search_view.snapshot_windows_json IS 'Added (not in design): the price windows of the snapshot at product_version, onto which the price events kept in search_early_price_events are folded in version order to give price_windows_json; null on a row written before search migration 0009 that no snapshot covering its price events has come to since (its windows are the snapshot''s while price_version <= product_version; otherwise a late price event is skipped there, as before).';
COMMENT ON TABLE search_early_price_events IS 'Added (not in design): a product''s price events (products.price_changed.v1, products.price_withdrawn.v1) newer than the snapshot its row holds, or come before its first snapshot; folded in version order onto the snapshot''s windows, so one that comes late takes its place among them; those a newer snapshot covers are deleted. Part of the product_search read model (rebuilt with it).';
COMMENT ON COLUMN search_early_price_events.product_version IS 'products.version the event carries; a snapshot at this version or newer covers it.';
COMMENT ON COLUMN search_early_price_events.envelope IS 'The event as delivered (CloudEvents envelope), folded onto the snapshot''s windows in version order.';
COMMENT ON COLUMN search_early_price_events.received_at IS 'The event''s time (its envelope''s), not the clock of the projection: a rebuild keeps the same rows. Rows kept before search migration 0009 hold when they came.';
COMMENT ON COLUMN product_search_view.price_version IS 'Added (not in design): products.version of the newest price event folded into price_windows_json (not above product_version: none since the snapshot). A price event at or below product_version is covered by the snapshot; one below price_version that comes late is folded in its place.';
COMMENT ON COLUMN product_search_view.unkept_price_version IS 'Added (not in design): on a row written before search migration 0009 with price events applied since its snapshot and not kept, the version of the newest of those, noted when the first price event after the migration is applied (null: not noted; price_version then is that version). A snapshot newer than it folds the kept events onto its own windows; one not newer keeps the row''s windows.';
