-- search_db, migration 0007: the seller dashboard counts a refund only against an order it counted
-- as paid. Payments refunds money captured after its order was cancelled (the capture was in flight
-- when checkout gave up): orders keeps such an order cancelled and announces no payment, and the
-- refund alone made the seller's net revenue negative. A refund of an order not (yet) counted as
-- paid now waits in seller_dashboard_held_refunds, and is counted when, and only if, the order's
-- payment is (its events come from two domains, in no set order).
CREATE TABLE seller_dashboard_paid_orders (
  order_id uuid PRIMARY KEY,
  seller_id uuid NOT NULL,
  currency char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
  paid_at timestamptz NOT NULL
);
COMMENT ON TABLE seller_dashboard_paid_orders IS 'Added (not in design): the orders the seller dashboard counted as paid (orders.order_paid.v1); refunds count only against these. Part of the seller_dashboard read model (rebuilt with it).';
COMMENT ON COLUMN seller_dashboard_paid_orders.order_id IS 'Order (orders domain id).';
COMMENT ON COLUMN seller_dashboard_paid_orders.seller_id IS 'Seller of the order (accounts user id).';
COMMENT ON COLUMN seller_dashboard_paid_orders.currency IS 'ISO 4217 currency of the order.';
COMMENT ON COLUMN seller_dashboard_paid_orders.paid_at IS 'When the order was paid (the event''s paidAt).';

CREATE TABLE seller_dashboard_held_refunds (
  refund_id uuid PRIMARY KEY,
  order_id uuid NOT NULL,
  seller_id uuid NOT NULL,
  currency char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
  amount bigint NOT NULL CHECK (amount > 0),
  refunded_at timestamptz NOT NULL
);
CREATE INDEX seller_dashboard_held_refunds_order_idx ON seller_dashboard_held_refunds (order_id);
COMMENT ON TABLE seller_dashboard_held_refunds IS 'Added (not in design): refunds (payments.refund_succeeded.v1) of orders the seller dashboard has not counted as paid, kept until the order''s payment is counted (then counted on their own day) and never counted otherwise (money captured after the order was cancelled, and given back). Part of the seller_dashboard read model.';
COMMENT ON COLUMN seller_dashboard_held_refunds.refund_id IS 'Refund (payments domain id).';
COMMENT ON COLUMN seller_dashboard_held_refunds.order_id IS 'Order the refund is about.';
COMMENT ON COLUMN seller_dashboard_held_refunds.seller_id IS 'Seller whose part was refunded.';
COMMENT ON COLUMN seller_dashboard_held_refunds.currency IS 'ISO 4217 currency of the refund.';
COMMENT ON COLUMN seller_dashboard_held_refunds.amount IS 'Amount refunded, in minor units.';
COMMENT ON COLUMN seller_dashboard_held_refunds.refunded_at IS 'When the money went back (the event''s refundedAt): the day it counts on.';

-- The orders counted as paid before this migration: those whose payment event the dashboard took
-- (its inbox keeps them), and those whose status says they were paid.
INSERT INTO seller_dashboard_paid_orders (order_id, seller_id, currency, paid_at)
SELECT (envelope->'data'->>'orderId')::uuid, (envelope->'data'->>'sellerId')::uuid, envelope->'data'->>'currency', (envelope->'data'->>'paidAt')::timestamptz
  FROM search_inbox_events
 WHERE consumer = 'search.seller_dashboard' AND event_type = 'orders.order_paid.v1' AND status = 'processed'
ON CONFLICT (order_id) DO NOTHING;
INSERT INTO seller_dashboard_paid_orders (order_id, seller_id, currency, paid_at)
SELECT order_id, seller_id, currency, updated_at FROM order_list_view
 WHERE status IN ('paid', 'fulfilling', 'shipped', 'delivered', 'completed', 'refunded', 'partially_refunded')
ON CONFLICT (order_id) DO NOTHING;
