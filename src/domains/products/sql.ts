import { type ProductStatus, SNAPSHOT_PRICES_MAX } from '../../contracts/products.ts';
import type { Queryable } from '../../platform/db/pool.ts';
import { AppError } from '../../platform/http/errors.ts';
import type { PriceWindowRow } from './pricing.ts';
import { CACHE_CHANNEL, STOCK_CHANGE_PREFIX, TREE_CHANGE_PAYLOAD } from './cache-listener.ts';

/** The products domain's SQL: every query parameterised, every list bounded. */

export const PRICE_HISTORY_MAX = 200;
export const CATEGORY_DEPTH_MAX = 10;

export interface CategoryRef {
  id: string;
  name: string;
  slug: string;
}

export interface VariantRecord {
  id: string;
  sku: string;
  attributes: Record<string, string>;
  listPrice: { amount: number; currency: string };
  position: number;
}

export interface ProductRecord {
  id: string;
  sellerId: string;
  sku: string;
  title: string;
  description: string;
  categoryId: string;
  categoryPath: CategoryRef[];
  status: ProductStatus;
  version: number;
  createdAt: Date;
  updatedAt: Date;
  variants: VariantRecord[];
  images: { url: string; type: 'primary' | 'gallery' | 'thumbnail' | 'swatch'; position: number }[];
  attributes: { name: string; value: string; searchable: boolean }[];
  /** Newest first; all windows (capped) or only the current and upcoming ones, as asked. */
  prices: PriceWindowRow[];
  availability: Map<string, { available: number; asOf: Date; maxPerBuyer: number | null }>;
}

interface ProductRow {
  id: string;
  seller_id: string;
  sku: string;
  title: string;
  description: string;
  category_id: string;
  status: ProductStatus;
  version: number;
  created_at: Date;
  updated_at: Date;
  category_path: CategoryRef[] | null;
  variants: { id: string; sku: string; attributes: Record<string, string>; price: number; currency: string; position: number }[];
  images: ProductRecord['images'];
  attributes: ProductRecord['attributes'];
  prices: { id: string; variantId: string; currency: string; basePrice: number; discount: number; effectiveFrom: string; effectiveTo: string | null }[];
  availability: { variantId: string; available: number; asOf: string; maxPerBuyer: number | null }[];
}

// One round trip for the whole aggregate: the hot read (a cache miss) costs one query.
const PRODUCT_DETAIL = `
SELECT p.id, p.seller_id, p.sku, p.title, p.description, p.category_id, p.status, p.version, p.created_at, p.updated_at,
  (WITH RECURSIVE path AS (
     SELECT c.id, c.parent_id, c.name, c.slug, 0 AS depth FROM categories c WHERE c.id = p.category_id
     UNION ALL
     SELECT c.id, c.parent_id, c.name, c.slug, path.depth + 1 FROM categories c JOIN path ON c.id = path.parent_id
      WHERE path.depth < ${CATEGORY_DEPTH_MAX - 1})
   SELECT json_agg(json_build_object('id', id, 'name', name, 'slug', slug) ORDER BY depth DESC) FROM path) AS category_path,
  (SELECT coalesce(json_agg(json_build_object('id', v.id, 'sku', v.sku, 'attributes', v.attributes_json, 'price', v.price,
                                              'currency', v.currency, 'position', v.position) ORDER BY v.position, v.id), '[]'::json)
     FROM product_variants v WHERE v.product_id = p.id) AS variants,
  (SELECT coalesce(json_agg(json_build_object('url', i.url, 'type', i.type, 'position', i.position) ORDER BY i.position, i.id), '[]'::json)
     FROM product_images i WHERE i.product_id = p.id) AS images,
  (SELECT coalesce(json_agg(json_build_object('name', a.name, 'value', a.value, 'searchable', a.searchable) ORDER BY a.position, a.id), '[]'::json)
     FROM product_attributes a WHERE a.product_id = p.id) AS attributes,
  (SELECT coalesce(json_agg(json_build_object('id', w.id, 'variantId', w.variant_id, 'currency', w.currency, 'basePrice', w.base_price,
                                              'discount', w.discount, 'effectiveFrom', w.effective_from, 'effectiveTo', w.effective_to)
                            ORDER BY w.effective_from DESC, w.id), '[]'::json)
     FROM (SELECT * FROM product_pricing pr
            WHERE pr.product_id = p.id AND pr.effective_from <= $2 AND (pr.effective_to IS NULL OR pr.effective_to > $2)
           UNION ALL
           (SELECT * FROM product_pricing pr
             WHERE pr.product_id = p.id AND pr.effective_from > $2
             ORDER BY pr.effective_from LIMIT ${SNAPSHOT_PRICES_MAX})
           UNION ALL
           (SELECT * FROM product_pricing pr
             WHERE $3::boolean AND pr.product_id = p.id AND pr.effective_to <= $2
             ORDER BY pr.effective_from DESC LIMIT ${PRICE_HISTORY_MAX})) w) AS prices,
  (SELECT coalesce(json_agg(json_build_object('variantId', va.variant_id, 'available', va.available, 'asOf', va.as_of, 'maxPerBuyer', va.max_per_buyer)), '[]'::json)
     FROM variant_availability va WHERE va.product_id = p.id) AS availability
FROM products p`;

const DETAIL_BY_ID = `${PRODUCT_DETAIL} WHERE p.id = $1`;
const DETAIL_OWN = `${PRODUCT_DETAIL} WHERE p.id = $1 AND p.seller_id = $4`;

function toRecord(row: ProductRow): ProductRecord {
  return {
    id: row.id,
    sellerId: row.seller_id,
    sku: row.sku,
    title: row.title,
    description: row.description,
    categoryId: row.category_id,
    categoryPath: row.category_path ?? [],
    status: row.status,
    version: row.version,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    variants: row.variants.map((v) => ({ id: v.id, sku: v.sku, attributes: v.attributes, listPrice: { amount: v.price, currency: v.currency }, position: v.position })),
    images: row.images,
    attributes: row.attributes,
    prices: row.prices.map((w) => ({
      id: w.id,
      variantId: w.variantId,
      currency: w.currency,
      basePrice: w.basePrice,
      discount: w.discount,
      effectiveFrom: new Date(w.effectiveFrom),
      effectiveTo: w.effectiveTo === null ? null : new Date(w.effectiveTo),
    })),
    availability: new Map(row.availability.map((a) => [a.variantId, { available: a.available, asOf: new Date(a.asOf), maxPerBuyer: a.maxPerBuyer }])),
  };
}

/**
 * The price windows read with a product: every window current at `at` (one per variant and
 * currency at most), every upcoming one (SNAPSHOT_PRICES_MAX live at most, which the writes hold), and
 * with `history` the last PRICE_HISTORY_MAX closed ones. The caps never drop a current price,
 * however long the history.
 */
export interface DetailOptions {
  at: Date;
  history: boolean;
  /** Only when the product belongs to this seller. */
  sellerId?: string;
}

export async function selectProduct(db: Queryable, productId: string, options: DetailOptions): Promise<ProductRecord | undefined> {
  // Named (prepared once per connection): planning this statement costs more than running it.
  const { rows } =
    options.sellerId === undefined
      ? await db.query<ProductRow>({ name: 'products.detail', text: DETAIL_BY_ID, values: [productId, options.at, options.history] })
      : await db.query<ProductRow>({ name: 'products.detail_own', text: DETAIL_OWN, values: [productId, options.at, options.history, options.sellerId] });
  const row = rows[0];
  return row ? toRecord(row) : undefined;
}

// ---------------------------------------------------------------------------
// Writes
// ---------------------------------------------------------------------------

export interface LockedProduct {
  id: string;
  sellerId: string;
  sku: string;
  status: ProductStatus;
  version: number;
}

/** Locks one of the seller's own products (the aggregate is the unit of change); undefined otherwise. */
export async function lockOwnProduct(db: Queryable, productId: string, sellerId: string): Promise<LockedProduct | undefined> {
  const { rows } = await db.query<{ id: string; seller_id: string; sku: string; status: ProductStatus; version: number }>(
    'SELECT id, seller_id, sku, status, version FROM products WHERE id = $1 AND seller_id = $2 FOR UPDATE',
    [productId, sellerId],
  );
  const r = rows[0];
  return r ? { id: r.id, sellerId: r.seller_id, sku: r.sku, status: r.status, version: r.version } : undefined;
}

export interface ProductInsert {
  id: string;
  sellerId: string;
  sku: string;
  title: string;
  description: string;
  categoryId: string;
  status: ProductStatus;
  version: number;
  createdAt: Date;
}

export async function insertProducts(db: Queryable, rows: readonly ProductInsert[]): Promise<void> {
  if (rows.length === 0) return;
  await db.query(
    `INSERT INTO products (id, seller_id, sku, title, description, category_id, status, version, created_at, updated_at)
     SELECT id, seller_id, sku, title, description, category_id, status, version, created_at, created_at
       FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::uuid[], $7::text[], $8::int[], $9::timestamptz[])
         AS t(id, seller_id, sku, title, description, category_id, status, version, created_at)`,
    [
      rows.map((r) => r.id),
      rows.map((r) => r.sellerId),
      rows.map((r) => r.sku),
      rows.map((r) => r.title),
      rows.map((r) => r.description),
      rows.map((r) => r.categoryId),
      rows.map((r) => r.status),
      rows.map((r) => r.version),
      rows.map((r) => r.createdAt),
    ],
  );
}

export interface VariantInsert {
  id: string;
  productId: string;
  sellerId: string;
  sku: string;
  attributes: Record<string, string>;
  price: number;
  currency: string;
  position: number;
  createdAt: Date;
}

export async function insertVariants(db: Queryable, rows: readonly VariantInsert[]): Promise<void> {
  if (rows.length === 0) return;
  await db.query(
    `INSERT INTO product_variants (id, product_id, seller_id, sku, attributes_json, price, currency, position, created_at, updated_at)
     SELECT id, product_id, seller_id, sku, attributes_json, price, currency, position, created_at, created_at
       FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::jsonb[], $6::bigint[], $7::text[], $8::int[], $9::timestamptz[])
         AS t(id, product_id, seller_id, sku, attributes_json, price, currency, position, created_at)`,
    [
      rows.map((r) => r.id),
      rows.map((r) => r.productId),
      rows.map((r) => r.sellerId),
      rows.map((r) => r.sku),
      rows.map((r) => JSON.stringify(r.attributes)),
      rows.map((r) => r.price),
      rows.map((r) => r.currency),
      rows.map((r) => r.position),
      rows.map((r) => r.createdAt),
    ],
  );
}

export interface ImageInsert {
  id: string;
  productId: string;
  url: string;
  type: string;
  position: number;
  createdAt: Date;
}

export async function insertImages(db: Queryable, rows: readonly ImageInsert[]): Promise<void> {
  if (rows.length === 0) return;
  await db.query(
    `INSERT INTO product_images (id, product_id, url, type, position, created_at)
     SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::int[], $6::timestamptz[])`,
    [rows.map((r) => r.id), rows.map((r) => r.productId), rows.map((r) => r.url), rows.map((r) => r.type), rows.map((r) => r.position), rows.map((r) => r.createdAt)],
  );
}

export interface AttributeInsert {
  id: string;
  productId: string;
  name: string;
  value: string;
  searchable: boolean;
  position: number;
  createdAt: Date;
}

export async function insertAttributes(db: Queryable, rows: readonly AttributeInsert[]): Promise<void> {
  if (rows.length === 0) return;
  await db.query(
    `INSERT INTO product_attributes (id, product_id, name, value, searchable, position, created_at)
     SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::boolean[], $6::int[], $7::timestamptz[])`,
    [
      rows.map((r) => r.id),
      rows.map((r) => r.productId),
      rows.map((r) => r.name),
      rows.map((r) => r.value),
      rows.map((r) => r.searchable),
      rows.map((r) => r.position),
      rows.map((r) => r.createdAt),
    ],
  );
}

export interface PriceInsert extends PriceWindowRow {
  productId: string;
  createdBy: string;
  createdAt: Date;
  /** The window whose start closed this one (withdrawing that window lets this one run on); none when it ends as written. */
  closedByPriceId?: string | null;
}

/**
 * Refuses a product's windows past SNAPSHOT_PRICES_MAX in effect or ahead of `now` (all its
 * variants and currencies; its row locked by the caller): events carry them all, so one more is
 * refused rather than dropped from them (search then lost the price once a window that a dropped one
 * followed ended).
 */
export async function mustKeepLiveWindowsBounded(db: Queryable, productId: string, now: Date): Promise<void> {
  const { rows } = await db.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM (SELECT 1 FROM product_pricing WHERE product_id = $1 AND (effective_to IS NULL OR effective_to > $2) LIMIT ${SNAPSHOT_PRICES_MAX + 1}) AS w`,
    [productId, now],
  );
  if ((rows[0]?.n ?? 0) > SNAPSHOT_PRICES_MAX) {
    throw new AppError(
      'CONFLICT',
      `a product has at most ${SNAPSHOT_PRICES_MAX} price windows in effect or scheduled (all its variants and currencies): withdraw a scheduled one, or add this once some have ended`,
    );
  }
}

export async function insertPrices(db: Queryable, rows: readonly PriceInsert[]): Promise<void> {
  if (rows.length === 0) return;
  await db.query(
    `INSERT INTO product_pricing (id, product_id, variant_id, base_price, discount, currency, effective_from, effective_to, created_at, created_by, closed_by_price_id)
     SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::bigint[], $5::bigint[], $6::text[], $7::timestamptz[], $8::timestamptz[],
                          $9::timestamptz[], $10::uuid[], $11::uuid[])`,
    [
      rows.map((r) => r.id),
      rows.map((r) => r.productId),
      rows.map((r) => r.variantId),
      rows.map((r) => r.basePrice),
      rows.map((r) => r.discount),
      rows.map((r) => r.currency),
      rows.map((r) => r.effectiveFrom),
      rows.map((r) => r.effectiveTo),
      rows.map((r) => r.createdAt),
      rows.map((r) => r.createdBy),
      rows.map((r) => r.closedByPriceId ?? null),
    ],
  );
}

export interface PublicationInsert {
  id: string;
  productId: string;
  status: 'published' | 'unlisted';
  publishedAt: Date | null;
  unlistedAt: Date | null;
  changedBy: string;
  createdAt: Date;
}

export async function insertPublications(db: Queryable, rows: readonly PublicationInsert[]): Promise<void> {
  if (rows.length === 0) return;
  await db.query(
    `INSERT INTO product_publications (id, product_id, status, published_at, unlisted_at, changed_by, created_at)
     SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::timestamptz[], $5::timestamptz[], $6::uuid[], $7::timestamptz[])`,
    [
      rows.map((r) => r.id),
      rows.map((r) => r.productId),
      rows.map((r) => r.status),
      rows.map((r) => r.publishedAt),
      rows.map((r) => r.unlistedAt),
      rows.map((r) => r.changedBy),
      rows.map((r) => r.createdAt),
    ],
  );
}

/** When the product last went live (carried on an unlisted publication row). */
export async function selectLastPublishedAt(db: Queryable, productId: string): Promise<Date | null> {
  const { rows } = await db.query<{ published_at: Date | null }>(
    `SELECT published_at FROM product_publications WHERE product_id = $1 AND status = 'published'
      ORDER BY created_at DESC, id DESC LIMIT 1`,
    [productId],
  );
  return rows[0]?.published_at ?? null;
}

export interface ProductChanges {
  sku?: string;
  title?: string;
  description?: string;
  categoryId?: string;
  status?: ProductStatus;
}

/** Applies column changes and moves the version on by one; every change of the aggregate goes through here. */
export async function updateProductRow(db: Queryable, productId: string, changes: ProductChanges, now: Date): Promise<number> {
  const { rows } = await db.query<{ version: number }>(
    `UPDATE products
        SET sku = coalesce($2, sku), title = coalesce($3, title), description = coalesce($4, description),
            category_id = coalesce($5, category_id), status = coalesce($6, status),
            version = version + 1, updated_at = $7
      WHERE id = $1
      RETURNING version`,
    [productId, changes.sku ?? null, changes.title ?? null, changes.description ?? null, changes.categoryId ?? null, changes.status ?? null, now],
  );
  const version = rows[0]?.version;
  if (version === undefined) throw new Error(`product ${productId} vanished while locked`);
  return version;
}

export async function deleteImages(db: Queryable, productId: string): Promise<void> {
  await db.query('DELETE FROM product_images WHERE product_id = $1', [productId]);
}

export async function deleteAttributes(db: Queryable, productId: string): Promise<void> {
  await db.query('DELETE FROM product_attributes WHERE product_id = $1', [productId]);
}

export async function updateVariant(db: Queryable, productId: string, variantId: string, changes: { sku?: string; attributes?: Record<string, string> }, now: Date): Promise<boolean> {
  const result = await db.query(
    `UPDATE product_variants SET sku = coalesce($3, sku), attributes_json = coalesce($4::jsonb, attributes_json), updated_at = $5
      WHERE id = $2 AND product_id = $1`,
    [productId, variantId, changes.sku ?? null, changes.attributes === undefined ? null : JSON.stringify(changes.attributes), now],
  );
  return (result.rowCount ?? 0) === 1;
}

export async function selectVariantOf(db: Queryable, productId: string, variantId: string): Promise<{ id: string; sku: string } | undefined> {
  const { rows } = await db.query<{ id: string; sku: string }>('SELECT id, sku FROM product_variants WHERE id = $1 AND product_id = $2', [variantId, productId]);
  return rows[0];
}

export async function countVariants(db: Queryable, productId: string): Promise<number> {
  const { rows } = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM product_variants WHERE product_id = $1', [productId]);
  return rows[0]?.n ?? 0;
}

/** A product_pricing row as read. */
interface WindowDbRow {
  id: string;
  variant_id: string;
  currency: string;
  base_price: number;
  discount: number;
  effective_from: Date;
  effective_to: Date | null;
}

const WINDOW_COLUMNS = 'pr.id, pr.variant_id, pr.currency, pr.base_price, pr.discount, pr.effective_from, pr.effective_to';

function toWindowRow(r: WindowDbRow): PriceWindowRow {
  return {
    id: r.id,
    variantId: r.variant_id,
    currency: r.currency.trim(),
    basePrice: r.base_price,
    discount: r.discount,
    effectiveFrom: r.effective_from,
    effectiveTo: r.effective_to,
  };
}

/** The windows of one variant and currency that have not ended by `at`, locked against a concurrent change. */
export async function selectLiveWindowsForUpdate(db: Queryable, variantId: string, currency: string, at: Date): Promise<PriceWindowRow[]> {
  const { rows } = await db.query<WindowDbRow>(
    `SELECT ${WINDOW_COLUMNS} FROM product_pricing pr
      WHERE pr.variant_id = $1 AND pr.currency = $2 AND (pr.effective_to IS NULL OR pr.effective_to > $3)
      ORDER BY pr.effective_from
      FOR UPDATE`,
    [variantId, currency, at],
  );
  return rows.map(toWindowRow);
}

/** Closes an open window at the start of `closedBy`; the history trigger allows exactly this change. */
export async function closeWindow(db: Queryable, windowId: string, at: Date, closedBy: string): Promise<void> {
  await db.query('UPDATE product_pricing SET effective_to = $2, closed_by_price_id = $3 WHERE id = $1 AND effective_to IS NULL', [windowId, at, closedBy]);
}

/** A window of this product, locked, with its variant's SKU. */
export async function selectWindowForUpdate(db: Queryable, productId: string, priceId: string): Promise<(PriceWindowRow & { sku: string; createdAt: Date; createdBy: string }) | undefined> {
  const { rows } = await db.query<WindowDbRow & { sku: string; created_at: Date; created_by: string }>(
    `SELECT ${WINDOW_COLUMNS}, v.sku, pr.created_at, pr.created_by
       FROM product_pricing pr JOIN product_variants v ON v.id = pr.variant_id
      WHERE pr.id = $1 AND pr.product_id = $2
      FOR UPDATE OF pr`,
    [priceId, productId],
  );
  const r = rows[0];
  return r ? { ...toWindowRow(r), sku: r.sku, createdAt: r.created_at, createdBy: r.created_by } : undefined;
}

/**
 * Withdraws a window that has not started, in three statements and in this order (each must see
 * the one before, which statements of one CTE could not): records it in product_price_withdrawals
 * (the history guard lets the DELETE through only then), deletes it, and then lets the window that
 * ended where it started, if any, run on to where it ended. Returns that window's id, or null.
 */
export async function withdrawWindow(
  db: Queryable,
  w: PriceWindowRow & { productId: string; createdAt: Date; createdBy: string },
  withdrawnAt: Date,
  withdrawnBy: string,
): Promise<string | null> {
  const { rows } = await db.query<{ extended: string | null }>(
    // Only the window this one closed runs on: a window the seller ended where this one begins
    // (a bounded sale before an open price) keeps its end.
    `WITH before AS (
       SELECT id FROM product_pricing
        WHERE variant_id = $3 AND currency = $6 AND effective_to = $7 AND closed_by_price_id = $1
        FOR UPDATE
     ), recorded AS (
       INSERT INTO product_price_withdrawals (price_id, product_id, variant_id, base_price, discount, currency, effective_from, effective_to,
                                              created_at, created_by, withdrawn_at, withdrawn_by, extended_price_id)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, (SELECT id FROM before))
       RETURNING extended_price_id
     )
     SELECT extended_price_id AS extended FROM recorded`,
    [w.id, w.productId, w.variantId, w.basePrice, w.discount, w.currency, w.effectiveFrom, w.effectiveTo, w.createdAt, w.createdBy, withdrawnAt, withdrawnBy],
  );
  const extended = rows[0]?.extended ?? null;
  // In order: the window goes first, or the one that runs on would overlap it. The window that ran
  // on is closed by whatever closed the withdrawn one, if anything did.
  const { rows: closers } = await db.query<{ closed_by_price_id: string | null }>('SELECT closed_by_price_id FROM product_pricing WHERE id = $1', [w.id]);
  await db.query('DELETE FROM product_pricing WHERE id = $1', [w.id]);
  if (extended) {
    await db.query('UPDATE product_pricing SET effective_to = $2, closed_by_price_id = $3 WHERE id = $1', [extended, w.effectiveTo, closers[0]?.closed_by_price_id ?? null]);
  }
  return extended;
}

/** Seller of each product asked (any status), by lowercase id. */
export async function selectProductSellers(db: Queryable, productIds: readonly string[]): Promise<Map<string, string>> {
  if (productIds.length === 0) return new Map();
  if (productIds.length > 200) throw new RangeError('at most 200 product ids at once');
  const { rows } = await db.query<{ id: string; seller_id: string }>('SELECT id, seller_id FROM products WHERE id = ANY($1::uuid[])', [[...productIds]]);
  return new Map(rows.map((r) => [r.id, r.seller_id]));
}

export async function hasCurrentPrice(db: Queryable, productId: string, at: Date): Promise<boolean> {
  const { rows } = await db.query(
    `SELECT 1 FROM product_pricing WHERE product_id = $1 AND effective_from <= $2 AND (effective_to IS NULL OR effective_to > $2) LIMIT 1`,
    [productId, at],
  );
  return rows.length > 0;
}

export async function categoryExists(db: Queryable, categoryId: string): Promise<boolean> {
  const { rows } = await db.query('SELECT 1 FROM categories WHERE id = $1', [categoryId]);
  return rows.length > 0;
}

// ---------------------------------------------------------------------------
// Lists
// ---------------------------------------------------------------------------

export interface ListCursor {
  createdAt: string;
  id: string;
}

export interface PublicListRow {
  id: string;
  seller_id: string;
  sku: string;
  title: string;
  category_id: string;
  created_at: Date;
  image_url: string | null;
  price_amount: number | null;
  price_currency: string | null;
}

/**
 * Published products, newest first, optionally under a category (its descendants included).
 * Under a category, each category of the subtree is read from its own index range for at most one
 * page, and the pages are merged: the work is bounded by (categories × limit) rows whatever the
 * catalog's size, instead of walking all published products in date order looking for a rare one.
 */
export async function selectPublishedPage(
  db: Queryable,
  query: { categoryId: string | undefined; after: ListCursor | undefined; limit: number; now: Date },
): Promise<PublicListRow[]> {
  const page =
    query.categoryId === undefined
      ? `SELECT p.id, p.seller_id, p.sku, p.title, p.category_id, p.created_at
           FROM products p
          WHERE p.status = 'published' AND $1::uuid IS NULL
            AND ($2::timestamptz IS NULL OR (p.created_at, p.id) < ($2::timestamptz, $3::uuid))
          ORDER BY p.created_at DESC, p.id DESC
          LIMIT $5`
      : `WITH RECURSIVE tree AS (
           SELECT id, 0 AS depth FROM categories WHERE id = $1
           UNION ALL
           SELECT c.id, tree.depth + 1 FROM categories c JOIN tree ON c.parent_id = tree.id WHERE tree.depth < ${CATEGORY_DEPTH_MAX - 1}
         )
         SELECT p.* FROM tree CROSS JOIN LATERAL (
           SELECT p.id, p.seller_id, p.sku, p.title, p.category_id, p.created_at
             FROM products p
            WHERE p.category_id = tree.id AND p.status = 'published'
              AND ($2::timestamptz IS NULL OR (p.created_at, p.id) < ($2::timestamptz, $3::uuid))
            ORDER BY p.created_at DESC, p.id DESC
            LIMIT $5) p
          ORDER BY p.created_at DESC, p.id DESC
          LIMIT $5`;
  const { rows } = await db.query<PublicListRow>({
    name: query.categoryId === undefined ? 'products.page_all' : 'products.page_category',
    text: `WITH page AS (${page})
     SELECT page.*,
            (SELECT i.url FROM product_images i WHERE i.product_id = page.id ORDER BY i.position, i.id LIMIT 1) AS image_url,
            cp.amount AS price_amount, cp.currency AS price_currency
       FROM page
       LEFT JOIN LATERAL (
         -- The lowest price in effect in the product's currency (its first variant's list currency,
         -- as search has it); prices of different currencies do not compare, so a JPY window of 3000
         -- is not "from" below a USD one of 5000. Only when none is in effect in it: the lowest in a
         -- variant's own list currency, then in any other.
         SELECT pr.base_price - pr.discount AS amount, pr.currency
           FROM product_pricing pr JOIN product_variants v ON v.id = pr.variant_id
          WHERE pr.product_id = page.id AND pr.effective_from <= $4 AND (pr.effective_to IS NULL OR pr.effective_to > $4)
          ORDER BY pr.currency <> (SELECT f.currency FROM product_variants f WHERE f.product_id = page.id ORDER BY f.position, f.id LIMIT 1),
                   pr.currency <> v.currency, pr.base_price - pr.discount, pr.currency
          LIMIT 1) cp ON true
      ORDER BY page.created_at DESC, page.id DESC`,
    values: [query.categoryId ?? null, query.after?.createdAt ?? null, query.after?.id ?? null, query.now, query.limit],
  });
  return rows.map((r) => ({ ...r, price_currency: r.price_currency?.trim() ?? null }));
}

export interface SellerListRow {
  id: string;
  sku: string;
  title: string;
  category_id: string;
  status: ProductStatus;
  version: number;
  created_at: Date;
  updated_at: Date;
}

export async function selectSellerPage(
  db: Queryable,
  query: { sellerId: string; status: ProductStatus | undefined; after: ListCursor | undefined; limit: number },
): Promise<SellerListRow[]> {
  const { rows } = await db.query<SellerListRow>(
    `SELECT id, sku, title, category_id, status, version, created_at, updated_at
       FROM products
      WHERE seller_id = $1
        AND ($2::text IS NULL OR status = $2)
        AND ($3::timestamptz IS NULL OR (created_at, id) < ($3::timestamptz, $4::uuid))
      ORDER BY created_at DESC, id DESC
      LIMIT $5`,
    [query.sellerId, query.status ?? null, query.after?.createdAt ?? null, query.after?.id ?? null, query.limit],
  );
  return rows;
}

export interface CategoryRow {
  id: string;
  parent_id: string | null;
  name: string;
  slug: string;
  position: number;
}

export const CATEGORIES_MAX = 5000;

/**
 * The categories named and all their ancestors, whatever the tree's size (selectCategories reads at
 * most CATEGORIES_MAX, which a bulk import may pass: found by a review, a category sorted past them
 * had no path). Bounded by the tree's depth.
 */
export async function selectCategoriesWithAncestors(db: Queryable, ids: readonly string[]): Promise<CategoryRow[]> {
  if (ids.length === 0) return [];
  const { rows } = await db.query<CategoryRow>(
    `WITH RECURSIVE up AS (
       SELECT id, parent_id, name, slug, position, 1 AS depth FROM categories WHERE id = ANY($1::uuid[])
       UNION
       SELECT c.id, c.parent_id, c.name, c.slug, c.position, up.depth + 1 FROM categories c JOIN up ON c.id = up.parent_id WHERE up.depth < ${CATEGORY_DEPTH_MAX}
     )
     SELECT DISTINCT id, parent_id, name, slug, position FROM up`,
    [ids],
  );
  return rows;
}

export async function selectCategories(db: Queryable): Promise<CategoryRow[]> {
  const { rows } = await db.query<CategoryRow>(`SELECT id, parent_id, name, slug, position FROM categories ORDER BY position, name, id LIMIT ${CATEGORIES_MAX}`);
  return rows;
}

export async function insertCategories(db: Queryable, rows: readonly CategoryRow[], createdAt: Date): Promise<void> {
  if (rows.length === 0) return;
  await db.query(
    `INSERT INTO categories (id, parent_id, name, slug, position, created_at)
     SELECT c.*, $6 FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::int[]) AS c`,
    [rows.map((r) => r.id), rows.map((r) => r.parent_id), rows.map((r) => r.name), rows.map((r) => r.slug), rows.map((r) => r.position), createdAt],
  );
}

// ---------------------------------------------------------------------------
// Category tree writes (admin)
// ---------------------------------------------------------------------------

export interface CategoryRecord extends CategoryRow {
  created_at: Date;
}

/**
 * Serialises the writers of the tree until commit, so that a check for a cycle, the depth or a
 * slug still holds when the change commits (two concurrent moves could otherwise each pass and
 * together make a cycle). SHARE ROW EXCLUSIVE conflicts with itself and with INSERT/UPDATE, not
 * with reads nor with the row locks of the products' foreign key checks: selling goes on.
 */
export async function lockCategoryTree(db: Queryable): Promise<void> {
  await db.query('LOCK TABLE categories IN SHARE ROW EXCLUSIVE MODE');
}

/**
 * Taken first by a write that announces products with their category paths: it waits for a tree
 * writer (lockCategoryTree) in progress, and holds the next one off until this transaction ends,
 * without holding off other product writers (ROW EXCLUSIVE does not conflict with itself). So the
 * paths read are the ones current at commit, and a move committed later is announced after this
 * transaction's events: a consumer applying events in order never ends with an older path. Before
 * any statement of the transaction, so that no lock of a category row (a foreign key's check) is
 * held while waiting for it.
 */
export async function holdCategoryTree(db: Queryable): Promise<void> {
  await db.query('LOCK TABLE categories IN ROW EXCLUSIVE MODE');
}

export async function selectCategory(db: Queryable, categoryId: string): Promise<CategoryRecord | undefined> {
  const { rows } = await db.query<CategoryRecord>('SELECT id, parent_id, name, slug, position, created_at FROM categories WHERE id = $1', [categoryId]);
  return rows[0];
}

/**
 * From the root down to the category itself; empty for an unknown id. Read at most one level past
 * CATEGORY_DEPTH_MAX, so a tree already too deep (or a cycle an import made) shows as too long.
 */
export async function selectCategoryPath(db: Queryable, categoryId: string): Promise<CategoryRef[]> {
  const { rows } = await db.query<CategoryRef>(
    `WITH RECURSIVE path AS (
       SELECT id, parent_id, name, slug, 0 AS depth FROM categories WHERE id = $1
       UNION ALL
       SELECT c.id, c.parent_id, c.name, c.slug, path.depth + 1 FROM categories c JOIN path ON c.id = path.parent_id
        WHERE path.depth < ${CATEGORY_DEPTH_MAX})
     SELECT id, name, slug FROM path ORDER BY depth DESC`,
    [categoryId],
  );
  return rows;
}

/** Levels of the subtree under a category, itself included (1 for a leaf); read to one level past CATEGORY_DEPTH_MAX. */
export async function selectSubtreeHeight(db: Queryable, categoryId: string): Promise<number> {
  const { rows } = await db.query<{ height: number }>(
    `WITH RECURSIVE sub AS (
       SELECT id, 1 AS level FROM categories WHERE id = $1
       UNION ALL
       SELECT c.id, sub.level + 1 FROM categories c JOIN sub ON c.parent_id = sub.id WHERE sub.level <= ${CATEGORY_DEPTH_MAX})
     SELECT coalesce(max(level), 0)::int AS height FROM sub`,
    [categoryId],
  );
  return rows[0]?.height ?? 0;
}

export async function countCategories(db: Queryable): Promise<number> {
  const { rows } = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM categories');
  return rows[0]?.n ?? 0;
}

/** The other category that has this slug, if any. */
export async function selectCategoryIdBySlug(db: Queryable, slug: string): Promise<string | undefined> {
  const { rows } = await db.query<{ id: string }>('SELECT id FROM categories WHERE slug = $1', [slug]);
  return rows[0]?.id;
}

/** After the last sibling: one more than the highest position under the parent (0 for the first). */
export async function selectNextPosition(db: Queryable, parentId: string | null): Promise<number> {
  const { rows } =
    parentId === null
      ? await db.query<{ position: number }>('SELECT coalesce(max(position) + 1, 0)::int AS position FROM categories WHERE parent_id IS NULL')
      : await db.query<{ position: number }>('SELECT coalesce(max(position) + 1, 0)::int AS position FROM categories WHERE parent_id = $1', [parentId]);
  return rows[0]?.position ?? 0;
}

export async function insertCategory(db: Queryable, row: CategoryRecord): Promise<void> {
  await db.query('INSERT INTO categories (id, parent_id, name, slug, position, created_at) VALUES ($1, $2, $3, $4, $5, $6)', [
    row.id,
    row.parent_id,
    row.name,
    row.slug,
    row.position,
    row.created_at,
  ]);
}

export async function updateCategoryRow(db: Queryable, row: CategoryRow): Promise<void> {
  await db.query('UPDATE categories SET parent_id = $2, name = $3, slug = $4, position = $5 WHERE id = $1', [row.id, row.parent_id, row.name, row.slug, row.position]);
}

/**
 * Tells every process's catalog caches, at commit, that the tree changed: 'tree' for the category
 * tree alone (a new category, a new order), '*' when what products show changed too (a category's
 * name, slug or place is in every product page and purchase snapshot under it).
 */
export async function notifyCategoriesChanged(db: Queryable, scope: 'tree' | '*'): Promise<void> {
  await db.query(`SELECT pg_notify('${CACHE_CHANNEL}', $1)`, [scope === 'tree' ? TREE_CHANGE_PAYLOAD : '*']);
}

// ---------------------------------------------------------------------------
// Purchase reads and availability
// ---------------------------------------------------------------------------

export interface PurchaseRow {
  variant_id: string;
  variant_sku: string;
  attributes: Record<string, string>;
  list_price: number;
  list_currency: string;
  product_id: string;
  seller_id: string;
  product_sku: string;
  title: string;
  category_id: string;
  category_path: string[];
  status: ProductStatus;
  version: number;
  image_url: string | null;
  /** The windows in effect at the instant asked or later (current and upcoming). */
  prices: { id: string; currency: string; basePrice: number; discount: number; effectiveFrom: string; effectiveTo: string | null }[];
}

export async function selectVariantsForPurchase(db: Queryable, variantIds: readonly string[], at: Date): Promise<PurchaseRow[]> {
  const { rows } = await db.query<PurchaseRow>({
    name: 'products.purchase',
    text: `SELECT v.id AS variant_id, v.sku AS variant_sku, v.attributes_json AS attributes, v.price AS list_price, v.currency AS list_currency,
            p.id AS product_id, p.seller_id, p.sku AS product_sku, p.title, p.category_id, p.status, p.version,
            (WITH RECURSIVE path AS (
               SELECT c.id, c.parent_id, 0 AS depth FROM categories c WHERE c.id = p.category_id
               UNION ALL
               SELECT c.id, c.parent_id, path.depth + 1 FROM categories c JOIN path ON c.id = path.parent_id
                WHERE path.depth < ${CATEGORY_DEPTH_MAX - 1})
             SELECT array_agg(id ORDER BY depth DESC) FROM path) AS category_path,
            (SELECT i.url FROM product_images i WHERE i.product_id = p.id ORDER BY i.position, i.id LIMIT 1) AS image_url,
            (SELECT coalesce(json_agg(json_build_object('id', pr.id, 'currency', pr.currency, 'basePrice', pr.base_price, 'discount', pr.discount,
                                                        'effectiveFrom', pr.effective_from, 'effectiveTo', pr.effective_to)), '[]'::json)
               FROM product_pricing pr
              WHERE pr.variant_id = v.id AND (pr.effective_to IS NULL OR pr.effective_to > $2)) AS prices
       FROM product_variants v JOIN products p ON p.id = v.product_id
      WHERE v.id = ANY($1::uuid[])`,
    values: [variantIds, at],
  });
  return rows.map((r) => ({ ...r, list_currency: r.list_currency.trim(), prices: r.prices.map((w) => ({ ...w, currency: w.currency.trim() })) }));
}

export interface StockLevelRow {
  variantId: string;
  stockItemId: string;
  available: number;
  version: number;
  /** When inventory reported this level (its event's time). */
  asOf: Date;
}

/** More changed products than this in one notification: listeners drop their whole cache. */
const NOTIFY_PRODUCTS_MAX = 100;

/**
 * Stores the newest known level of each variant (an older version never overwrites a newer one) and
 * tells every process's product cache which products changed (NOTIFY products_cache with the
 * stock-change prefix, delivered at commit), in one statement. At most one level per variant (see newestLevels).
 */
export async function upsertAvailability(db: Queryable, levels: readonly StockLevelRow[], now: Date): Promise<void> {
  if (levels.length === 0) return;
  await db.query(
    `WITH up AS (
       INSERT INTO variant_availability (variant_id, product_id, stock_item_id, available, stock_version, as_of, updated_at)
       SELECT l.variant_id, v.product_id, l.stock_item_id, l.available, l.version, l.as_of, $6
         FROM unnest($1::uuid[], $2::uuid[], $3::int[], $4::bigint[], $5::timestamptz[]) AS l(variant_id, stock_item_id, available, version, as_of)
         JOIN product_variants v ON v.id = l.variant_id
       ON CONFLICT (variant_id) DO UPDATE
          SET available = EXCLUDED.available, stock_version = EXCLUDED.stock_version, stock_item_id = EXCLUDED.stock_item_id,
              as_of = EXCLUDED.as_of, updated_at = EXCLUDED.updated_at
        WHERE variant_availability.stock_version < EXCLUDED.stock_version
       RETURNING product_id),
     changed AS (SELECT DISTINCT product_id::text AS id FROM up)
     SELECT pg_notify('${CACHE_CHANNEL}', '${STOCK_CHANGE_PREFIX}' || CASE WHEN count(*) > ${NOTIFY_PRODUCTS_MAX} THEN '*' ELSE string_agg(id, ',') END)
       FROM changed HAVING count(*) > 0`,
    [
      levels.map((l) => l.variantId),
      levels.map((l) => l.stockItemId),
      levels.map((l) => Math.max(0, l.available)),
      levels.map((l) => l.version),
      levels.map((l) => l.asOf),
      now,
    ],
  );
}

export interface PurchaseLimitRow {
  variantId: string;
  maxPerBuyer: number | null;
}

/** Sets the variants' limits per buyer (their availability rows exist since their stock items were made) and tells the product caches. */
export async function setPurchaseLimits(db: Queryable, limits: readonly PurchaseLimitRow[], now: Date): Promise<void> {
  if (limits.length === 0) return;
  await db.query(
    `WITH up AS (
       UPDATE variant_availability va SET max_per_buyer = l.max_per_buyer, updated_at = $3
         FROM unnest($1::uuid[], $2::int[]) AS l(variant_id, max_per_buyer)
        WHERE va.variant_id = l.variant_id AND va.max_per_buyer IS DISTINCT FROM l.max_per_buyer
       RETURNING va.product_id),
     changed AS (SELECT DISTINCT product_id::text AS id FROM up)
     SELECT pg_notify('${CACHE_CHANNEL}', '${STOCK_CHANGE_PREFIX}' || CASE WHEN count(*) > ${NOTIFY_PRODUCTS_MAX} THEN '*' ELSE string_agg(id, ',') END)
       FROM changed HAVING count(*) > 0`,
    [limits.map((l) => l.variantId), limits.map((l) => l.maxPerBuyer), now],
  );
}

export async function setStockUnit(db: Queryable, variantId: string, stockItemId: string): Promise<void> {
  await db.query('UPDATE product_variants SET stock_unit_id = $2 WHERE id = $1 AND stock_unit_id IS DISTINCT FROM $2', [variantId, stockItemId]);
}

export async function notifyProductsChanged(db: Queryable, productIds: readonly string[]): Promise<void> {
  if (productIds.length === 0) return;
  await db.query(`SELECT pg_notify('${CACHE_CHANNEL}', $1)`, [productIds.length > NOTIFY_PRODUCTS_MAX ? '*' : [...new Set(productIds)].join(',')]);
}

/** Fresh planner statistics after a bulk import, so the first reads get index plans. */
export async function analyzeCatalog(db: Queryable): Promise<void> {
  await db.query('ANALYZE categories, products, product_variants, product_images, product_attributes, product_pricing, product_publications');
}

export async function countCatalog(db: Queryable): Promise<{ products: number; categories: number }> {
  const { rows } = await db.query<{ products: number; categories: number }>(
    'SELECT (SELECT count(*)::int FROM products) AS products, (SELECT count(*)::int FROM categories) AS categories',
  );
  return rows[0] ?? { products: 0, categories: 0 };
}
