-- inventory_db, migration 0001: stock, reservations and movements.
-- Design tables: stock_items, stock_reservations, stock_movements (inventory_outbox_events comes from
-- the platform template).
-- Added: reservations (one all-or-nothing group reservation made under an idempotency key; its lines
-- are the stock_reservations rows).
--
-- Quantity model (held by CHECKs on stock_items):
--   total_quantity     = units physically held for sale = the sum of stock_movements.change of the item;
--   reserved_quantity  = the sum of quantity of the item's 'active' stock_reservations;
--   available_quantity = total_quantity - reserved_quantity, never below 0.
-- Reserve: available -= q, reserved += q. Release or expire: available += q, reserved -= q.
-- Confirm: reserved -= q, total -= q and a stock_movements row (kind 'sale', change -q).
-- Adjust: total += d, available += d and a stock_movements row (kind 'adjustment').
-- So confirmed stock is deducted at once: there is no "confirmed but not yet deducted" state.

-- ---------------------------------------------------------------------------
-- stock_items (design, aggregate root)
-- ---------------------------------------------------------------------------
CREATE TABLE stock_items (
  id uuid PRIMARY KEY,
  product_id uuid NOT NULL,
  variant_id uuid NOT NULL UNIQUE,
  seller_id uuid NOT NULL,
  sku text NOT NULL CHECK (length(sku) BETWEEN 1 AND 64),
  total_quantity integer NOT NULL DEFAULT 0 CHECK (total_quantity >= 0),
  available_quantity integer NOT NULL DEFAULT 0,
  reserved_quantity integer NOT NULL DEFAULT 0 CHECK (reserved_quantity >= 0),
  version bigint NOT NULL DEFAULT 0 CHECK (version >= 0),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT stock_items_available_check CHECK (0 <= available_quantity AND available_quantity <= total_quantity),
  CONSTRAINT stock_items_quantities_add_up CHECK (available_quantity + reserved_quantity = total_quantity)
);
COMMENT ON TABLE stock_items IS 'Aggregate root of inventory: the stock of one product variant; total = available + reserved, and available never goes below zero.';
COMMENT ON COLUMN stock_items.id IS 'Stock item id (UUIDv7 made by the application); products record it as product_variants.stock_unit_id.';
COMMENT ON COLUMN stock_items.product_id IS 'Product (products domain id) of the variant; no cross-database foreign key.';
COMMENT ON COLUMN stock_items.variant_id IS 'Variant (products domain id) this stock is for; one stock item per variant.';
COMMENT ON COLUMN stock_items.seller_id IS 'Added (not in design): seller who owns the variant, so a seller lists and adjusts only their own stock.';
COMMENT ON COLUMN stock_items.sku IS 'Added (not in design): the variant''s SKU, copied from the products domain for the seller''s stock list.';
COMMENT ON COLUMN stock_items.total_quantity IS 'Units held for sale (not yet sold): equals the sum of this item''s stock_movements.change.';
COMMENT ON COLUMN stock_items.available_quantity IS 'Units that can still be reserved: total_quantity - reserved_quantity, never below zero (a reservation decrements it with a conditional UPDATE).';
COMMENT ON COLUMN stock_items.reserved_quantity IS 'Added (not in design): units held by active reservations, equal to the sum of quantity of this item''s active stock_reservations.';
COMMENT ON COLUMN stock_items.version IS 'Added (not in design): grows by one with every change of the quantities that an event announces; events carry it, so a read copy (products'' availability) can ignore an event older than what it holds.';
COMMENT ON COLUMN stock_items.created_at IS 'Added (not in design): when the stock item was created (when the products domain announced the variant).';
COMMENT ON COLUMN stock_items.updated_at IS 'When the quantities last changed.';
-- Seller's stock list, and lookup by SKU.
CREATE INDEX stock_items_seller_idx ON stock_items (seller_id, sku, id);
CREATE INDEX stock_items_product_idx ON stock_items (product_id);

-- ---------------------------------------------------------------------------
-- reservations (added): one all-or-nothing reservation of several items
-- ---------------------------------------------------------------------------
CREATE TABLE reservations (
  id uuid PRIMARY KEY,
  idempotency_key text NOT NULL UNIQUE CHECK (length(idempotency_key) BETWEEN 1 AND 255),
  request_hash text NOT NULL CHECK (length(request_hash) BETWEEN 1 AND 128),
  owner_id uuid NOT NULL,
  order_id uuid,
  reference_id uuid,
  status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'confirmed', 'released', 'expired')),
  expires_at timestamptz NOT NULL,
  release_reason text CHECK (length(release_reason) <= 500),
  closed_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT reservations_closed_check CHECK ((status = 'active') = (closed_at IS NULL))
);
COMMENT ON TABLE reservations IS 'Added (not in design): an all-or-nothing reservation of one or more stock items, made once per idempotency key; its lines are stock_reservations rows.';
COMMENT ON COLUMN reservations.id IS 'Reservation id (UUIDv7 made by the application).';
COMMENT ON COLUMN reservations.idempotency_key IS 'Caller''s idempotency key: the same key returns this reservation instead of making a second one.';
COMMENT ON COLUMN reservations.request_hash IS 'Hash of the reserved items (variant and quantity), to refuse the same key with a different request.';
COMMENT ON COLUMN reservations.owner_id IS 'Buyer (accounts user id) the stock is held for.';
COMMENT ON COLUMN reservations.order_id IS 'Order (orders domain id) the reservation was confirmed for, when a single order; NULL until known.';
COMMENT ON COLUMN reservations.reference_id IS 'Caller''s reference, normally the checkout session id; NULL when none.';
COMMENT ON COLUMN reservations.status IS 'active (stock held), confirmed (stock sold), released (returned by the caller) or expired (returned by the sweeper after expires_at).';
COMMENT ON COLUMN reservations.expires_at IS 'When an active reservation is released by the expiry sweeper.';
COMMENT ON COLUMN reservations.release_reason IS 'Why the stock was released (e.g. payment_declined, order_cancelled, expired); NULL otherwise.';
COMMENT ON COLUMN reservations.closed_at IS 'When the reservation left the active status (confirmed, released or expired); NULL while active.';
COMMENT ON COLUMN reservations.created_at IS 'When the reservation was made.';
COMMENT ON COLUMN reservations.updated_at IS 'When the reservation last changed.';
-- Expiry sweeper: WHERE status = 'active' AND expires_at <= $now ORDER BY expires_at FOR UPDATE SKIP LOCKED.
CREATE INDEX reservations_status_expires_idx ON reservations (status, expires_at) WHERE status = 'active';
CREATE INDEX reservations_owner_idx ON reservations (owner_id, created_at DESC);
CREATE INDEX reservations_order_idx ON reservations (order_id) WHERE order_id IS NOT NULL;
CREATE INDEX reservations_reference_idx ON reservations (reference_id) WHERE reference_id IS NOT NULL;

-- ---------------------------------------------------------------------------
-- stock_reservations (design): the lines of a reservation, one per stock item
-- ---------------------------------------------------------------------------
CREATE TABLE stock_reservations (
  id uuid PRIMARY KEY,
  reservation_id uuid NOT NULL REFERENCES reservations (id),
  stock_item_id uuid NOT NULL REFERENCES stock_items (id),
  order_id uuid,
  quantity integer NOT NULL CHECK (quantity > 0),
  status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'confirmed', 'released', 'expired')),
  expires_at timestamptz NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT stock_reservations_reservation_item_key UNIQUE (reservation_id, stock_item_id)
);
COMMENT ON TABLE stock_reservations IS 'Reservation model: units of one stock item held for a buyer until confirmed, released or expired; one line per item of a reservation.';
COMMENT ON COLUMN stock_reservations.id IS 'Reservation line id (UUIDv7 made by the application).';
COMMENT ON COLUMN stock_reservations.reservation_id IS 'Added (not in design): the group reservation this line belongs to; all lines change status together.';
COMMENT ON COLUMN stock_reservations.stock_item_id IS 'Stock item the units are held from.';
COMMENT ON COLUMN stock_reservations.order_id IS 'Order (orders domain id) the units were sold to; NULL until the order is known (one order per seller, so lines of one reservation may differ).';
COMMENT ON COLUMN stock_reservations.quantity IS 'Units held, greater than zero.';
COMMENT ON COLUMN stock_reservations.status IS 'Same lifecycle as the reservation: active, confirmed, released or expired.';
COMMENT ON COLUMN stock_reservations.expires_at IS 'When the hold lapses (copied from the reservation).';
COMMENT ON COLUMN stock_reservations.created_at IS 'When the units were reserved.';
COMMENT ON COLUMN stock_reservations.updated_at IS 'Added (not in design): when the line''s status last changed.';
-- Active holds of an item (for checks that reserved_quantity equals their sum).
CREATE INDEX stock_reservations_item_active_idx ON stock_reservations (stock_item_id) WHERE status = 'active';
CREATE INDEX stock_reservations_status_expires_idx ON stock_reservations (status, expires_at) WHERE status = 'active';
CREATE INDEX stock_reservations_order_idx ON stock_reservations (order_id) WHERE order_id IS NOT NULL;

-- ---------------------------------------------------------------------------
-- stock_movements (design): append-only ledger of total_quantity
-- ---------------------------------------------------------------------------
CREATE TABLE stock_movements (
  id uuid PRIMARY KEY,
  stock_item_id uuid NOT NULL REFERENCES stock_items (id),
  change integer NOT NULL CHECK (change <> 0),
  kind text NOT NULL CHECK (kind IN ('adjustment', 'sale', 'restock')),
  reason text NOT NULL CHECK (length(reason) BETWEEN 1 AND 500),
  note text CHECK (length(note) <= 500),
  reference_id uuid,
  created_by uuid,
  created_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT stock_movements_sale_sign_check CHECK (kind <> 'sale' OR change < 0),
  CONSTRAINT stock_movements_restock_sign_check CHECK (kind <> 'restock' OR change > 0),
  CONSTRAINT stock_movements_reference_check CHECK (kind = 'adjustment' OR reference_id IS NOT NULL)
);
COMMENT ON TABLE stock_movements IS 'Append-only record of every change to a stock item''s total_quantity; their sum per item equals total_quantity.';
COMMENT ON COLUMN stock_movements.id IS 'Movement id (UUIDv7 made by the application).';
COMMENT ON COLUMN stock_movements.stock_item_id IS 'Stock item whose total changed.';
COMMENT ON COLUMN stock_movements.change IS 'Signed change of total_quantity (never zero).';
COMMENT ON COLUMN stock_movements.kind IS 'Added (not in design): adjustment (by a seller), sale (a confirmed reservation leaves for good) or restock (sold units come back, e.g. an order cancelled after confirmation).';
COMMENT ON COLUMN stock_movements.reason IS 'Why the stock changed: the seller''s reason for an adjustment, or a system reason.';
COMMENT ON COLUMN stock_movements.note IS 'Added (not in design): the seller''s free-text note on an adjustment (reason holds the code from a fixed list); NULL when none.';
COMMENT ON COLUMN stock_movements.reference_id IS 'Id of what caused the change: the reservation for a sale, the order or reservation for a restock, optionally the request for an adjustment.';
COMMENT ON COLUMN stock_movements.created_by IS 'Added (not in design): user who made an adjustment; NULL for system movements.';
COMMENT ON COLUMN stock_movements.created_at IS 'When the movement was recorded.';
CREATE INDEX stock_movements_item_idx ON stock_movements (stock_item_id, created_at DESC, id DESC);
-- A sale or restock is recorded once per item and cause, so a replayed confirm or cancel is a no-op.
CREATE UNIQUE INDEX stock_movements_once_per_cause_key ON stock_movements (stock_item_id, kind, reference_id)
  WHERE kind IN ('sale', 'restock');
CREATE TRIGGER stock_movements_append_only BEFORE UPDATE OR DELETE ON stock_movements
  FOR EACH ROW EXECUTE FUNCTION bazaar_refuse_change();
CREATE TRIGGER stock_movements_append_only_truncate BEFORE TRUNCATE ON stock_movements
  FOR EACH STATEMENT EXECUTE FUNCTION bazaar_refuse_change();
