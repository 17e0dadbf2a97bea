-- products_db, migration 0001: the seller catalog.
-- Design tables: products, product_variants, product_images, product_pricing, product_attributes,
-- product_publications (products_outbox_events comes from the platform template).
-- Added: categories (the category tree every product belongs to).

CREATE EXTENSION IF NOT EXISTS btree_gist;

-- ---------------------------------------------------------------------------
-- categories (added)
-- ---------------------------------------------------------------------------
CREATE TABLE categories (
  id uuid PRIMARY KEY,
  parent_id uuid REFERENCES categories (id),
  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  slug text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$' AND length(slug) <= 200),
  position integer NOT NULL DEFAULT 0 CHECK (position >= 0),
  created_at timestamptz NOT NULL DEFAULT now(),
  CHECK (parent_id IS DISTINCT FROM id)
);
COMMENT ON TABLE categories IS 'Added (not in design): the category tree that products are filed under; a root has no parent.';
COMMENT ON COLUMN categories.id IS 'Category id (UUIDv7 made by the application).';
COMMENT ON COLUMN categories.parent_id IS 'Parent category; NULL for a root of the tree.';
COMMENT ON COLUMN categories.name IS 'Display name of the category.';
COMMENT ON COLUMN categories.slug IS 'URL-safe unique key of the category (lowercase words joined by hyphens).';
COMMENT ON COLUMN categories.position IS 'Sort order among the siblings of one parent, ascending.';
COMMENT ON COLUMN categories.created_at IS 'When the category was created.';
CREATE INDEX categories_parent_idx ON categories (parent_id, position, id);

-- ---------------------------------------------------------------------------
-- products (design, aggregate root)
-- ---------------------------------------------------------------------------
CREATE TABLE products (
  id uuid PRIMARY KEY,
  seller_id uuid NOT NULL,
  sku text NOT NULL CHECK (length(sku) BETWEEN 1 AND 64 AND sku !~ '\s'),
  title text NOT NULL CHECK (length(title) BETWEEN 1 AND 300),
  description text NOT NULL DEFAULT '' CHECK (length(description) <= 20000),
  category_id uuid NOT NULL REFERENCES categories (id),
  status text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'published', 'unlisted')),
  version integer NOT NULL DEFAULT 1 CHECK (version >= 1),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT products_seller_sku_key UNIQUE (seller_id, sku)
);
COMMENT ON TABLE products IS 'Aggregate root of the catalog: a seller''s product with its lifecycle status; variants, images, prices and attributes hang off it.';
COMMENT ON COLUMN products.id IS 'Product id (UUIDv7 made by the application).';
COMMENT ON COLUMN products.seller_id IS 'Added (not in design): the seller (accounts user id) who owns the product; no cross-database foreign key.';
COMMENT ON COLUMN products.sku IS 'Seller''s stock keeping unit for the product, unique per seller.';
COMMENT ON COLUMN products.title IS 'Product title shown to buyers.';
COMMENT ON COLUMN products.description IS 'Product description shown to buyers (plain text or sanitised markup).';
COMMENT ON COLUMN products.category_id IS 'Category of the product in the category tree.';
COMMENT ON COLUMN products.status IS 'Publication status: draft (never shown), published (visible to buyers) or unlisted (hidden again); history in product_publications.';
COMMENT ON COLUMN products.version IS 'Added (not in design): incremented on every change, for optimistic concurrency, ETags and ordering of product snapshots in events.';
COMMENT ON COLUMN products.created_at IS 'When the product was created.';
COMMENT ON COLUMN products.updated_at IS 'When the product or one of its parts last changed.';
-- Public list: published products of a category, newest first (cursor on created_at, id).
CREATE INDEX products_published_by_category_idx ON products (category_id, created_at DESC, id DESC) WHERE status = 'published';
-- Public list without a category filter.
CREATE INDEX products_published_idx ON products (created_at DESC, id DESC) WHERE status = 'published';
-- Products by category and status (admin views, facet counts).
CREATE INDEX products_category_status_idx ON products (category_id, status);
-- Seller's own products, any status, newest first.
CREATE INDEX products_seller_idx ON products (seller_id, created_at DESC, id DESC);

-- ---------------------------------------------------------------------------
-- product_variants (design)
-- ---------------------------------------------------------------------------
CREATE TABLE product_variants (
  id uuid PRIMARY KEY,
  product_id uuid NOT NULL REFERENCES products (id) ON DELETE CASCADE,
  sku text NOT NULL CHECK (length(sku) BETWEEN 1 AND 64 AND sku !~ '\s'),
  attributes_json jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(attributes_json) = 'object'),
  price bigint NOT NULL CHECK (price >= 0),
  currency char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
  stock_unit_id uuid UNIQUE,
  position integer NOT NULL DEFAULT 0 CHECK (position >= 0),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT product_variants_product_sku_key UNIQUE (product_id, sku),
  -- Target of the composite foreign key from product_pricing (a price belongs to a variant of the same product).
  CONSTRAINT product_variants_id_product_key UNIQUE (id, product_id)
);
COMMENT ON TABLE product_variants IS 'Purchasable variants of a product (e.g. size and colour), each with its own SKU and list price.';
COMMENT ON COLUMN product_variants.id IS 'Variant id (UUIDv7 made by the application); inventory, cart and orders refer to it.';
COMMENT ON COLUMN product_variants.product_id IS 'Product this variant belongs to.';
COMMENT ON COLUMN product_variants.sku IS 'Added (not in design): stock keeping unit of the variant, unique within its product.';
COMMENT ON COLUMN product_variants.attributes_json IS 'Variant attributes as a JSON object of name to value, e.g. {"size":"M","colour":"red"}.';
COMMENT ON COLUMN product_variants.price IS 'List price of one unit in minor units of currency; the price charged comes from product_pricing.';
COMMENT ON COLUMN product_variants.currency IS 'Added (not in design): ISO 4217 currency of price.';
COMMENT ON COLUMN product_variants.stock_unit_id IS 'Id of the inventory domain''s stock item for this variant (no cross-database foreign key); NULL until inventory announces it.';
COMMENT ON COLUMN product_variants.position IS 'Added (not in design): display order of the variant within its product, ascending.';
COMMENT ON COLUMN product_variants.created_at IS 'Added (not in design): when the variant was created.';
COMMENT ON COLUMN product_variants.updated_at IS 'Added (not in design): when the variant last changed.';
CREATE INDEX product_variants_product_idx ON product_variants (product_id, position, id);

-- ---------------------------------------------------------------------------
-- product_images (design)
-- ---------------------------------------------------------------------------
CREATE TABLE product_images (
  id uuid PRIMARY KEY,
  product_id uuid NOT NULL REFERENCES products (id) ON DELETE CASCADE,
  url text NOT NULL CHECK (url ~ '^https?://' AND length(url) <= 2048),
  type text NOT NULL DEFAULT 'gallery' CHECK (type IN ('primary', 'gallery', 'thumbnail', 'swatch')),
  position integer NOT NULL DEFAULT 0 CHECK (position >= 0),
  created_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE product_images IS 'Images of a product, ordered by position.';
COMMENT ON COLUMN product_images.id IS 'Image id (UUIDv7 made by the application).';
COMMENT ON COLUMN product_images.product_id IS 'Product the image belongs to.';
COMMENT ON COLUMN product_images.url IS 'Absolute http(s) URL of the image.';
COMMENT ON COLUMN product_images.type IS 'Role of the image: primary, gallery, thumbnail or swatch.';
COMMENT ON COLUMN product_images.position IS 'Display order of the image within its product, ascending.';
COMMENT ON COLUMN product_images.created_at IS 'Added (not in design): when the image was added.';
CREATE INDEX product_images_product_idx ON product_images (product_id, position, id);

-- ---------------------------------------------------------------------------
-- product_pricing (design): time-versioned prices, no overlapping windows
-- ---------------------------------------------------------------------------
CREATE TABLE product_pricing (
  id uuid PRIMARY KEY,
  product_id uuid NOT NULL,
  variant_id uuid NOT NULL,
  base_price bigint NOT NULL CHECK (base_price >= 0),
  discount bigint NOT NULL DEFAULT 0,
  currency char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
  effective_from timestamptz NOT NULL,
  effective_to timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  created_by uuid NOT NULL,
  CONSTRAINT product_pricing_discount_check CHECK (discount >= 0 AND discount <= base_price),
  CONSTRAINT product_pricing_window_check CHECK (effective_to IS NULL OR effective_from < effective_to),
  CONSTRAINT product_pricing_variant_fkey FOREIGN KEY (variant_id, product_id)
    REFERENCES product_variants (id, product_id) ON DELETE CASCADE,
  -- At any instant at most one price per variant and currency.
  CONSTRAINT product_pricing_no_overlap EXCLUDE USING gist (
    variant_id WITH =,
    currency WITH =,
    tstzrange(effective_from, coalesce(effective_to, 'infinity'::timestamptz), '[)') WITH &&
  )
);
COMMENT ON TABLE product_pricing IS 'Time-versioned prices per variant and currency: windows [effective_from, effective_to) never overlap, and history is never rewritten (only effective_to may be set to close a window).';
COMMENT ON COLUMN product_pricing.id IS 'Price window id (UUIDv7 made by the application).';
COMMENT ON COLUMN product_pricing.product_id IS 'Product of the variant (denormalised for per-product reads; must match the variant).';
COMMENT ON COLUMN product_pricing.variant_id IS 'Variant the price applies to.';
COMMENT ON COLUMN product_pricing.base_price IS 'Unit price before discount, in minor units of currency.';
COMMENT ON COLUMN product_pricing.discount IS 'Discount off base_price per unit, in minor units (0 <= discount <= base_price); the price paid is base_price - discount.';
COMMENT ON COLUMN product_pricing.currency IS 'ISO 4217 currency of base_price and discount.';
COMMENT ON COLUMN product_pricing.effective_from IS 'Start of the window (inclusive).';
COMMENT ON COLUMN product_pricing.effective_to IS 'End of the window (exclusive); NULL means open-ended until a later window closes it.';
COMMENT ON COLUMN product_pricing.created_at IS 'Added (not in design): when the window was recorded.';
COMMENT ON COLUMN product_pricing.created_by IS 'Added (not in design): user (seller or admin) who recorded the window.';
-- Price of a variant at an instant: WHERE variant_id = $1 AND currency = $2 AND effective_from <= $t ORDER BY effective_from DESC LIMIT 1.
CREATE INDEX product_pricing_variant_idx ON product_pricing (variant_id, currency, effective_from DESC);
-- Current prices of all variants of one product.
CREATE INDEX product_pricing_product_idx ON product_pricing (product_id, effective_from DESC);

-- A price window is history: it may only be closed (effective_to changed), never rewritten or deleted.
CREATE FUNCTION product_pricing_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    RAISE EXCEPTION 'product_pricing is history: DELETE refused' USING ERRCODE = 'BZ001';
  END IF;
  IF (to_jsonb(NEW) - 'effective_to') IS DISTINCT FROM (to_jsonb(OLD) - 'effective_to') THEN
    RAISE EXCEPTION 'product_pricing is history: only effective_to may change' USING ERRCODE = 'BZ001';
  END IF;
  RETURN NEW;
END;
$$;
COMMENT ON FUNCTION product_pricing_guard() IS 'Trigger function: a price window may only have its effective_to changed (to close it); other changes and deletes are refused.';
CREATE TRIGGER product_pricing_history_guard BEFORE UPDATE OR DELETE ON product_pricing
  FOR EACH ROW EXECUTE FUNCTION product_pricing_guard();

-- ---------------------------------------------------------------------------
-- product_attributes (design)
-- ---------------------------------------------------------------------------
CREATE TABLE product_attributes (
  id uuid PRIMARY KEY,
  product_id uuid NOT NULL REFERENCES products (id) ON DELETE CASCADE,
  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
  value text NOT NULL CHECK (length(value) BETWEEN 1 AND 1000),
  searchable boolean NOT NULL DEFAULT false,
  position integer NOT NULL DEFAULT 0 CHECK (position >= 0),
  created_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT product_attributes_product_name_value_key UNIQUE (product_id, name, value)
);
COMMENT ON TABLE product_attributes IS 'Descriptive name/value attributes of a product (e.g. material: cotton), denormalised for search and facets.';
COMMENT ON COLUMN product_attributes.id IS 'Attribute id (UUIDv7 made by the application).';
COMMENT ON COLUMN product_attributes.product_id IS 'Product the attribute describes.';
COMMENT ON COLUMN product_attributes.name IS 'Attribute name, e.g. material.';
COMMENT ON COLUMN product_attributes.value IS 'Attribute value, e.g. cotton; a name may carry several values.';
COMMENT ON COLUMN product_attributes.searchable IS 'Whether the attribute is indexed for full-text search and offered as a facet.';
COMMENT ON COLUMN product_attributes.position IS 'Added (not in design): display order of the attribute within its product.';
COMMENT ON COLUMN product_attributes.created_at IS 'Added (not in design): when the attribute was added.';
CREATE INDEX product_attributes_product_idx ON product_attributes (product_id, position, id);
CREATE INDEX product_attributes_facet_idx ON product_attributes (name, value) WHERE searchable;

-- ---------------------------------------------------------------------------
-- product_publications (design): append-only publishing history
-- ---------------------------------------------------------------------------
CREATE TABLE product_publications (
  id uuid PRIMARY KEY,
  product_id uuid NOT NULL REFERENCES products (id),
  status text NOT NULL CHECK (status IN ('published', 'unlisted')),
  published_at timestamptz,
  unlisted_at timestamptz,
  changed_by uuid NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT product_publications_times_check CHECK (
    (status = 'published' AND published_at IS NOT NULL AND unlisted_at IS NULL)
    OR (status = 'unlisted' AND unlisted_at IS NOT NULL)
  )
);
COMMENT ON TABLE product_publications IS 'Append-only history of marketplace publishing: one row per publish or unlist of a product.';
COMMENT ON COLUMN product_publications.id IS 'Publication change id (UUIDv7 made by the application).';
COMMENT ON COLUMN product_publications.product_id IS 'Product that was published or unlisted.';
COMMENT ON COLUMN product_publications.status IS 'Status the product entered: published or unlisted.';
COMMENT ON COLUMN product_publications.published_at IS 'When the product went live (set on a published row; may be carried on an unlisted row as the time it had been published).';
COMMENT ON COLUMN product_publications.unlisted_at IS 'When the product was hidden (set on an unlisted row, NULL on a published row).';
COMMENT ON COLUMN product_publications.changed_by IS 'Added (not in design): user (seller or admin) who made the change.';
COMMENT ON COLUMN product_publications.created_at IS 'Added (not in design): when the row was recorded.';
CREATE INDEX product_publications_product_idx ON product_publications (product_id, created_at DESC, id DESC);
CREATE TRIGGER product_publications_append_only BEFORE UPDATE OR DELETE ON product_publications
  FOR EACH ROW EXECUTE FUNCTION bazaar_refuse_change();
CREATE TRIGGER product_publications_append_only_truncate BEFORE TRUNCATE ON product_publications
  FOR EACH STATEMENT EXECUTE FUNCTION bazaar_refuse_change();
