-- products_db, migration 0002: what the catalog's reads and writes need beyond the design tables.
--   * product_variants.seller_id: a variant SKU is unique per seller (inventory and sellers look stock
--     up by SKU), like the product SKU.
--   * variant_availability: a local read copy of inventory's available quantity, fed by inventory
--     events, so the product page never calls the inventory domain.
--   * products_cache_invalidate: every products event, at commit, tells every process which
--     products changed (LISTEN products_cache), so per-process caches drop them (docs/adr/0007-product-read-cache.md).

-- ---------------------------------------------------------------------------
-- product_variants.seller_id (added)
-- ---------------------------------------------------------------------------
ALTER TABLE product_variants ADD COLUMN seller_id uuid;
UPDATE product_variants v SET seller_id = p.seller_id FROM products p WHERE p.id = v.product_id;
ALTER TABLE product_variants ALTER COLUMN seller_id SET NOT NULL;
COMMENT ON COLUMN product_variants.seller_id IS 'Added (not in design): the seller who owns the product (copied from products.seller_id), so that a variant SKU is unique per seller.';
ALTER TABLE product_variants ADD CONSTRAINT product_variants_seller_sku_key UNIQUE (seller_id, sku);

-- ---------------------------------------------------------------------------
-- variant_availability (added): read copy of inventory, fed by inventory events
-- ---------------------------------------------------------------------------
CREATE TABLE variant_availability (
  variant_id uuid PRIMARY KEY,
  product_id uuid NOT NULL,
  stock_item_id uuid NOT NULL,
  available integer NOT NULL CHECK (available >= 0),
  stock_version bigint NOT NULL CHECK (stock_version >= 0),
  as_of timestamptz NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE variant_availability IS 'Added (not in design): the latest known available quantity of each variant, copied from inventory events (eventually consistent; the reservation is the truth).';
COMMENT ON COLUMN variant_availability.variant_id IS 'Variant (product_variants.id) the quantity is for.';
COMMENT ON COLUMN variant_availability.product_id IS 'Product of the variant, so one product''s availability is read with one index lookup.';
COMMENT ON COLUMN variant_availability.stock_item_id IS 'Inventory''s stock item of the variant (no cross-database foreign key).';
COMMENT ON COLUMN variant_availability.available IS 'Units that could be reserved when inventory last reported, never below zero.';
COMMENT ON COLUMN variant_availability.stock_version IS 'Version of the stock item the quantity came from (grows by one per change in inventory); an event with an older or equal version is ignored.';
COMMENT ON COLUMN variant_availability.as_of IS 'When the inventory event that reported the quantity was written.';
COMMENT ON COLUMN variant_availability.updated_at IS 'When this row was last written.';
CREATE INDEX variant_availability_product_idx ON variant_availability (product_id);

-- ---------------------------------------------------------------------------
-- Cache invalidation from the domain's own events
-- ---------------------------------------------------------------------------
-- NOTIFY is delivered at commit, to every listening session, and not at all on rollback: exactly
-- the moment a cached product read goes stale. Up to 100 product ids go in the payload (well inside
-- the 8000-byte limit); a bigger batch (a seed) says '*', meaning "drop everything".
CREATE FUNCTION products_cache_invalidate() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  ids text;
  n integer;
BEGIN
  SELECT count(DISTINCT aggregate_id) INTO n FROM inserted;
  IF n > 100 THEN
    PERFORM pg_notify('products_cache', '*');
  ELSIF n > 0 THEN
    SELECT string_agg(DISTINCT aggregate_id::text, ',') INTO ids FROM inserted;
    PERFORM pg_notify('products_cache', ids);
  END IF;
  RETURN NULL;
END;
$$;
COMMENT ON FUNCTION products_cache_invalidate() IS 'Trigger function: on every products event written, notifies channel products_cache with the product ids (or * for a large batch) at commit.';
CREATE TRIGGER products_outbox_events_cache_invalidate AFTER INSERT ON products_outbox_events
  REFERENCING NEW TABLE AS inserted
  FOR EACH STATEMENT EXECUTE FUNCTION products_cache_invalidate();
