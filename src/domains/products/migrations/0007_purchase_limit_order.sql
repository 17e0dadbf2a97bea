-- products_db, migration 0007: the limit per buyer copied from inventory keeps the time of the change
-- it came from, so an older change applied late (a replayed dead letter) no longer restores an older
-- limit over a newer one.
ALTER TABLE variant_availability ADD COLUMN max_per_buyer_changed_at timestamptz;
COMMENT ON COLUMN variant_availability.max_per_buyer_changed_at IS 'Added (not in design): changedAt of the inventory.purchase_limit_changed.v1 event max_per_buyer came from; an older one is ignored.';
