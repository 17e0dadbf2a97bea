-- payments_db, migration 0005: the orders payments learned were cancelled.
--
-- A cancelled order's part of a payment is refunded for what is left of it, counting refunds still
-- pending as done (their amount is reserved). One of those declined later would leave its amount
-- unrefunded: the decline, learned maybe days later, has to know that the order was cancelled.

CREATE TABLE cancelled_orders (
  order_id uuid PRIMARY KEY,
  reason text NOT NULL CHECK (length(reason) BETWEEN 1 AND 1000),
  cancelled_by uuid,
  recorded_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE cancelled_orders IS 'Added (not in design): orders that orders.order_cancelled.v1 said were cancelled, recorded once by payments; a refund of such an order that is declined is followed by a refund of what is left of its part. Append-only.';
COMMENT ON COLUMN cancelled_orders.order_id IS 'Order (orders domain id) that was cancelled.';
COMMENT ON COLUMN cancelled_orders.reason IS 'Why it was cancelled, as the event said; the reason of the refunds made for it.';
COMMENT ON COLUMN cancelled_orders.cancelled_by IS 'User (accounts id) who cancelled it, as the event said; NULL when the system did.';
COMMENT ON COLUMN cancelled_orders.recorded_at IS 'When payments learned of the cancellation.';
CREATE TRIGGER cancelled_orders_append_only BEFORE UPDATE OR DELETE ON cancelled_orders
  FOR EACH ROW EXECUTE FUNCTION bazaar_refuse_change();
CREATE TRIGGER cancelled_orders_append_only_truncate BEFORE TRUNCATE ON cancelled_orders
  FOR EACH STATEMENT EXECUTE FUNCTION bazaar_refuse_change();

-- Cancellations learned before this table existed: their events are in the inbox (the handler's
-- own insert, for any still to be handled, then finds the row there).
INSERT INTO cancelled_orders (order_id, reason, cancelled_by, recorded_at)
SELECT DISTINCT ON (i.envelope->'data'->>'orderId')
       (i.envelope->'data'->>'orderId')::uuid, i.envelope->'data'->>'reason', (i.envelope->'data'->>'cancelledBy')::uuid, i.received_at
  FROM payments_inbox_events i
 WHERE i.event_type = 'orders.order_cancelled.v1'
 ORDER BY i.envelope->'data'->>'orderId', i.seq
ON CONFLICT (order_id) DO NOTHING;
