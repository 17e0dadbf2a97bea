-- coupons_db, migration 0002: what coupons learns from orders events, and how each redemption was split.
--
-- coupon_buyer_orders: the orders domain's orders as coupons needs them, kept from
-- orders.order_placed.v1 and orders.order_cancelled.v1 (never read from orders_db). It answers two
-- questions: "has this buyer ordered before?" (first_order_only: a live, not cancelled order) and
-- "is every order a redemption discounted cancelled?" (then the redemption is released).
-- coupon_redemption_lines: the per-line split of a redemption's discount, so that a retried redeem
-- returns the same split and a cancelled order can be matched to the sellers a redemption discounted.

-- ---------------------------------------------------------------------------
-- coupon_buyer_orders (added): orders known from orders events
-- ---------------------------------------------------------------------------
CREATE TABLE coupon_buyer_orders (
  order_id uuid PRIMARY KEY,
  buyer_id uuid NOT NULL,
  checkout_session_id uuid NOT NULL,
  seller_id uuid NOT NULL,
  placed_at timestamptz NOT NULL,
  cancelled_at timestamptz
);
COMMENT ON TABLE coupon_buyer_orders IS 'Added (not in design): orders as learnt from orders.order_placed.v1 and orders.order_cancelled.v1, for first_order_only and for releasing redemptions of cancelled orders.';
COMMENT ON COLUMN coupon_buyer_orders.order_id IS 'Order (orders domain id).';
COMMENT ON COLUMN coupon_buyer_orders.buyer_id IS 'Buyer (accounts user id) who placed the order.';
COMMENT ON COLUMN coupon_buyer_orders.checkout_session_id IS 'Checkout session (checkout domain id) that created the order; one order per seller per session.';
COMMENT ON COLUMN coupon_buyer_orders.seller_id IS 'Seller (accounts user id) of the order.';
COMMENT ON COLUMN coupon_buyer_orders.placed_at IS 'When the order was placed (from the event).';
COMMENT ON COLUMN coupon_buyer_orders.cancelled_at IS 'When the order was cancelled; NULL while it is live.';
-- "Has this buyer a live order?" for first_order_only.
CREATE INDEX coupon_buyer_orders_live_buyer_idx ON coupon_buyer_orders (buyer_id) WHERE cancelled_at IS NULL;
-- The orders of a checkout session per seller, when a cancellation is matched to redemptions.
CREATE INDEX coupon_buyer_orders_session_idx ON coupon_buyer_orders (checkout_session_id, seller_id);

-- ---------------------------------------------------------------------------
-- coupon_redemption_lines (added): a redemption's discount per line, append-only
-- ---------------------------------------------------------------------------
CREATE TABLE coupon_redemption_lines (
  redemption_id uuid NOT NULL REFERENCES coupon_redemptions (id),
  line_id text NOT NULL CHECK (length(line_id) BETWEEN 1 AND 100),
  seller_id uuid NOT NULL,
  product_id uuid NOT NULL,
  variant_id uuid NOT NULL,
  amount bigint NOT NULL CHECK (amount >= 0),
  PRIMARY KEY (redemption_id, line_id)
);
COMMENT ON TABLE coupon_redemption_lines IS 'Added (not in design): append-only split of a redemption''s discount over the eligible lines of the checkout; the amounts add up to coupon_redemptions.amount.';
COMMENT ON COLUMN coupon_redemption_lines.redemption_id IS 'Redemption the line belongs to.';
COMMENT ON COLUMN coupon_redemption_lines.line_id IS 'The caller''s line id (the checkout''s line), unique per redemption.';
COMMENT ON COLUMN coupon_redemption_lines.seller_id IS 'Seller (accounts user id) of the line: the redemption is released when the orders of all its sellers in the session are cancelled.';
COMMENT ON COLUMN coupon_redemption_lines.product_id IS 'Product (products domain id) of the line.';
COMMENT ON COLUMN coupon_redemption_lines.variant_id IS 'Variant (products domain id) of the line.';
COMMENT ON COLUMN coupon_redemption_lines.amount IS 'Discount given on the line, in minor units of the redemption''s currency; never more than the line''s total.';
CREATE TRIGGER coupon_redemption_lines_append_only BEFORE UPDATE OR DELETE ON coupon_redemption_lines
  FOR EACH ROW EXECUTE FUNCTION bazaar_refuse_change();
CREATE TRIGGER coupon_redemption_lines_append_only_truncate BEFORE TRUNCATE ON coupon_redemption_lines
  FOR EACH STATEMENT EXECUTE FUNCTION bazaar_refuse_change();
