-- search_db, migration 0001: read models, disposable and rebuildable from the other domains' events.
-- Design tables: product_search_view, order_list_view, seller_dashboard_view.
-- Added: seller_daily_revenue and seller_product_sales (dashboard figures per day and per product),
-- read_model_checkpoints (how far each read model has read each source's event log, for rebuilds).
-- No append-only triggers here: a rebuild truncates and refills these tables.
-- Each projection stores the source aggregate's version and ignores older events.

CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- ---------------------------------------------------------------------------
-- product_search_view (design)
-- ---------------------------------------------------------------------------
CREATE TABLE product_search_view (
  product_id uuid PRIMARY KEY,
  seller_id uuid NOT NULL,
  title text NOT NULL,
  description text NOT NULL DEFAULT '',
  category_id uuid NOT NULL,
  category_ids uuid[] NOT NULL DEFAULT '{}',
  variant_attributes_json jsonb NOT NULL DEFAULT '[]'::jsonb CHECK (jsonb_typeof(variant_attributes_json) = 'array'),
  attributes_json jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(attributes_json) = 'object'),
  status text NOT NULL CHECK (status IN ('draft', 'published', 'unlisted')),
  min_price bigint CHECK (min_price >= 0),
  max_price bigint CHECK (max_price >= 0),
  currency char(3) CHECK (currency ~ '^[A-Z]{3}$'),
  in_stock boolean NOT NULL DEFAULT false,
  image_url text,
  published_at timestamptz,
  product_version integer NOT NULL CHECK (product_version >= 1),
  search tsvector GENERATED ALWAYS AS (
    setweight(to_tsvector('english'::regconfig, title), 'A')
    || setweight(jsonb_to_tsvector('english'::regconfig, attributes_json, '["string"]'::jsonb), 'B')
    || setweight(jsonb_to_tsvector('english'::regconfig, variant_attributes_json, '["string"]'::jsonb), 'B')
    || setweight(to_tsvector('english'::regconfig, description), 'C')
  ) STORED,
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT product_search_view_prices_check CHECK (
    (min_price IS NULL AND max_price IS NULL AND currency IS NULL)
    OR (min_price IS NOT NULL AND max_price IS NOT NULL AND currency IS NOT NULL AND min_price <= max_price)
  )
);
COMMENT ON TABLE product_search_view IS 'Denormalised product for full-text search, filters, facets and sorting, projected from products, pricing and inventory events.';
COMMENT ON COLUMN product_search_view.product_id IS 'Product (products domain id).';
COMMENT ON COLUMN product_search_view.seller_id IS 'Added (not in design): seller of the product, for a seller filter.';
COMMENT ON COLUMN product_search_view.title IS 'Product title (weighted highest in search).';
COMMENT ON COLUMN product_search_view.description IS 'Added (not in design): product description (weighted lowest in search).';
COMMENT ON COLUMN product_search_view.category_id IS 'Category of the product.';
COMMENT ON COLUMN product_search_view.category_ids IS 'Added (not in design): the category and all its ancestors, so filtering by a category finds products of its subcategories.';
COMMENT ON COLUMN product_search_view.variant_attributes_json IS 'JSON array of the variants'' attribute objects, e.g. [{"size":"M","colour":"red"}], searched and faceted.';
COMMENT ON COLUMN product_search_view.attributes_json IS 'Added (not in design): the product''s searchable attributes as an object of name to array of values, for facets.';
COMMENT ON COLUMN product_search_view.status IS 'Added (not in design): publication status; searches return published products only.';
COMMENT ON COLUMN product_search_view.min_price IS 'Added (not in design): lowest current variant price in minor units of currency; NULL when no price is in effect.';
COMMENT ON COLUMN product_search_view.max_price IS 'Added (not in design): highest current variant price in minor units of currency; NULL when no price is in effect.';
COMMENT ON COLUMN product_search_view.currency IS 'Added (not in design): ISO 4217 currency of min_price and max_price.';
COMMENT ON COLUMN product_search_view.in_stock IS 'Added (not in design): whether any variant has available stock, from inventory events.';
COMMENT ON COLUMN product_search_view.image_url IS 'Added (not in design): URL of the primary image for result lists; NULL when none.';
COMMENT ON COLUMN product_search_view.published_at IS 'Added (not in design): when the product was last published, for sorting by newest.';
COMMENT ON COLUMN product_search_view.product_version IS 'Added (not in design): products.version of the last snapshot applied; older events are ignored.';
COMMENT ON COLUMN product_search_view.search IS 'Added (not in design): generated full-text document (title A, attributes B, description C, English configuration).';
COMMENT ON COLUMN product_search_view.updated_at IS 'Added (not in design): when the row was last projected.';
CREATE INDEX product_search_view_search_idx ON product_search_view USING gin (search);
CREATE INDEX product_search_view_title_trgm_idx ON product_search_view USING gin (title gin_trgm_ops);
CREATE INDEX product_search_view_categories_idx ON product_search_view USING gin (category_ids);
CREATE INDEX product_search_view_attributes_idx ON product_search_view USING gin (attributes_json jsonb_path_ops);
CREATE INDEX product_search_view_newest_idx ON product_search_view (published_at DESC, product_id DESC) WHERE status = 'published';
CREATE INDEX product_search_view_price_idx ON product_search_view (currency, min_price, product_id) WHERE status = 'published';
CREATE INDEX product_search_view_seller_idx ON product_search_view (seller_id);

-- ---------------------------------------------------------------------------
-- order_list_view (design)
-- ---------------------------------------------------------------------------
CREATE TABLE order_list_view (
  order_id uuid PRIMARY KEY,
  buyer_id uuid NOT NULL,
  seller_id uuid NOT NULL,
  order_number text NOT NULL,
  status text NOT NULL CHECK (status IN (
    'pending_payment', 'paid', 'fulfilling', 'shipped', 'delivered', 'completed',
    'cancelled', 'refunded', 'partially_refunded'
  )),
  total_amount bigint NOT NULL CHECK (total_amount >= 0),
  currency char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
  item_count integer NOT NULL DEFAULT 0 CHECK (item_count >= 0),
  order_version integer NOT NULL CHECK (order_version >= 1),
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE order_list_view IS 'Customer and seller order lists, projected from orders events.';
COMMENT ON COLUMN order_list_view.order_id IS 'Order (orders domain id).';
COMMENT ON COLUMN order_list_view.buyer_id IS 'Buyer of the order.';
COMMENT ON COLUMN order_list_view.seller_id IS 'Added (not in design): seller of the order, for the seller''s list.';
COMMENT ON COLUMN order_list_view.order_number IS 'Added (not in design): human-readable order number.';
COMMENT ON COLUMN order_list_view.status IS 'Current order status (values as orders.status).';
COMMENT ON COLUMN order_list_view.total_amount IS 'Order total in minor units of currency.';
COMMENT ON COLUMN order_list_view.currency IS 'Added (not in design): ISO 4217 currency of total_amount.';
COMMENT ON COLUMN order_list_view.item_count IS 'Added (not in design): units in the order.';
COMMENT ON COLUMN order_list_view.order_version IS 'Added (not in design): orders.version of the last event applied; older events are ignored.';
COMMENT ON COLUMN order_list_view.created_at IS 'When the order was placed (from the order, not the projection).';
COMMENT ON COLUMN order_list_view.updated_at IS 'Added (not in design): when the row was last projected.';
CREATE INDEX order_list_view_buyer_idx ON order_list_view (buyer_id, created_at DESC, order_id DESC);
CREATE INDEX order_list_view_seller_idx ON order_list_view (seller_id, created_at DESC, order_id DESC);

-- ---------------------------------------------------------------------------
-- seller_dashboard_view (design)
-- ---------------------------------------------------------------------------
CREATE TABLE seller_dashboard_view (
  seller_id uuid NOT NULL,
  currency char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
  orders_json jsonb NOT NULL DEFAULT '[]'::jsonb CHECK (jsonb_typeof(orders_json) = 'array'),
  order_count integer NOT NULL DEFAULT 0 CHECK (order_count >= 0),
  revenue bigint NOT NULL DEFAULT 0 CHECK (revenue >= 0),
  refunded bigint NOT NULL DEFAULT 0 CHECK (refunded >= 0),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (seller_id, currency)
);
COMMENT ON TABLE seller_dashboard_view IS 'Seller analytics totals per currency, projected from orders and payments events.';
COMMENT ON COLUMN seller_dashboard_view.seller_id IS 'Seller (accounts user id).';
COMMENT ON COLUMN seller_dashboard_view.currency IS 'Added (not in design): ISO 4217 currency of the figures; one row per seller and currency.';
COMMENT ON COLUMN seller_dashboard_view.orders_json IS 'JSON array summarising the seller''s most recent orders (bounded, newest first) and counts by status.';
COMMENT ON COLUMN seller_dashboard_view.order_count IS 'Added (not in design): paid orders in this currency.';
COMMENT ON COLUMN seller_dashboard_view.revenue IS 'Gross revenue of paid orders in minor units of currency.';
COMMENT ON COLUMN seller_dashboard_view.refunded IS 'Added (not in design): refunded amount in minor units of currency (net revenue = revenue - refunded).';
COMMENT ON COLUMN seller_dashboard_view.updated_at IS 'Added (not in design): when the row was last projected.';

-- ---------------------------------------------------------------------------
-- seller_daily_revenue (added)
-- ---------------------------------------------------------------------------
CREATE TABLE seller_daily_revenue (
  seller_id uuid NOT NULL,
  day date NOT NULL,
  currency char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
  orders integer NOT NULL DEFAULT 0 CHECK (orders >= 0),
  revenue bigint NOT NULL DEFAULT 0 CHECK (revenue >= 0),
  refunded bigint NOT NULL DEFAULT 0 CHECK (refunded >= 0),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (seller_id, day, currency)
);
COMMENT ON TABLE seller_daily_revenue IS 'Added (not in design): seller orders and revenue per UTC day and currency, for the dashboard''s per-day figures.';
COMMENT ON COLUMN seller_daily_revenue.seller_id IS 'Seller (accounts user id).';
COMMENT ON COLUMN seller_daily_revenue.day IS 'UTC calendar day.';
COMMENT ON COLUMN seller_daily_revenue.currency IS 'ISO 4217 currency of the figures.';
COMMENT ON COLUMN seller_daily_revenue.orders IS 'Orders paid that day.';
COMMENT ON COLUMN seller_daily_revenue.revenue IS 'Gross revenue of orders paid that day, in minor units.';
COMMENT ON COLUMN seller_daily_revenue.refunded IS 'Refunds made that day, in minor units.';
COMMENT ON COLUMN seller_daily_revenue.updated_at IS 'When the row was last projected.';

-- ---------------------------------------------------------------------------
-- seller_product_sales (added)
-- ---------------------------------------------------------------------------
CREATE TABLE seller_product_sales (
  seller_id uuid NOT NULL,
  product_id uuid NOT NULL,
  currency char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
  title text NOT NULL,
  units_sold bigint NOT NULL DEFAULT 0 CHECK (units_sold >= 0),
  revenue bigint NOT NULL DEFAULT 0 CHECK (revenue >= 0),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (seller_id, product_id, currency)
);
COMMENT ON TABLE seller_product_sales IS 'Added (not in design): units and revenue per seller product and currency, for the dashboard''s top products.';
COMMENT ON COLUMN seller_product_sales.seller_id IS 'Seller (accounts user id).';
COMMENT ON COLUMN seller_product_sales.product_id IS 'Product (products domain id).';
COMMENT ON COLUMN seller_product_sales.currency IS 'ISO 4217 currency of revenue.';
COMMENT ON COLUMN seller_product_sales.title IS 'Product title as last sold.';
COMMENT ON COLUMN seller_product_sales.units_sold IS 'Units sold in paid orders.';
COMMENT ON COLUMN seller_product_sales.revenue IS 'Revenue of those units after line discounts, in minor units.';
COMMENT ON COLUMN seller_product_sales.updated_at IS 'When the row was last projected.';
CREATE INDEX seller_product_sales_top_idx ON seller_product_sales (seller_id, currency, revenue DESC);

-- ---------------------------------------------------------------------------
-- read_model_checkpoints (added)
-- ---------------------------------------------------------------------------
CREATE TABLE read_model_checkpoints (
  read_model text NOT NULL CHECK (read_model ~ '^[a-z][a-z0-9_]{0,62}$'),
  source text NOT NULL CHECK (source ~ '^[a-z][a-z0-9_]{0,62}$'),
  status text NOT NULL DEFAULT 'live' CHECK (status IN ('live', 'rebuilding')),
  last_seq bigint CHECK (last_seq >= 0),
  last_event_id uuid,
  rebuild_started_at timestamptz,
  rebuilt_at timestamptz,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (read_model, source)
);
COMMENT ON TABLE read_model_checkpoints IS 'Added (not in design): how far each read model has read each source domain''s event log, and whether it is being rebuilt.';
COMMENT ON COLUMN read_model_checkpoints.read_model IS 'Read model name, e.g. product_search or order_list.';
COMMENT ON COLUMN read_model_checkpoints.source IS 'Source domain whose outbox log is read, e.g. products.';
COMMENT ON COLUMN read_model_checkpoints.status IS 'live (following new events) or rebuilding (replaying the log).';
COMMENT ON COLUMN read_model_checkpoints.last_seq IS 'Outbox seq of the last source event applied; NULL before any.';
COMMENT ON COLUMN read_model_checkpoints.last_event_id IS 'Id of the last source event applied; NULL before any.';
COMMENT ON COLUMN read_model_checkpoints.rebuild_started_at IS 'When the current or last rebuild started; NULL if never rebuilt.';
COMMENT ON COLUMN read_model_checkpoints.rebuilt_at IS 'When the last rebuild finished; NULL if never rebuilt or still rebuilding.';
COMMENT ON COLUMN read_model_checkpoints.updated_at IS 'When the checkpoint last moved.';
