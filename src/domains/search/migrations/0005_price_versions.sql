-- search_db, migration 0005: a price event (a window added or withdrawn) no longer moves
-- product_version, which only the product's snapshots set. It moved it, so a snapshot parked and
-- replayed later (an unlisting, say) was taken for older than the row and skipped, leaving an
-- unlisted product findable until its next snapshot. The windows keep their own version instead.
ALTER TABLE product_search_view ADD COLUMN price_version integer NOT NULL DEFAULT 0 CHECK (price_version >= 0);
COMMENT ON COLUMN product_search_view.price_version IS 'Added (not in design): products.version of the last price event applied to price_windows_json (0: none since the snapshot). A snapshot older than it keeps the windows; a price event not newer than it or than product_version is skipped.';
