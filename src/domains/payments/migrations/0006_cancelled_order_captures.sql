-- payments_db, migration 0006: an order cancelled while its payment's capture is in flight.
-- The cancellation cannot void an authorization that is being captured, nor refund a capture that
-- has no outcome yet. Its handler threw and was retried until the capture had an outcome; a capture
-- slower than the retries (a gateway timing out, then retried with backoff) left the event parked
-- and the captured money with the seller. The cancellation now waits here instead, and the payments
-- worker settles it once the capture has an outcome: a refund when it captured, a void when not.

CREATE TABLE cancelled_order_captures (
  order_id uuid NOT NULL,
  payment_intent_id uuid NOT NULL REFERENCES payment_intents (id),
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (order_id, payment_intent_id)
);
COMMENT ON TABLE cancelled_order_captures IS 'Added (not in design): cancelled orders whose payment had a capture in flight, waiting for its outcome; the payments worker refunds or voids their part then and removes the row.';
COMMENT ON COLUMN cancelled_order_captures.order_id IS 'The cancelled order (orders domain id), as in cancelled_orders.';
COMMENT ON COLUMN cancelled_order_captures.payment_intent_id IS 'The intent whose capture was in flight when the cancellation came.';
COMMENT ON COLUMN cancelled_order_captures.created_at IS 'When the cancellation began to wait.';
