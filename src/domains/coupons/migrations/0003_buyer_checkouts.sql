-- coupon_buyer_checkouts: a checkout of a buyer that redeemed no coupon, noted when it reached its
-- coupon step (before its orders are placed). first_order_only learns of orders from orders events,
-- which arrive after the orders exist; a checkout with a coupon is already seen through its
-- redemption, but one without a coupon would be unseen until its orders' event arrived, so a
-- first-order coupon could pass in a second checkout of the same buyer meanwhile.

-- ---------------------------------------------------------------------------
-- coupon_buyer_checkouts (added): checkouts without a coupon on their way to orders
-- ---------------------------------------------------------------------------
CREATE TABLE coupon_buyer_checkouts (
  checkout_session_id uuid PRIMARY KEY,
  buyer_id uuid NOT NULL,
  noted_at timestamptz NOT NULL,
  released_at timestamptz,
  CONSTRAINT coupon_buyer_checkouts_release_check CHECK (released_at IS NULL OR released_at >= noted_at)
);
COMMENT ON TABLE coupon_buyer_checkouts IS 'Added (not in design): checkouts that redeemed no coupon, noted at their coupon step so that first_order_only sees an order on its way before orders.order_placed.v1 arrives; deleted when that event arrives (the orders answer then).';
COMMENT ON COLUMN coupon_buyer_checkouts.checkout_session_id IS 'Checkout session (checkout domain id); noted once.';
COMMENT ON COLUMN coupon_buyer_checkouts.buyer_id IS 'Buyer (accounts user id) checking out.';
COMMENT ON COLUMN coupon_buyer_checkouts.noted_at IS 'When the checkout reached its coupon step.';
COMMENT ON COLUMN coupon_buyer_checkouts.released_at IS 'When the checkout failed and was compensated (it makes no order); NULL otherwise. Once the session''s orders are known from orders events, they answer instead.';
-- "Has this buyer a checkout on its way?" for first_order_only.
CREATE INDEX coupon_buyer_checkouts_live_buyer_idx ON coupon_buyer_checkouts (buyer_id) WHERE released_at IS NULL;
