-- search_db, migration 0002: what the projections need besides 0001 (ADR 0012, docs/search.md).
-- product_search_view keeps the snapshot's variants and price windows, so that a price change
-- (an event that is not a snapshot) can be applied, and its variant ids, so that stock levels reach
-- it; stock levels arrive per stock item, possibly before the product, so they have a table of their
-- own; order_list_view orders its events by their time (orders events carry no version).

ALTER TABLE product_search_view
  ADD COLUMN variant_ids uuid[] NOT NULL DEFAULT '{}',
  ADD COLUMN variants_json jsonb NOT NULL DEFAULT '[]'::jsonb CHECK (jsonb_typeof(variants_json) = 'array'),
  ADD COLUMN price_windows_json jsonb NOT NULL DEFAULT '[]'::jsonb CHECK (jsonb_typeof(price_windows_json) = 'array'),
  ADD COLUMN priced_at timestamptz NOT NULL DEFAULT now();
COMMENT ON COLUMN product_search_view.variant_ids IS 'Added (not in design): ids of the product''s variants, to find the product from a stock level.';
COMMENT ON COLUMN product_search_view.variants_json IS 'Added (not in design): the variants'' ids, positions and list prices from the last snapshot, for pricing.';
COMMENT ON COLUMN product_search_view.price_windows_json IS 'Added (not in design): current and upcoming price windows from the last snapshot and the price changes since.';
COMMENT ON COLUMN product_search_view.priced_at IS 'Added (not in design): the instant min_price and max_price were evaluated at (the time of the event that last set them).';
COMMENT ON COLUMN product_search_view.attributes_json IS 'Added (not in design): attribute name to array of values, from the product''s searchable attributes and its variants'' attributes, for filters and facets.';
CREATE INDEX product_search_view_variants_idx ON product_search_view USING gin (variant_ids);

CREATE TABLE product_stock_levels (
  stock_item_id uuid PRIMARY KEY,
  variant_id uuid NOT NULL,
  available integer NOT NULL CHECK (available >= 0),
  stock_version bigint NOT NULL CHECK (stock_version >= 0),
  updated_at timestamptz NOT NULL
);
COMMENT ON TABLE product_stock_levels IS 'Added (not in design): available stock per stock item, from inventory events, from which product_search_view.in_stock is derived.';
COMMENT ON COLUMN product_stock_levels.stock_item_id IS 'Stock item (inventory domain id).';
COMMENT ON COLUMN product_stock_levels.variant_id IS 'Variant the stock item counts.';
COMMENT ON COLUMN product_stock_levels.available IS 'Units available after the last event applied.';
COMMENT ON COLUMN product_stock_levels.stock_version IS 'stock_items.version of the last event applied; older events are ignored.';
COMMENT ON COLUMN product_stock_levels.updated_at IS 'Time of the event that set the level.';
CREATE INDEX product_stock_levels_variant_idx ON product_stock_levels (variant_id);

ALTER TABLE order_list_view ADD COLUMN last_event_at timestamptz;
COMMENT ON COLUMN order_list_view.last_event_at IS 'Added (not in design): time of the newest orders event applied (placedAt, paidAt, cancelledAt or changedAt); an older event is ignored.';
COMMENT ON COLUMN order_list_view.order_version IS 'Added (not in design): orders events applied to the row with a newer time than the one before (orders events carry no version of the order).';

CREATE INDEX seller_product_sales_units_idx ON seller_product_sales (seller_id, currency, units_sold DESC);
