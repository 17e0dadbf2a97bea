-- products_db, migration 0005: the product page shows a variant's limit per buyer, copied from
-- inventory.purchase_limit_changed.v1 beside the available quantity it already copies.
ALTER TABLE variant_availability ADD COLUMN max_per_buyer integer CHECK (max_per_buyer > 0);
COMMENT ON COLUMN variant_availability.max_per_buyer IS 'Most units one buyer may hold and buy of the variant (inventory''s purchase limit); NULL: no limit.';
