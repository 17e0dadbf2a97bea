-- search_db, migration 0003: a price window that starts or ends with no event at that moment (a
-- sale scheduled ahead) changes min_price and max_price then; the search domain's repricing sweep
-- re-evaluates each row at its next window boundary (docs/search.md). Orders events now carry the
-- order's version, which order_list_view keeps.

ALTER TABLE product_search_view ADD COLUMN reprice_at timestamptz;
COMMENT ON COLUMN product_search_view.reprice_at IS 'Added (not in design): the first price window boundary after priced_at, when min_price and max_price change with no event; NULL when no window starts or ends later.';
CREATE INDEX product_search_view_reprice_idx ON product_search_view (reprice_at) WHERE reprice_at IS NOT NULL;

COMMENT ON COLUMN order_list_view.order_version IS 'Added (not in design): the order''s version from the newest orders event applied; for events written before orders carried a version, the count of newer facts applied.';
