-- shipping_db, migration 0002: a seller's Idempotency-Key for creating a shipment.
-- A retried POST /v1/seller/orders/{orderId}/shipments with the same key and body answers the
-- shipment it made; another body under the key is refused. The key is kept with the shipment it
-- made (one request makes one shipment), unique per seller.

ALTER TABLE shipments
  ADD COLUMN idempotency_key text CHECK (length(idempotency_key) BETWEEN 1 AND 200),
  ADD COLUMN request_hash text CHECK (request_hash ~ '^[0-9a-f]{64}$'),
  ADD CONSTRAINT shipments_seller_idempotency_key UNIQUE (seller_id, idempotency_key),
  ADD CONSTRAINT shipments_idempotency_check CHECK ((idempotency_key IS NULL) = (request_hash IS NULL));
COMMENT ON COLUMN shipments.idempotency_key IS 'Added (not in design): the seller''s Idempotency-Key of the request that created the shipment, unique per seller; NULL when none was sent.';
COMMENT ON COLUMN shipments.request_hash IS 'Added (not in design): SHA-256 (hex) of that request (order and body), so the key reused with another request is refused.';
