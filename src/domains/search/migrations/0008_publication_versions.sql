-- search_db, migration 0008: the publication a row's published_at comes from is versioned, so a
-- publication event parked and replayed after a newer snapshot still sets it. Before, the late
-- republication was skipped as older than the row, which kept sorting the product by its first
-- publication in 'newest' while a rebuild sorted it by its last.
ALTER TABLE product_search_view ADD COLUMN published_version integer CHECK (published_version >= 0);
-- Rows dated before: by a publication no newer than their snapshot, so an older publication
-- replayed later is skipped, as it was (left null, any late publication would date them again).
UPDATE product_search_view SET published_version = product_version WHERE published_at IS NOT NULL;
COMMENT ON COLUMN product_search_view.published_version IS 'Added (not in design): products.version of the product_published event published_at was taken from (null: none yet, published_at then the published snapshot''s updatedAt, if any; rows dated before this migration: their product_version). A publication event newer than it sets published_at, however late it comes.';
