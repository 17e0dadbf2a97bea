-- inventory_db, migration 0005: a paid order cancelled before its checkout confirmed the stock
-- waits for that confirmation instead of releasing the whole reservation.
--
-- A checkout makes one reservation for all its sellers' orders. When a buyer cancelled one paid
-- order while the checkout had not yet confirmed the reservation, the whole reservation was
-- released: the checkout's confirmation then failed and it compensated, cancelling and refunding the
-- other sellers' orders too. Such a cancellation is now recorded here; once the checkout confirms,
-- the cancelled order's units are restocked (and the record deleted); if the reservation is released
-- or expires instead, its units came back anyway and the record is deleted.

CREATE TABLE cancelled_order_restocks (
  order_id uuid NOT NULL,
  reservation_id uuid NOT NULL,
  seller_id uuid NOT NULL,
  reason text NOT NULL CHECK (length(reason) BETWEEN 1 AND 2000),
  recorded_at timestamptz NOT NULL,
  PRIMARY KEY (order_id, reservation_id)
);

CREATE INDEX cancelled_order_restocks_reservation_idx ON cancelled_order_restocks (reservation_id);

COMMENT ON TABLE cancelled_order_restocks IS 'Added (not in design): paid orders cancelled while their checkout''s reservation was still active, waiting for it to be confirmed (their units are then restocked) or to end; deleted when done.';
COMMENT ON COLUMN cancelled_order_restocks.order_id IS 'The cancelled order (orders domain id, no foreign key across domains).';
COMMENT ON COLUMN cancelled_order_restocks.reservation_id IS 'An active reservation of the order''s checkout (its reference, same buyer) when the order was cancelled: the checkout''s own, and any the buyer made under the same reference.';
COMMENT ON COLUMN cancelled_order_restocks.seller_id IS 'The order''s seller: the reservation''s lines of this seller''s items are the order''s (one order per seller).';
COMMENT ON COLUMN cancelled_order_restocks.reason IS 'Why the order was cancelled, as the orders domain said.';
COMMENT ON COLUMN cancelled_order_restocks.recorded_at IS 'When the cancellation arrived here.';
