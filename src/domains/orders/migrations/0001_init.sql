-- orders_db, migration 0001: the legal and financial record of what was bought.
-- Design tables: orders, order_items, order_status_history, order_payments, order_shipments,
-- order_refunds (orders_outbox_events comes from the platform template).
--
-- Totals (held by CHECKs and a deferred trigger):
--   line_total      = price_snapshot * quantity - discount_amount           (per item)
--   subtotal_amount = sum of price_snapshot * quantity over the order's items
--   discount_amount = sum of the items' discount_amount (coupon discounts are allocated to lines)
--   total_amount    = subtotal_amount - discount_amount + shipping_amount   (= sum of line_total + shipping)
-- Money columns are bigint minor units of the order's currency; an order has one currency.

-- ---------------------------------------------------------------------------
-- orders (design, aggregate root)
-- ---------------------------------------------------------------------------
CREATE TABLE orders (
  id uuid PRIMARY KEY,
  buyer_id uuid NOT NULL,
  seller_id uuid NOT NULL,
  order_number text NOT NULL UNIQUE CHECK (order_number ~ '^[A-Za-z0-9][A-Za-z0-9-]{3,39}$'),
  status text NOT NULL DEFAULT 'pending_payment' CHECK (status IN (
    'pending_payment', 'paid', 'fulfilling', 'shipped', 'delivered', 'completed',
    'cancelled', 'refunded', 'partially_refunded'
  )),
  order_type text NOT NULL DEFAULT 'standard' CHECK (order_type IN ('standard', 'flash_sale', 'preorder', 'digital')),
  currency char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
  subtotal_amount bigint NOT NULL CHECK (subtotal_amount >= 0),
  discount_amount bigint NOT NULL DEFAULT 0 CHECK (discount_amount >= 0),
  shipping_amount bigint NOT NULL DEFAULT 0 CHECK (shipping_amount >= 0),
  total_amount bigint NOT NULL CHECK (total_amount >= 0),
  refunded_amount bigint NOT NULL DEFAULT 0,
  checkout_session_id uuid NOT NULL,
  shipping_address_json jsonb NOT NULL CHECK (jsonb_typeof(shipping_address_json) = 'object'),
  version integer NOT NULL DEFAULT 1 CHECK (version >= 1),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT orders_discount_check CHECK (discount_amount <= subtotal_amount),
  CONSTRAINT orders_total_adds_up CHECK (total_amount = subtotal_amount - discount_amount + shipping_amount),
  CONSTRAINT orders_refunded_check CHECK (refunded_amount >= 0 AND refunded_amount <= total_amount),
  -- One order per seller per checkout: a retried or recovered checkout step cannot create a second one.
  CONSTRAINT orders_checkout_seller_key UNIQUE (checkout_session_id, seller_id),
  -- Target of the composite foreign key from order_items (an item has the seller and currency of its order).
  CONSTRAINT orders_id_seller_currency_key UNIQUE (id, seller_id, currency)
);
COMMENT ON TABLE orders IS 'Aggregate root: one order of one buyer from one seller (a checkout makes one order per seller); amounts and parties never change, only status moves.';
COMMENT ON COLUMN orders.id IS 'Order id (UUIDv7 made by the application).';
COMMENT ON COLUMN orders.buyer_id IS 'Buyer (accounts user id) who placed the order.';
COMMENT ON COLUMN orders.seller_id IS 'Seller (accounts user id) who sells every item of the order.';
COMMENT ON COLUMN orders.order_number IS 'Human-readable unique order number shown to buyers and sellers.';
COMMENT ON COLUMN orders.status IS 'Current status; transitions are decided by the pure status machine and recorded in order_status_history.';
COMMENT ON COLUMN orders.order_type IS 'Kind of order: standard, flash_sale, preorder or digital.';
COMMENT ON COLUMN orders.currency IS 'ISO 4217 currency of every amount of the order and its items.';
COMMENT ON COLUMN orders.subtotal_amount IS 'Added (not in design): sum of unit price times quantity over the items, in minor units.';
COMMENT ON COLUMN orders.discount_amount IS 'Added (not in design): sum of the items'' discount_amount (coupon discounts), in minor units.';
COMMENT ON COLUMN orders.shipping_amount IS 'Added (not in design): shipping charged, in minor units.';
COMMENT ON COLUMN orders.total_amount IS 'Amount the buyer pays for this order: subtotal - discount + shipping, in minor units.';
COMMENT ON COLUMN orders.refunded_amount IS 'Added (not in design): total of succeeded refunds recorded from payments events, never above total_amount.';
COMMENT ON COLUMN orders.checkout_session_id IS 'Added (not in design): checkout session (checkout domain id) that created the order; unique with seller_id for idempotent creation.';
COMMENT ON COLUMN orders.shipping_address_json IS 'Added (not in design): snapshot of the delivery address taken at checkout.';
COMMENT ON COLUMN orders.version IS 'Added (not in design): incremented on every change, for optimistic concurrency.';
COMMENT ON COLUMN orders.created_at IS 'When the order was placed.';
COMMENT ON COLUMN orders.updated_at IS 'When the order last changed (status, refunds).';
-- Buyer's orders, newest first (cursor on created_at, id).
CREATE INDEX orders_buyer_idx ON orders (buyer_id, created_at DESC, id DESC);
-- Seller's orders, newest first.
CREATE INDEX orders_seller_idx ON orders (seller_id, created_at DESC, id DESC);
-- Seller's orders filtered by status.
CREATE INDEX orders_seller_status_idx ON orders (seller_id, status, created_at DESC, id DESC);

-- An order's parties and amounts are a legal fact: only status, refunded_amount, shipping address,
-- version and updated_at may change, and an order is never deleted.
CREATE FUNCTION orders_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    RAISE EXCEPTION 'orders are a legal record: DELETE refused' USING ERRCODE = 'BZ001';
  END IF;
  IF (to_jsonb(NEW) - ARRAY['status', 'refunded_amount', 'shipping_address_json', 'version', 'updated_at'])
     IS DISTINCT FROM
     (to_jsonb(OLD) - ARRAY['status', 'refunded_amount', 'shipping_address_json', 'version', 'updated_at']) THEN
    RAISE EXCEPTION 'orders: only status, refunded_amount, shipping_address_json, version and updated_at may change'
      USING ERRCODE = 'BZ001';
  END IF;
  RETURN NEW;
END;
$$;
COMMENT ON FUNCTION orders_guard() IS 'Trigger function: refuses deleting an order and changing its parties, number, type, currency or amounts.';
CREATE TRIGGER orders_immutable_facts BEFORE UPDATE OR DELETE ON orders
  FOR EACH ROW EXECUTE FUNCTION orders_guard();
CREATE TRIGGER orders_no_truncate BEFORE TRUNCATE ON orders
  FOR EACH STATEMENT EXECUTE FUNCTION bazaar_refuse_change();

-- ---------------------------------------------------------------------------
-- order_items (design): immutable snapshots
-- ---------------------------------------------------------------------------
CREATE TABLE order_items (
  id uuid PRIMARY KEY,
  order_id uuid NOT NULL,
  product_id uuid NOT NULL,
  variant_id uuid NOT NULL,
  seller_id uuid NOT NULL,
  sku text NOT NULL CHECK (length(sku) BETWEEN 1 AND 64),
  product_snapshot_json jsonb NOT NULL CHECK (jsonb_typeof(product_snapshot_json) = 'object'),
  price_snapshot bigint NOT NULL CHECK (price_snapshot >= 0),
  quantity integer NOT NULL CHECK (quantity > 0 AND quantity <= 10000),
  discount_amount bigint NOT NULL DEFAULT 0 CHECK (discount_amount >= 0),
  currency char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
  line_total bigint NOT NULL CHECK (line_total >= 0),
  created_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT order_items_discount_check CHECK (discount_amount <= price_snapshot * quantity),
  CONSTRAINT order_items_line_total_adds_up CHECK (line_total = price_snapshot * quantity - discount_amount),
  CONSTRAINT order_items_order_variant_key UNIQUE (order_id, variant_id),
  CONSTRAINT order_items_order_fkey FOREIGN KEY (order_id, seller_id, currency)
    REFERENCES orders (id, seller_id, currency)
);
COMMENT ON TABLE order_items IS 'Immutable snapshot of each line bought: product, variant, unit price, quantity and discount as they were at checkout.';
COMMENT ON COLUMN order_items.id IS 'Order item id (UUIDv7 made by the application).';
COMMENT ON COLUMN order_items.order_id IS 'Order the item belongs to.';
COMMENT ON COLUMN order_items.product_id IS 'Added (not in design): product (products domain id) bought.';
COMMENT ON COLUMN order_items.variant_id IS 'Added (not in design): variant (products domain id) bought; one line per variant per order.';
COMMENT ON COLUMN order_items.seller_id IS 'Added (not in design): seller of the item, always the order''s seller.';
COMMENT ON COLUMN order_items.sku IS 'Added (not in design): the variant''s SKU at checkout.';
COMMENT ON COLUMN order_items.product_snapshot_json IS 'Snapshot of the product at checkout: title, variant attributes, image, category, base price and price discount.';
COMMENT ON COLUMN order_items.price_snapshot IS 'Unit price charged, in minor units (the pricing window''s base_price - discount at checkout).';
COMMENT ON COLUMN order_items.quantity IS 'Units bought, greater than zero.';
COMMENT ON COLUMN order_items.discount_amount IS 'Added (not in design): coupon discount allocated to this line, in minor units.';
COMMENT ON COLUMN order_items.currency IS 'Added (not in design): ISO 4217 currency, always the order''s currency.';
COMMENT ON COLUMN order_items.line_total IS 'Added (not in design): price_snapshot * quantity - discount_amount, in minor units.';
COMMENT ON COLUMN order_items.created_at IS 'When the item was recorded.';
CREATE INDEX order_items_product_idx ON order_items (product_id);
CREATE TRIGGER order_items_append_only BEFORE UPDATE OR DELETE ON order_items
  FOR EACH ROW EXECUTE FUNCTION bazaar_refuse_change();
CREATE TRIGGER order_items_append_only_truncate BEFORE TRUNCATE ON order_items
  FOR EACH STATEMENT EXECUTE FUNCTION bazaar_refuse_change();

-- At commit, an order's subtotal and discount equal the sums over its items (and it has at least one).
CREATE FUNCTION orders_assert_totals(p_order_id uuid) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  o_subtotal bigint;
  o_discount bigint;
  i_count bigint;
  i_subtotal bigint;
  i_discount bigint;
BEGIN
  SELECT subtotal_amount, discount_amount INTO o_subtotal, o_discount FROM orders WHERE id = p_order_id;
  IF NOT FOUND THEN
    RETURN;
  END IF;
  SELECT count(*), coalesce(sum(price_snapshot * quantity), 0), coalesce(sum(discount_amount), 0)
    INTO i_count, i_subtotal, i_discount
    FROM order_items WHERE order_id = p_order_id;
  IF i_count = 0 OR i_subtotal <> o_subtotal OR i_discount <> o_discount THEN
    RAISE EXCEPTION 'order % totals do not add up: % items, items subtotal % vs %, items discount % vs %',
      p_order_id, i_count, i_subtotal, o_subtotal, i_discount, o_discount
      USING ERRCODE = 'check_violation';
  END IF;
END;
$$;
COMMENT ON FUNCTION orders_assert_totals(uuid) IS 'Raises unless the order has items and its subtotal_amount and discount_amount equal the sums over them.';

CREATE FUNCTION orders_check_totals_on_order() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM orders_assert_totals(NEW.id);
  RETURN NULL;
END;
$$;
COMMENT ON FUNCTION orders_check_totals_on_order() IS 'Deferred constraint trigger function: checks a new order''s totals against its items at commit.';

CREATE FUNCTION orders_check_totals_on_item() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM orders_assert_totals(NEW.order_id);
  RETURN NULL;
END;
$$;
COMMENT ON FUNCTION orders_check_totals_on_item() IS 'Deferred constraint trigger function: checks the order''s totals at commit after an item is added.';

CREATE CONSTRAINT TRIGGER orders_totals_add_up AFTER INSERT ON orders
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION orders_check_totals_on_order();
CREATE CONSTRAINT TRIGGER order_items_totals_add_up AFTER INSERT ON order_items
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION orders_check_totals_on_item();

-- ---------------------------------------------------------------------------
-- order_status_history (design): append-only audit trail
-- ---------------------------------------------------------------------------
CREATE TABLE order_status_history (
  id uuid PRIMARY KEY,
  order_id uuid NOT NULL REFERENCES orders (id),
  from_status text CHECK (from_status IN (
    'pending_payment', 'paid', 'fulfilling', 'shipped', 'delivered', 'completed',
    'cancelled', 'refunded', 'partially_refunded'
  )),
  to_status text NOT NULL CHECK (to_status IN (
    'pending_payment', 'paid', 'fulfilling', 'shipped', 'delivered', 'completed',
    'cancelled', 'refunded', 'partially_refunded'
  )),
  reason text NOT NULL CHECK (length(reason) BETWEEN 1 AND 1000),
  changed_by uuid,
  actor_type text NOT NULL CHECK (actor_type IN ('buyer', 'seller', 'admin', 'system')),
  changed_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT order_status_history_change_check CHECK (from_status IS DISTINCT FROM to_status),
  CONSTRAINT order_status_history_actor_check CHECK (actor_type = 'system' OR changed_by IS NOT NULL)
);
COMMENT ON TABLE order_status_history IS 'Append-only audit trail: one row per status transition of an order, with reason and actor.';
COMMENT ON COLUMN order_status_history.id IS 'Transition id (UUIDv7 made by the application).';
COMMENT ON COLUMN order_status_history.order_id IS 'Order whose status changed.';
COMMENT ON COLUMN order_status_history.from_status IS 'Status before the transition; NULL for the order''s creation.';
COMMENT ON COLUMN order_status_history.to_status IS 'Status after the transition.';
COMMENT ON COLUMN order_status_history.reason IS 'Why the status changed, e.g. payment captured, cancelled by buyer.';
COMMENT ON COLUMN order_status_history.changed_by IS 'User (accounts id) who caused the change; NULL when the system did, on another domain''s event.';
COMMENT ON COLUMN order_status_history.actor_type IS 'Added (not in design): kind of actor: buyer, seller, admin or system.';
COMMENT ON COLUMN order_status_history.changed_at IS 'When the transition happened.';
CREATE INDEX order_status_history_order_idx ON order_status_history (order_id, changed_at, id);
CREATE TRIGGER order_status_history_append_only BEFORE UPDATE OR DELETE ON order_status_history
  FOR EACH ROW EXECUTE FUNCTION bazaar_refuse_change();
CREATE TRIGGER order_status_history_append_only_truncate BEFORE TRUNCATE ON order_status_history
  FOR EACH STATEMENT EXECUTE FUNCTION bazaar_refuse_change();

-- ---------------------------------------------------------------------------
-- order_payments (design): references to the payments domain
-- ---------------------------------------------------------------------------
CREATE TABLE order_payments (
  id uuid PRIMARY KEY,
  order_id uuid NOT NULL REFERENCES orders (id),
  payment_id uuid NOT NULL,
  amount bigint NOT NULL CHECK (amount >= 0),
  currency char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
  status text NOT NULL CHECK (status IN (
    'pending', 'authorized', 'captured', 'partially_refunded', 'refunded', 'voided', 'failed', 'canceled'
  )),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT order_payments_order_payment_key UNIQUE (order_id, payment_id)
);
COMMENT ON TABLE order_payments IS 'Payments of an order as learned from payments events; unique per order and payment so a replayed event changes nothing.';
COMMENT ON COLUMN order_payments.id IS 'Row id (UUIDv7 made by the application).';
COMMENT ON COLUMN order_payments.order_id IS 'Order paid.';
COMMENT ON COLUMN order_payments.payment_id IS 'Payment intent (payments domain id); no cross-database foreign key.';
COMMENT ON COLUMN order_payments.amount IS 'Part of the payment allocated to this order, in minor units.';
COMMENT ON COLUMN order_payments.currency IS 'Added (not in design): ISO 4217 currency of amount.';
COMMENT ON COLUMN order_payments.status IS 'Last known status of the payment for this order.';
COMMENT ON COLUMN order_payments.created_at IS 'When the payment was first recorded here.';
COMMENT ON COLUMN order_payments.updated_at IS 'Added (not in design): when status last changed.';
CREATE INDEX order_payments_payment_idx ON order_payments (payment_id);

-- ---------------------------------------------------------------------------
-- order_shipments (design): references to the shipping domain
-- ---------------------------------------------------------------------------
CREATE TABLE order_shipments (
  id uuid PRIMARY KEY,
  order_id uuid NOT NULL REFERENCES orders (id),
  shipment_id uuid NOT NULL,
  carrier text NOT NULL CHECK (length(carrier) BETWEEN 1 AND 100),
  tracking_number text NOT NULL CHECK (length(tracking_number) BETWEEN 1 AND 100),
  status text NOT NULL CHECK (status IN (
    'pending', 'label_created', 'in_transit', 'out_for_delivery', 'delivered',
    'delivery_failed', 'returned', 'cancelled'
  )),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT order_shipments_order_shipment_key UNIQUE (order_id, shipment_id)
);
COMMENT ON TABLE order_shipments IS 'Shipments of an order as learned from shipping events; unique per order and shipment so a replayed event changes nothing.';
COMMENT ON COLUMN order_shipments.id IS 'Row id (UUIDv7 made by the application).';
COMMENT ON COLUMN order_shipments.order_id IS 'Order shipped.';
COMMENT ON COLUMN order_shipments.shipment_id IS 'Shipment (shipping domain id); no cross-database foreign key.';
COMMENT ON COLUMN order_shipments.carrier IS 'Carrier name, e.g. dhl.';
COMMENT ON COLUMN order_shipments.tracking_number IS 'Carrier''s tracking number.';
COMMENT ON COLUMN order_shipments.status IS 'Last known shipment status (same values as shipping.shipments.status).';
COMMENT ON COLUMN order_shipments.created_at IS 'When the shipment was first recorded here.';
COMMENT ON COLUMN order_shipments.updated_at IS 'Added (not in design): when status last changed.';
CREATE INDEX order_shipments_shipment_idx ON order_shipments (shipment_id);

-- ---------------------------------------------------------------------------
-- order_refunds (design): references to payments refunds
-- ---------------------------------------------------------------------------
CREATE TABLE order_refunds (
  id uuid PRIMARY KEY,
  order_id uuid NOT NULL REFERENCES orders (id),
  refund_id uuid NOT NULL,
  amount bigint NOT NULL CHECK (amount > 0),
  currency char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
  reason text NOT NULL CHECK (length(reason) BETWEEN 1 AND 1000),
  status text NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT order_refunds_order_refund_key UNIQUE (order_id, refund_id)
);
COMMENT ON TABLE order_refunds IS 'Refunds of an order as learned from payments events; unique per order and refund so a replayed event changes nothing.';
COMMENT ON COLUMN order_refunds.id IS 'Row id (UUIDv7 made by the application).';
COMMENT ON COLUMN order_refunds.order_id IS 'Order refunded.';
COMMENT ON COLUMN order_refunds.refund_id IS 'Refund (payments domain id); no cross-database foreign key.';
COMMENT ON COLUMN order_refunds.amount IS 'Amount refunded, in minor units.';
COMMENT ON COLUMN order_refunds.currency IS 'Added (not in design): ISO 4217 currency of amount.';
COMMENT ON COLUMN order_refunds.reason IS 'Why the refund was made, as given by the seller or the system.';
COMMENT ON COLUMN order_refunds.status IS 'Last known refund status: pending, succeeded or failed.';
COMMENT ON COLUMN order_refunds.created_at IS 'When the refund was first recorded here.';
COMMENT ON COLUMN order_refunds.updated_at IS 'Added (not in design): when status last changed.';
CREATE INDEX order_refunds_refund_idx ON order_refunds (refund_id);
