-- search_db, migration 0008: the publication a row's published_at comes from is versioned, so a
-- publication event parked and replayed after a newer snapshot still sets it. Before, the late
-- republication was skipped as older than the row, which kept sorting the product by its first
-- publication in 'newest' while a rebuild sorted it by its last. Rows written before keep null and
-- the old rule (a late publication skipped), so the column is added without a rewrite or a scan.
ALTER TABLE product_search_view ADD COLUMN published_version integer;
COMMENT ON COLUMN product_search_view.published_version IS 'Added (not in design): products.version of the product_published event published_at was taken from; 0: taken from a published snapshot''s updatedAt, no publication seen yet; null: not published yet, or a row written before this column (a late publication then leaves a published_at alone, as before). A publication event newer than it sets published_at, however late it comes.';
