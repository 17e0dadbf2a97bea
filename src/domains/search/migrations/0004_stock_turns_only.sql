-- search.product_search no longer takes every reservation and confirmation (the most frequent of
-- inventory's events), only those that can turn an item in or out of stock: the level kept here is
-- current as to being above zero, not as to the number of units.
COMMENT ON COLUMN product_stock_levels.available IS 'Units available as of the last event applied that could turn the item in or out of stock (reservations and confirmations are not taken): current as to being above zero, not as a count.';
COMMENT ON COLUMN product_stock_levels.stock_version IS 'stock_items.version of the last event applied (versions between are skipped); older events are ignored.';
