-- payments_db, migration 0002: what the payments worker looks up, and immutable allocations.

-- The payments worker looks for authorized intents with a void waiting (asked for while the
-- authorization's outcome was unknown, or by a cancelled order).
CREATE INDEX payment_intents_authorized_idx ON payment_intents (updated_at) WHERE status = 'authorized';

-- The payments worker re-sends recent refunds that have no final outcome yet (its NOT EXISTS probe
-- uses payment_transactions_refund_outcome_key).
CREATE INDEX refunds_created_idx ON refunds (created_at);

-- Which order and seller a part pays, and how much, never change: only the running totals do.
CREATE FUNCTION payment_allocations_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  mutable text[] := ARRAY['captured_amount', 'refunded_amount', 'updated_at'];
BEGIN
  IF TG_OP = 'DELETE' THEN
    RAISE EXCEPTION 'payment_allocations: DELETE refused' USING ERRCODE = 'BZ001';
  END IF;
  IF (to_jsonb(NEW) - mutable) IS DISTINCT FROM (to_jsonb(OLD) - mutable) THEN
    RAISE EXCEPTION 'payment_allocations: intent, order, seller, amount and currency never change'
      USING ERRCODE = 'BZ001';
  END IF;
  RETURN NEW;
END;
$$;
COMMENT ON FUNCTION payment_allocations_guard() IS 'Trigger function: refuses deleting an allocation and changing anything but its captured and refunded totals.';
CREATE TRIGGER payment_allocations_immutable_facts BEFORE UPDATE OR DELETE ON payment_allocations
  FOR EACH ROW EXECUTE FUNCTION payment_allocations_guard();
CREATE TRIGGER payment_allocations_no_truncate BEFORE TRUNCATE ON payment_allocations
  FOR EACH STATEMENT EXECUTE FUNCTION bazaar_refuse_change();
