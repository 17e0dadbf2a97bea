-- cart_db, migration 0001: buyers' carts, a disposable snapshot of intent.
-- Design tables: carts, cart_items, cart_coupons (carts_outbox_events comes from the platform template).
-- A cart stores no price: prices are read from the products domain when shown and fixed at checkout.

-- ---------------------------------------------------------------------------
-- carts (design, aggregate root)
-- ---------------------------------------------------------------------------
CREATE TABLE carts (
  id uuid PRIMARY KEY,
  user_id uuid NOT NULL,
  status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'checked_out', 'abandoned')),
  checkout_session_id uuid,
  version integer NOT NULL DEFAULT 1 CHECK (version >= 1),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT carts_checked_out_check CHECK (status <> 'checked_out' OR checkout_session_id IS NOT NULL)
);
COMMENT ON TABLE carts IS 'Aggregate root: a buyer''s cart; at most one active cart per buyer.';
COMMENT ON COLUMN carts.id IS 'Cart id (UUIDv7 made by the application).';
COMMENT ON COLUMN carts.user_id IS 'Buyer (accounts user id) who owns the cart.';
COMMENT ON COLUMN carts.status IS 'active (being filled), checked_out (turned into orders by a checkout) or abandoned.';
COMMENT ON COLUMN carts.checkout_session_id IS 'Added (not in design): checkout session (checkout domain id) that checked the cart out; NULL before.';
COMMENT ON COLUMN carts.version IS 'Added (not in design): incremented on every change, for optimistic concurrency.';
COMMENT ON COLUMN carts.created_at IS 'When the cart was created.';
COMMENT ON COLUMN carts.updated_at IS 'When the cart or its items or coupons last changed.';
-- One active cart per buyer (also the lookup of the buyer's active cart).
CREATE UNIQUE INDEX carts_one_active_per_user_key ON carts (user_id) WHERE status = 'active';
CREATE INDEX carts_user_idx ON carts (user_id, created_at DESC);
-- Sweeping abandoned carts.
CREATE INDEX carts_active_updated_idx ON carts (updated_at) WHERE status = 'active';

-- ---------------------------------------------------------------------------
-- cart_items (design)
-- ---------------------------------------------------------------------------
CREATE TABLE cart_items (
  id uuid PRIMARY KEY,
  cart_id uuid NOT NULL REFERENCES carts (id) ON DELETE CASCADE,
  product_id uuid NOT NULL,
  variant_id uuid NOT NULL,
  quantity integer NOT NULL CHECK (quantity > 0 AND quantity <= 999),
  added_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT cart_items_cart_variant_key UNIQUE (cart_id, variant_id)
);
COMMENT ON TABLE cart_items IS 'Variants and quantities a buyer intends to buy; one line per variant per cart, without prices.';
COMMENT ON COLUMN cart_items.id IS 'Cart item id (UUIDv7 made by the application).';
COMMENT ON COLUMN cart_items.cart_id IS 'Cart the item is in.';
COMMENT ON COLUMN cart_items.product_id IS 'Product (products domain id) of the variant.';
COMMENT ON COLUMN cart_items.variant_id IS 'Variant (products domain id) to buy; unique within the cart.';
COMMENT ON COLUMN cart_items.quantity IS 'Units wanted, from 1 to 999.';
COMMENT ON COLUMN cart_items.added_at IS 'When the variant was added to the cart.';
COMMENT ON COLUMN cart_items.updated_at IS 'Added (not in design): when the quantity last changed.';

-- ---------------------------------------------------------------------------
-- cart_coupons (design)
-- ---------------------------------------------------------------------------
CREATE TABLE cart_coupons (
  id uuid PRIMARY KEY,
  cart_id uuid NOT NULL REFERENCES carts (id) ON DELETE CASCADE,
  coupon_id uuid NOT NULL,
  code text NOT NULL CHECK (length(code) BETWEEN 1 AND 64),
  applied_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT cart_coupons_cart_coupon_key UNIQUE (cart_id, coupon_id)
);
COMMENT ON TABLE cart_coupons IS 'Coupons a buyer applied to the cart; checked and redeemed only at checkout.';
COMMENT ON COLUMN cart_coupons.id IS 'Row id (UUIDv7 made by the application).';
COMMENT ON COLUMN cart_coupons.cart_id IS 'Cart the coupon is applied to.';
COMMENT ON COLUMN cart_coupons.coupon_id IS 'Coupon (coupons domain id); no cross-database foreign key.';
COMMENT ON COLUMN cart_coupons.code IS 'Added (not in design): the coupon code as entered, used to remove it by code; unique per cart ignoring case.';
COMMENT ON COLUMN cart_coupons.applied_at IS 'When the coupon was applied.';
CREATE UNIQUE INDEX cart_coupons_cart_code_key ON cart_coupons (cart_id, lower(code));
