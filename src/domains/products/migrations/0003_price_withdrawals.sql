-- products_db, migration 0003: a scheduled price window can be withdrawn before it starts.
--   A window that has not started is a plan, not history: no price was ever charged by it. The
--   seller may withdraw it (a typo in a scheduled sale would otherwise go live for at least a
--   moment). The window leaves product_pricing, so every read and the exclusion constraint stay as
--   they are, and product_price_withdrawals keeps it for good (append-only). The window it had
--   closed runs on to where the withdrawn one ended.

-- ---------------------------------------------------------------------------
-- product_price_withdrawals (added): withdrawn windows, append-only
-- ---------------------------------------------------------------------------
CREATE TABLE product_price_withdrawals (
  price_id uuid PRIMARY KEY,
  product_id uuid NOT NULL,
  variant_id uuid NOT NULL,
  base_price bigint NOT NULL CHECK (base_price >= 0),
  discount bigint NOT NULL CHECK (discount >= 0 AND discount <= base_price),
  currency char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
  effective_from timestamptz NOT NULL,
  effective_to timestamptz CHECK (effective_to IS NULL OR effective_from < effective_to),
  created_at timestamptz NOT NULL,
  created_by uuid NOT NULL,
  withdrawn_at timestamptz NOT NULL CONSTRAINT product_price_withdrawals_before_start CHECK (withdrawn_at < effective_from),
  withdrawn_by uuid NOT NULL,
  extended_price_id uuid
);
COMMENT ON TABLE product_price_withdrawals IS 'Added (not in design): price windows withdrawn before they started, as they were (append-only); they never applied, so the price history in product_pricing is unchanged.';
COMMENT ON COLUMN product_price_withdrawals.price_id IS 'Id the window had in product_pricing.';
COMMENT ON COLUMN product_price_withdrawals.product_id IS 'Product of the variant.';
COMMENT ON COLUMN product_price_withdrawals.variant_id IS 'Variant the window was for.';
COMMENT ON COLUMN product_price_withdrawals.base_price IS 'Unit price before discount it would have had, in minor units.';
COMMENT ON COLUMN product_price_withdrawals.discount IS 'Discount it would have had, in minor units.';
COMMENT ON COLUMN product_price_withdrawals.currency IS 'ISO 4217 currency of base_price and discount.';
COMMENT ON COLUMN product_price_withdrawals.effective_from IS 'Start the window had (after withdrawn_at: it never started).';
COMMENT ON COLUMN product_price_withdrawals.effective_to IS 'End the window had; NULL if it was open-ended.';
COMMENT ON COLUMN product_price_withdrawals.created_at IS 'When the window was recorded.';
COMMENT ON COLUMN product_price_withdrawals.created_by IS 'Who recorded the window.';
COMMENT ON COLUMN product_price_withdrawals.withdrawn_at IS 'When it was withdrawn.';
COMMENT ON COLUMN product_price_withdrawals.withdrawn_by IS 'Seller who withdrew it.';
COMMENT ON COLUMN product_price_withdrawals.extended_price_id IS 'The window that had ended where this one started and now runs on to where this one ended; NULL if none.';
CREATE INDEX product_price_withdrawals_product_idx ON product_price_withdrawals (product_id, withdrawn_at DESC);

CREATE FUNCTION product_price_withdrawals_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'product_price_withdrawals is append-only: % refused', TG_OP USING ERRCODE = 'BZ001';
END;
$$;
COMMENT ON FUNCTION product_price_withdrawals_guard() IS 'Trigger function: withdrawn windows are kept as they were; updates and deletes are refused.';
CREATE TRIGGER product_price_withdrawals_append_only BEFORE UPDATE OR DELETE ON product_price_withdrawals
  FOR EACH ROW EXECUTE FUNCTION product_price_withdrawals_guard();

-- ---------------------------------------------------------------------------
-- product_pricing: a window leaves only by withdrawal, and only before it starts
-- ---------------------------------------------------------------------------
-- The guard refused every DELETE. Now a DELETE goes through only for a window whose withdrawal was
-- recorded first, in the same transaction, before the window started: the service writes
-- product_price_withdrawals, then deletes. Any other DELETE (by hand, by a bug) is still refused.
CREATE OR REPLACE FUNCTION product_pricing_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    IF EXISTS (
      SELECT 1 FROM product_price_withdrawals w
       WHERE w.price_id = OLD.id AND w.withdrawn_at < OLD.effective_from
         AND w.effective_from = OLD.effective_from AND w.base_price = OLD.base_price AND w.discount = OLD.discount
         AND w.currency = OLD.currency AND w.variant_id = OLD.variant_id
    ) THEN
      RETURN OLD;
    END IF;
    RAISE EXCEPTION 'product_pricing is history: DELETE refused (a window that has not started is withdrawn, and recorded in product_price_withdrawals first)' USING ERRCODE = 'BZ001';
  END IF;
  IF (to_jsonb(NEW) - 'effective_to') IS DISTINCT FROM (to_jsonb(OLD) - 'effective_to') THEN
    RAISE EXCEPTION 'product_pricing is history: only effective_to may change' USING ERRCODE = 'BZ001';
  END IF;
  RETURN NEW;
END;
$$;
COMMENT ON FUNCTION product_pricing_guard() IS 'Trigger function: a price window may only have its effective_to changed (to close it, or to run on where a withdrawn window ended); a DELETE goes through only for a window withdrawn before it started (recorded in product_price_withdrawals first).';
