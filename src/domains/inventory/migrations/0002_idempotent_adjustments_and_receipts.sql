-- inventory_db, migration 0002: idempotent seller adjustments and stock receipts.
--
-- A seller adjustment may carry an Idempotency-Key: the key, a hash of the request and the answer
-- are stored with the adjustment's movement, so the same key and body replay the first answer and
-- the same key with another body is refused. Keys are the seller's own (unique per created_by).
--
-- A stock receipt (receiveStock) may carry a reference (a seed batch, a purchase order): its
-- movements record it in reference_id, and an item is received at most once per reference, so a
-- repeated call is a no-op and a call that failed half-way can be repeated to finish.

ALTER TABLE stock_movements
  ADD COLUMN idempotency_key text CHECK (length(idempotency_key) BETWEEN 1 AND 255),
  ADD COLUMN request_hash text CHECK (length(request_hash) BETWEEN 1 AND 128),
  ADD COLUMN response_json jsonb,
  ADD CONSTRAINT stock_movements_idempotency_check CHECK (
    (idempotency_key IS NULL) = (request_hash IS NULL)
    AND (idempotency_key IS NULL) = (response_json IS NULL)
    AND (idempotency_key IS NULL OR (kind = 'adjustment' AND created_by IS NOT NULL))
  );

COMMENT ON COLUMN stock_movements.idempotency_key IS 'Added (not in design): the Idempotency-Key a seller sent with this adjustment, unique per seller (created_by); NULL when none was sent.';
COMMENT ON COLUMN stock_movements.request_hash IS 'Added (not in design): hash of the keyed adjustment request (variant, amount, reason, note), to refuse the same key with another request; NULL without a key.';
COMMENT ON COLUMN stock_movements.response_json IS 'Added (not in design): the answer given to the keyed adjustment (the movement and the stock after it), replayed for the same key and request; NULL without a key.';
COMMENT ON COLUMN stock_movements.reference_id IS 'Id of what caused the change: the reservation for a sale, the cancelled order for a restock, the caller''s receipt reference (seed batch, purchase order) for received stock; NULL for a seller adjustment.';

-- The same key of one seller finds the first adjustment (and a concurrent duplicate fails here).
CREATE UNIQUE INDEX stock_movements_idempotency_key ON stock_movements (created_by, idempotency_key)
  WHERE idempotency_key IS NOT NULL;
-- A receipt with a reference adds to an item once, however often it is repeated.
CREATE UNIQUE INDEX stock_movements_receipt_once_key ON stock_movements (stock_item_id, reference_id)
  WHERE kind = 'adjustment' AND reference_id IS NOT NULL;
