-- products_db, migration 0006: a window remembers which window closed it.
--
-- Withdrawing a window gave its time back to whichever window ended where it began: a bounded sale
-- that the seller had ended at that moment ran on for ever once the open window after it was
-- withdrawn. Only a window that the withdrawn one closed (an open window closed at the start of the
-- next open one) is extended now. Windows closed before this migration are not linked: withdrawing
-- the window that closed one leaves a gap, not a price the seller may not have meant.

ALTER TABLE product_pricing ADD COLUMN closed_by_price_id uuid;

COMMENT ON COLUMN product_pricing.closed_by_price_id IS 'Added (not in design): the window whose start closed this open window (its effective_to was set then); withdrawing that window extends this one again. NULL: ended as written, or closed before migration 0006.';

-- The guard lets closed_by_price_id change with effective_to (closing a window records who closed
-- it; a withdrawal hands the link on to the window that closed the withdrawn one).
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
  IF (to_jsonb(NEW) - 'effective_to' - 'closed_by_price_id') IS DISTINCT FROM (to_jsonb(OLD) - 'effective_to' - 'closed_by_price_id') THEN
    RAISE EXCEPTION 'product_pricing is history: only effective_to (and who closed the window) may change' USING ERRCODE = 'BZ001';
  END IF;
  RETURN NEW;
END;
$$;
COMMENT ON FUNCTION product_pricing_guard() IS 'Trigger function: a price window may only have its effective_to changed, with closed_by_price_id (to close it, or to run on where a withdrawn window it was closed by ended); a DELETE goes through only for a window withdrawn before it started (recorded in product_price_withdrawals first).';
