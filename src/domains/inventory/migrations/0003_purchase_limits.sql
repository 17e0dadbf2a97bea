-- inventory_db, migration 0003: a seller's limit of units per buyer (a flash sale's "2 per customer").
--
-- max_per_buyer caps the units one buyer may hold (active reservations) and have bought (confirmed
-- ones) of the item, counted over the reservations made since the limit was set
-- (purchase_limit_since): setting a limit starts a fresh count, clearing it ends it. Reservations are
-- refused with PURCHASE_LIMIT_EXCEEDED beyond it. Every reservation of an item goes through the
-- item's row (locked, or compared-and-set on its version and limit), so two requests of one buyer
-- can never both pass the check.

ALTER TABLE stock_items
  ADD COLUMN max_per_buyer integer CHECK (max_per_buyer BETWEEN 1 AND 1000000),
  ADD COLUMN purchase_limit_since timestamptz,
  ADD CONSTRAINT stock_items_purchase_limit_check CHECK ((max_per_buyer IS NULL) = (purchase_limit_since IS NULL));

COMMENT ON COLUMN stock_items.max_per_buyer IS 'Added (not in design): the most units of this item one buyer may hold and have bought, counted over reservations made since purchase_limit_since; NULL when there is no limit.';
COMMENT ON COLUMN stock_items.purchase_limit_since IS 'Added (not in design): when the seller set the current max_per_buyer; reservations made before it do not count against it. NULL when there is no limit.';

-- The check finds a buyer's reservations by reservations_owner_idx (owner_id, created_at) and their
-- lines of the item by stock_reservations_reservation_item_key: no new index.
