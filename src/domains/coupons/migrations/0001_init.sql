-- coupons_db, migration 0001: coupons, their rules and redemptions.
-- Design tables: coupons, coupon_rules, coupon_redemptions (coupons_outbox_events comes from the
-- platform template).
-- Added: coupon_redemption_releases (a redemption given back), coupon_customer_uses (per-buyer counter).
--
-- Percentage discounts are integer basis points: 1 = 0.01 %, 1000 = 10 %, 10000 = 100 %.
-- Fixed-amount discounts are minor units of the coupon's currency.
--
-- Concurrency: a redemption is one transaction that
--   1. UPDATE coupons SET uses_count = uses_count + 1 WHERE id = $1 AND (max_uses IS NULL OR uses_count < max_uses)
--      (no row updated = exhausted; the CHECK uses_count <= max_uses backs it up),
--   2. for one_per_customer, INSERT INTO coupon_customer_uses ... ON CONFLICT (coupon_id, user_id)
--      DO UPDATE SET uses_count = coupon_customer_uses.uses_count + 1 WHERE coupon_customer_uses.uses_count < 1
--      (no row returned = already used by this buyer),
--   3. INSERT INTO coupon_redemptions (unique per coupon and checkout session, so a retry is a no-op).
-- A release inserts coupon_redemption_releases (unique per redemption, so it happens once) and
-- decrements both counters. Redemptions are append-only: a redemption is active while it has no release.

CREATE EXTENSION IF NOT EXISTS citext;

-- ---------------------------------------------------------------------------
-- coupons (design, aggregate root)
-- ---------------------------------------------------------------------------
CREATE TABLE coupons (
  id uuid PRIMARY KEY,
  -- Stored upper-case; the citext regex match is case-insensitive, hence the second test.
  code citext NOT NULL UNIQUE CHECK (code ~ '^[A-Z0-9][A-Z0-9-]{2,31}$' AND code::text = upper(code::text)),
  seller_id uuid,
  type text NOT NULL CHECK (type IN ('percentage', 'fixed_amount')),
  discount bigint NOT NULL,
  currency char(3) CHECK (currency ~ '^[A-Z]{3}$'),
  max_uses integer CHECK (max_uses > 0),
  uses_count integer NOT NULL DEFAULT 0 CHECK (uses_count >= 0),
  status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled', 'archived')),
  valid_from timestamptz NOT NULL,
  valid_to timestamptz,
  created_by uuid NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  version integer NOT NULL DEFAULT 1 CHECK (version >= 1),
  CONSTRAINT coupons_discount_check CHECK (
    (type = 'percentage' AND discount BETWEEN 1 AND 10000 AND currency IS NULL)
    OR (type = 'fixed_amount' AND discount > 0 AND currency IS NOT NULL)
  ),
  CONSTRAINT coupons_uses_within_max CHECK (max_uses IS NULL OR uses_count <= max_uses),
  CONSTRAINT coupons_validity_check CHECK (valid_to IS NULL OR valid_from < valid_to)
);
COMMENT ON TABLE coupons IS 'Aggregate root: a percentage or fixed-amount coupon of a seller (or platform-wide), with a use limit, a validity window and a live use counter.';
COMMENT ON COLUMN coupons.id IS 'Coupon id (UUIDv7 made by the application).';
COMMENT ON COLUMN coupons.code IS 'Code buyers enter: 3 to 32 characters A-Z, 0-9 and hyphen, stored upper-case; unique ignoring case (citext).';
COMMENT ON COLUMN coupons.seller_id IS 'Added (not in design): seller (accounts user id) who owns the coupon; NULL for a platform-wide coupon created by an admin.';
COMMENT ON COLUMN coupons.type IS 'percentage (discount in basis points) or fixed_amount (discount in minor units of currency).';
COMMENT ON COLUMN coupons.discount IS 'For percentage: basis points from 1 to 10000 (1000 = 10 %); for fixed_amount: minor units of currency, greater than zero.';
COMMENT ON COLUMN coupons.currency IS 'Added (not in design): ISO 4217 currency of a fixed_amount discount; NULL for percentage coupons.';
COMMENT ON COLUMN coupons.max_uses IS 'Most redemptions that may be active at once; NULL for unlimited.';
COMMENT ON COLUMN coupons.uses_count IS 'Added (not in design): active (not released) redemptions, changed by conditional UPDATE so max_uses is never exceeded.';
COMMENT ON COLUMN coupons.status IS 'active (usable within its window), disabled (switched off by its owner) or archived.';
COMMENT ON COLUMN coupons.valid_from IS 'Start of validity (inclusive).';
COMMENT ON COLUMN coupons.valid_to IS 'End of validity (exclusive); NULL for no end.';
COMMENT ON COLUMN coupons.created_by IS 'Added (not in design): user (seller or admin) who created the coupon.';
COMMENT ON COLUMN coupons.created_at IS 'Added (not in design): when the coupon was created.';
COMMENT ON COLUMN coupons.updated_at IS 'Added (not in design): when the coupon last changed.';
COMMENT ON COLUMN coupons.version IS 'Added (not in design): incremented on every change, for optimistic concurrency.';
-- Seller's own coupons, newest first.
CREATE INDEX coupons_seller_idx ON coupons (seller_id, created_at DESC, id DESC);

-- ---------------------------------------------------------------------------
-- coupon_rules (design)
-- ---------------------------------------------------------------------------
CREATE TABLE coupon_rules (
  id uuid PRIMARY KEY,
  coupon_id uuid NOT NULL REFERENCES coupons (id) ON DELETE CASCADE,
  rule_type text NOT NULL CHECK (rule_type IN (
    'min_order_amount', 'products', 'categories', 'seller_items', 'one_per_customer', 'first_order_only'
  )),
  rule_json jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(rule_json) = 'object'),
  created_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT coupon_rules_coupon_type_key UNIQUE (coupon_id, rule_type)
);
COMMENT ON TABLE coupon_rules IS 'Conditions a cart must meet for a coupon to apply; at most one rule of each type per coupon, validated when created.';
COMMENT ON COLUMN coupon_rules.id IS 'Rule id (UUIDv7 made by the application).';
COMMENT ON COLUMN coupon_rules.coupon_id IS 'Coupon the rule belongs to.';
COMMENT ON COLUMN coupon_rules.rule_type IS 'min_order_amount, products, categories, seller_items, one_per_customer or first_order_only.';
COMMENT ON COLUMN coupon_rules.rule_json IS 'Rule parameters, e.g. {"amount":5000,"currency":"USD"}, {"product_ids":[...]}, {"category_ids":[...]}; {} for rules without parameters.';
COMMENT ON COLUMN coupon_rules.created_at IS 'Added (not in design): when the rule was created.';

-- ---------------------------------------------------------------------------
-- coupon_redemptions (design): append-only audit trail
-- ---------------------------------------------------------------------------
CREATE TABLE coupon_redemptions (
  id uuid PRIMARY KEY,
  coupon_id uuid NOT NULL REFERENCES coupons (id),
  user_id uuid NOT NULL,
  checkout_session_id uuid NOT NULL,
  order_id uuid,
  amount bigint NOT NULL CHECK (amount >= 0),
  currency char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
  redeemed_at timestamptz NOT NULL DEFAULT now(),
  -- A checkout redeems a coupon once, so a retried or recovered step cannot redeem it twice.
  CONSTRAINT coupon_redemptions_coupon_session_key UNIQUE (coupon_id, checkout_session_id)
);
COMMENT ON TABLE coupon_redemptions IS 'Append-only audit trail of coupon uses; a redemption is active until a coupon_redemption_releases row gives it back.';
COMMENT ON COLUMN coupon_redemptions.id IS 'Redemption id (UUIDv7 made by the application).';
COMMENT ON COLUMN coupon_redemptions.coupon_id IS 'Coupon used.';
COMMENT ON COLUMN coupon_redemptions.user_id IS 'Buyer (accounts user id) who used it.';
COMMENT ON COLUMN coupon_redemptions.checkout_session_id IS 'Added (not in design): checkout session (checkout domain id) that redeemed it; unique per coupon.';
COMMENT ON COLUMN coupon_redemptions.order_id IS 'Order (orders domain id) the discount went to when it is a single order known at redemption; NULL otherwise (the checkout session links the orders).';
COMMENT ON COLUMN coupon_redemptions.amount IS 'Added (not in design): discount given, in minor units of currency.';
COMMENT ON COLUMN coupon_redemptions.currency IS 'Added (not in design): ISO 4217 currency of amount.';
COMMENT ON COLUMN coupon_redemptions.redeemed_at IS 'When the coupon was redeemed.';
CREATE INDEX coupon_redemptions_coupon_user_idx ON coupon_redemptions (coupon_id, user_id);
CREATE INDEX coupon_redemptions_user_idx ON coupon_redemptions (user_id, redeemed_at DESC);
CREATE INDEX coupon_redemptions_session_idx ON coupon_redemptions (checkout_session_id);
CREATE INDEX coupon_redemptions_order_idx ON coupon_redemptions (order_id) WHERE order_id IS NOT NULL;
CREATE TRIGGER coupon_redemptions_append_only BEFORE UPDATE OR DELETE ON coupon_redemptions
  FOR EACH ROW EXECUTE FUNCTION bazaar_refuse_change();
CREATE TRIGGER coupon_redemptions_append_only_truncate BEFORE TRUNCATE ON coupon_redemptions
  FOR EACH STATEMENT EXECUTE FUNCTION bazaar_refuse_change();

-- ---------------------------------------------------------------------------
-- coupon_redemption_releases (added): a redemption given back, append-only
-- ---------------------------------------------------------------------------
CREATE TABLE coupon_redemption_releases (
  id uuid PRIMARY KEY,
  redemption_id uuid NOT NULL UNIQUE REFERENCES coupon_redemptions (id),
  reason text NOT NULL CHECK (reason IN ('checkout_failed', 'order_cancelled', 'admin')),
  released_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE coupon_redemption_releases IS 'Added (not in design): append-only record that a redemption was given back (its checkout failed or its order was cancelled); at most one per redemption.';
COMMENT ON COLUMN coupon_redemption_releases.id IS 'Release id (UUIDv7 made by the application).';
COMMENT ON COLUMN coupon_redemption_releases.redemption_id IS 'Redemption released; unique, so a redemption is released once.';
COMMENT ON COLUMN coupon_redemption_releases.reason IS 'Why: checkout_failed, order_cancelled or admin.';
COMMENT ON COLUMN coupon_redemption_releases.released_at IS 'When the redemption was released.';
CREATE TRIGGER coupon_redemption_releases_append_only BEFORE UPDATE OR DELETE ON coupon_redemption_releases
  FOR EACH ROW EXECUTE FUNCTION bazaar_refuse_change();
CREATE TRIGGER coupon_redemption_releases_append_only_truncate BEFORE TRUNCATE ON coupon_redemption_releases
  FOR EACH STATEMENT EXECUTE FUNCTION bazaar_refuse_change();

-- ---------------------------------------------------------------------------
-- coupon_customer_uses (added): per-buyer counter for one_per_customer
-- ---------------------------------------------------------------------------
CREATE TABLE coupon_customer_uses (
  coupon_id uuid NOT NULL REFERENCES coupons (id),
  user_id uuid NOT NULL,
  uses_count integer NOT NULL DEFAULT 0 CHECK (uses_count >= 0),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (coupon_id, user_id)
);
COMMENT ON TABLE coupon_customer_uses IS 'Added (not in design): active (not released) redemptions of a coupon per buyer, changed by a conditional upsert so one_per_customer holds under concurrency.';
COMMENT ON COLUMN coupon_customer_uses.coupon_id IS 'Coupon counted.';
COMMENT ON COLUMN coupon_customer_uses.user_id IS 'Buyer (accounts user id) counted.';
COMMENT ON COLUMN coupon_customer_uses.uses_count IS 'Active redemptions of the coupon by the buyer: incremented on redemption, decremented on release.';
COMMENT ON COLUMN coupon_customer_uses.updated_at IS 'When the counter last changed.';
