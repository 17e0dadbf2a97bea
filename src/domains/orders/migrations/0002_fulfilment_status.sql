-- orders_db, migration 0002: how far an order got towards the buyer, kept apart from its refunds.
--
-- A partial refund sets status to partially_refunded, and that status replaced the step the order
-- had reached: a paid, unshipped order could no longer be cancelled, and one never shipped could
-- be delivered or completed. fulfilment_status keeps the step; the status machine decides a
-- partially_refunded order by it (ADR 0010).

ALTER TABLE orders ADD COLUMN fulfilment_status text
  CHECK (fulfilment_status IN ('paid', 'fulfilling', 'shipped', 'delivered', 'completed'));
COMMENT ON COLUMN orders.fulfilment_status IS 'Added (not in design): the last of paid, fulfilling, shipped, delivered, completed the order reached; NULL until its payment is recorded. Refunds and cancelling keep it, so a partially_refunded order is decided by it.';

-- The guard of 0001, with fulfilment_status among the columns that may change; and, since the whole
-- point of the column is that progress is never lost, it may only move forward.
CREATE OR REPLACE FUNCTION orders_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  mutable text[] := ARRAY['status', 'fulfilment_status', 'refunded_amount', 'shipping_address_json', 'version', 'updated_at'];
  steps text[] := ARRAY['paid', 'fulfilling', 'shipped', 'delivered', 'completed'];
BEGIN
  IF TG_OP = 'DELETE' THEN
    RAISE EXCEPTION 'orders are a legal record: DELETE refused' USING ERRCODE = 'BZ001';
  END IF;
  IF (to_jsonb(NEW) - mutable) IS DISTINCT FROM (to_jsonb(OLD) - mutable) THEN
    RAISE EXCEPTION 'orders: only status, fulfilment_status, refunded_amount, shipping_address_json, version and updated_at may change'
      USING ERRCODE = 'BZ001';
  END IF;
  -- A process still running the code from before this column (a rolling deploy) moves the status
  -- alone: a move to a step that leaves fulfilment_status untouched takes the step as it.
  IF NEW.status = ANY (steps) AND NEW.status IS DISTINCT FROM OLD.status AND NEW.fulfilment_status IS NOT DISTINCT FROM OLD.fulfilment_status THEN
    NEW.fulfilment_status := NEW.status;
  END IF;
  IF coalesce(array_position(steps, NEW.fulfilment_status), 0) < coalesce(array_position(steps, OLD.fulfilment_status), 0) THEN
    RAISE EXCEPTION 'orders: fulfilment_status never moves back (% to %)', OLD.fulfilment_status, NEW.fulfilment_status
      USING ERRCODE = 'BZ001';
  END IF;
  RETURN NEW;
END;
$$;
COMMENT ON FUNCTION orders_guard() IS 'Trigger function: refuses deleting an order, changing its parties, number, type, currency or amounts, and moving fulfilment_status back; a status moved to a fulfilment step without fulfilment_status (code from before the column) sets it.';

-- Existing orders. An order in a fulfilment step is at that step; a pending one has none. A cancelled
-- or (partially) refunded one is at the furthest step its history reached; a refunded order whose
-- history shows no step (none should) was at least paid.
UPDATE orders o
   SET fulfilment_status = CASE
         WHEN o.status IN ('paid', 'fulfilling', 'shipped', 'delivered', 'completed') THEN o.status
         ELSE coalesce(
           (SELECT h.to_status
              FROM order_status_history h
             WHERE h.order_id = o.id AND h.to_status IN ('paid', 'fulfilling', 'shipped', 'delivered', 'completed')
             ORDER BY array_position(ARRAY['paid', 'fulfilling', 'shipped', 'delivered', 'completed'], h.to_status) DESC
             LIMIT 1),
           CASE WHEN o.status IN ('partially_refunded', 'refunded') THEN 'paid' END)
       END
 WHERE o.status <> 'pending_payment';

-- The two columns agree: a step status is its own fulfilment status, nothing is reached before the
-- payment, a refund needs a payment, and only an order not yet shipped is cancelled.
ALTER TABLE orders ADD CONSTRAINT orders_fulfilment_status_agrees CHECK (
  CASE status
    WHEN 'pending_payment' THEN fulfilment_status IS NULL
    WHEN 'cancelled' THEN fulfilment_status IS NULL OR fulfilment_status IN ('paid', 'fulfilling')
    WHEN 'partially_refunded' THEN fulfilment_status IS NOT NULL
    WHEN 'refunded' THEN fulfilment_status IS NOT NULL
    ELSE fulfilment_status IS NOT DISTINCT FROM status
  END
);
