import { createHash } from 'node:crypto';
import { decodeCursor, encodeCursor, isCursorInstant } from '../../platform/http/cursor.ts';
import { AppError } from '../../platform/http/errors.ts';
import type { SearchDeps } from './deps.ts';

export const SEARCH_SORTS = ['relevance', 'price_asc', 'price_desc', 'newest'] as const;
export type SearchSort = (typeof SEARCH_SORTS)[number];

/** Lower bounds of the price bands of the price facet, in minor units (the last band is open). */
export const PRICE_BANDS = [0, 1000, 2500, 5000, 10000, 25000, 50000, 100000] as const;
/** Attribute values counted by the attribute facet, most frequent first. */
export const ATTRIBUTE_FACETS_MAX = 100;

export interface SearchQuery {
  q?: string;
  category?: string;
  seller?: string;
  currency?: string;
  minPrice?: number;
  maxPrice?: number;
  inStock?: boolean;
  attr?: string[];
  sort?: SearchSort;
  facets?: boolean;
  cursor?: string;
  limit: number;
}

interface Row {
  product_id: string;
  seller_id: string;
  title: string;
  description: string;
  category_id: string;
  category_ids: string[];
  attributes_json: Record<string, string[]>;
  min_price: string | null;
  max_price: string | null;
  currency: string | null;
  in_stock: boolean;
  image_url: string | null;
  published_at: Date;
  rank: string | null;
}

export interface SearchHit {
  productId: string;
  sellerId: string;
  title: string;
  description: string;
  categoryId: string;
  categoryIds: string[];
  price: { min: { amount: number; currency: string }; max: { amount: number; currency: string } } | null;
  inStock: boolean;
  imageUrl: string | null;
  attributes: Record<string, string[]>;
  publishedAt: string;
  /** Relevance score (higher is better) when sorted by relevance; null otherwise. */
  score: number | null;
}

export interface Facets {
  categories: { categoryId: string; count: number }[];
  prices: { currency: string | null; min: number | null; max: number | null; count: number }[];
  stock: { inStock: number; outOfStock: number };
  attributes: { name: string; value: string; count: number }[];
}

export interface SearchResult {
  items: SearchHit[];
  nextCursor: string | null;
  total: number | null;
  facets: Facets | null;
}

const fail = (detail: string) => new AppError('VALIDATION_FAILED', detail);

/** The sort a query gets, after checking it can have it. */
export function sortOf(query: SearchQuery): SearchSort {
  const sort = query.sort ?? (query.q ? 'relevance' : 'newest');
  if (sort === 'relevance' && !query.q) throw fail('sort=relevance needs a text query q');
  if ((sort === 'price_asc' || sort === 'price_desc') && !query.currency) throw fail(`sort=${sort} needs currency: prices of different currencies do not compare`);
  if ((query.minPrice !== undefined || query.maxPrice !== undefined) && !query.currency) throw fail('minPrice and maxPrice need currency');
  if (query.minPrice !== undefined && query.maxPrice !== undefined && query.minPrice > query.maxPrice) throw fail('minPrice must not be above maxPrice');
  return sort;
}

/** `name:value` filters as one JSON containment object: every pair must hold. */
export function attributeFilter(pairs: readonly string[]): Record<string, string[]> {
  // A Map, not an object: a seller may name an attribute constructor or __proto__, which an object
  // literal answers from its prototype.
  const filter = new Map<string, string[]>();
  for (const pair of pairs) {
    const at = pair.indexOf(':');
    const name = pair.slice(0, at).trim();
    const value = pair.slice(at + 1).trim();
    if (at < 1 || name === '' || value === '') throw fail(`attr must be name:value, got ${JSON.stringify(pair)}`);
    filter.set(name, [...(filter.get(name) ?? []), value]);
  }
  // Own properties only (fromEntries defines them, even __proto__), for the JSON containment.
  return Object.fromEntries(filter);
}

class Sql {
  readonly values: unknown[] = [];
  param(value: unknown): string {
    this.values.push(value);
    return `$${this.values.length}`;
  }
}

/** The filters of a query, as WHERE conditions over `p` (and `tq`, the parsed text query). */
function conditions(sql: Sql, query: SearchQuery): string[] {
  const where = ["p.status = 'published'"];
  if (query.q) where.push('p.search @@ tq.query');
  if (query.category) where.push(`p.category_ids @> ARRAY[${sql.param(query.category)}::uuid]`);
  if (query.seller) where.push(`p.seller_id = ${sql.param(query.seller)}::uuid`);
  if (query.currency) where.push(`p.currency = ${sql.param(query.currency)}`);
  if (query.minPrice !== undefined) where.push(`p.min_price >= ${sql.param(query.minPrice)}::int8`);
  if (query.maxPrice !== undefined) where.push(`p.min_price <= ${sql.param(query.maxPrice)}::int8`);
  if (query.inStock !== undefined) where.push(`p.in_stock = ${sql.param(query.inStock)}::boolean`);
  if (query.attr && query.attr.length > 0) where.push(`p.attributes_json @> ${sql.param(JSON.stringify(attributeFilter(query.attr)))}::jsonb`);
  return where;
}

function fromClause(sql: Sql, query: SearchQuery): string {
  // Ranked by the query without its exclusions (querytree drops the negated parts): ts_rank scores
  // `plush & !train` 0 for every hit, so a query with an exclusion lost its order by relevance. A
  // query of exclusions only (querytree 'T') keeps the query itself (every hit ranks 0).
  return query.q
    ? `product_search_view p CROSS JOIN (SELECT q AS query, CASE WHEN querytree(q) IN ('T', '') THEN q ELSE querytree(q)::tsquery END AS ranking
                                            FROM websearch_to_tsquery('english', ${sql.param(query.q)}) AS q) tq`
    : 'product_search_view p';
}

const RANK = "(ts_rank(p.search, tq.ranking) * 1000000)::int8";

interface SortPlan {
  order: string;
  /** The keyset condition after the cursor's item. */
  after(sql: Sql, cursor: Record<string, string | number>): string;
  cursorOf(row: Row): Record<string, string | number>;
  keys: string[];
}

const SORTS: Record<SearchSort, SortPlan> = {
  relevance: {
    order: `${RANK} DESC, p.product_id DESC`,
    after: (sql, c) => `(${RANK}, p.product_id) < (${sql.param(c.r)}::int8, ${sql.param(c.id)}::uuid)`,
    cursorOf: (row) => ({ s: 'relevance', r: Number(row.rank), id: row.product_id }),
    keys: ['r', 'id'],
  },
  newest: {
    order: 'p.published_at DESC, p.product_id DESC',
    after: (sql, c) => `(p.published_at, p.product_id) < (${sql.param(c.t)}::timestamptz, ${sql.param(c.id)}::uuid)`,
    cursorOf: (row) => ({ s: 'newest', t: row.published_at.toISOString(), id: row.product_id }),
    keys: ['t', 'id'],
  },
  price_asc: {
    order: 'p.min_price ASC, p.product_id ASC',
    after: (sql, c) => `(p.min_price, p.product_id) > (${sql.param(c.p)}::int8, ${sql.param(c.id)}::uuid)`,
    cursorOf: (row) => ({ s: 'price_asc', p: Number(row.min_price), id: row.product_id }),
    keys: ['p', 'id'],
  },
  price_desc: {
    order: 'p.min_price DESC, p.product_id DESC',
    after: (sql, c) => `(p.min_price, p.product_id) < (${sql.param(c.p)}::int8, ${sql.param(c.id)}::uuid)`,
    cursorOf: (row) => ({ s: 'price_desc', p: Number(row.min_price), id: row.product_id }),
    keys: ['p', 'id'],
  },
};

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * What a cursor's position means depends on the whole query (its text, filters and currency, not
 * only its sort): the cursor carries a digest of them, and a page asked with another query is a 400
 * rather than a page of another list (a price cursor of USD read in EUR answered an empty page).
 */
function queryDigest(query: SearchQuery): string {
  const { cursor: _cursor, limit: _limit, facets: _facets, sort: _sort, ...rest } = query;
  // The attr filters all hold, whatever their order: the same ones in another order are the same
  // search (found by an audit: a client rebuilding its query from a set got a 400 for page 2).
  const canonical = JSON.stringify(
    Object.entries(rest)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]): [string, unknown] => [k, Array.isArray(v) ? [...v].sort() : v])
      .sort(([a], [b]) => (a < b ? -1 : 1)),
  );
  return createHash('sha256').update(canonical).digest('base64url').slice(0, 12);
}

/** A cursor of this sort and query, checked down to its values (a forged one is a 400, never a failed query). */
function readCursor(cursor: string | undefined, sort: SearchSort, digest: string): Record<string, string | number> | undefined {
  const plan = SORTS[sort];
  const c = decodeCursor<Record<string, string | number>>('search:products', cursor, ['s', 'q', ...plan.keys]);
  if (!c) return undefined;
  if (c.q !== digest) throw new AppError('INVALID_CURSOR', 'the cursor belongs to another search (text, filters or currency): ask the first page again');
  const numberOk = (v: unknown) => typeof v === 'number' && Number.isSafeInteger(v);
  const ok =
    c.s === sort &&
    typeof c.id === 'string' &&
    UUID.test(c.id) &&
    (sort === 'newest' ? isCursorInstant(c.t) : sort === 'relevance' ? numberOk(c.r) : numberOk(c.p) && (c.p as number) >= 0);
  if (!ok) throw new AppError('INVALID_CURSOR', 'the cursor belongs to another sort or was altered');
  return c;
}

function hitOf(row: Row, sort: SearchSort): SearchHit {
  const price =
    row.currency !== null && row.min_price !== null && row.max_price !== null
      ? { min: { amount: Number(row.min_price), currency: row.currency }, max: { amount: Number(row.max_price), currency: row.currency } }
      : null;
  return {
    productId: row.product_id,
    sellerId: row.seller_id,
    title: row.title,
    description: row.description,
    categoryId: row.category_id,
    categoryIds: row.category_ids,
    price,
    inStock: row.in_stock,
    imageUrl: row.image_url,
    attributes: row.attributes_json,
    publishedAt: row.published_at.toISOString(),
    score: sort === 'relevance' && row.rank !== null ? Number(row.rank) / 1_000_000 : null,
  };
}

async function page(deps: SearchDeps, query: SearchQuery, sort: SearchSort): Promise<{ items: SearchHit[]; nextCursor: string | null }> {
  const plan = SORTS[sort];
  const digest = queryDigest(query);
  const cursor = readCursor(query.cursor, sort, digest);
  const sql = new Sql();
  const from = fromClause(sql, query);
  const where = conditions(sql, query);
  if (cursor) where.push(plan.after(sql, cursor));
  const limit = sql.param(query.limit + 1);
  const { rows } = await deps.pool.query<Row>(
    `SELECT p.product_id, p.seller_id, p.title, left(p.description, 300) AS description, p.category_id, p.category_ids, p.attributes_json,
            p.min_price, p.max_price, p.currency, p.in_stock, p.image_url, p.published_at, ${query.q ? RANK : 'NULL::int8'} AS rank
       FROM ${from}
      WHERE ${where.join(' AND ')}
      ORDER BY ${plan.order}
      LIMIT ${limit}`,
    sql.values,
  );
  const more = rows.length > query.limit;
  const shown = rows.slice(0, query.limit);
  const last = shown[shown.length - 1];
  return { items: shown.map((r) => hitOf(r, sort)), nextCursor: more && last ? encodeCursor('search:products', { ...plan.cursorOf(last), q: digest }) : null };
}

/** Counts over every hit of the query (not only the page): per category, price band, stock, attribute value. */
async function facets(deps: SearchDeps, query: SearchQuery): Promise<{ total: number; facets: Facets }> {
  const sql = new Sql();
  const from = fromClause(sql, query);
  const where = conditions(sql, query);
  const bands = sql.param(PRICE_BANDS);
  const { rows } = await deps.pool.query<{ total: string; categories: Facets['categories']; prices: { currency: string | null; band: number | null; count: number }[]; stock: Facets['stock']; attributes: Facets['attributes'] }>(
    `WITH hits AS MATERIALIZED (
       SELECT p.category_id, p.currency, p.min_price, p.in_stock, p.attributes_json FROM ${from} WHERE ${where.join(' AND ')}
     )
     SELECT (SELECT count(*) FROM hits)::int8 AS total,
            (SELECT coalesce(jsonb_agg(jsonb_build_object('categoryId', category_id, 'count', n) ORDER BY n DESC, category_id), '[]'::jsonb)
               FROM (SELECT category_id, count(*)::int AS n FROM hits GROUP BY category_id) c) AS categories,
            (SELECT coalesce(jsonb_agg(jsonb_build_object('currency', currency, 'band', band, 'count', n) ORDER BY currency NULLS LAST, band), '[]'::jsonb)
               FROM (SELECT currency, CASE WHEN min_price IS NULL THEN NULL ELSE width_bucket(min_price, ${bands}::int8[]) END AS band, count(*)::int AS n
                       FROM hits GROUP BY 1, 2) b) AS prices,
            (SELECT jsonb_build_object('inStock', count(*) FILTER (WHERE in_stock), 'outOfStock', count(*) FILTER (WHERE NOT in_stock)) FROM hits) AS stock,
            (SELECT coalesce(jsonb_agg(jsonb_build_object('name', name, 'value', value, 'count', n) ORDER BY n DESC, name, value), '[]'::jsonb)
               FROM (SELECT kv.key AS name, v.value, count(*)::int AS n
                       FROM hits CROSS JOIN LATERAL jsonb_each(hits.attributes_json) kv CROSS JOIN LATERAL jsonb_array_elements_text(kv.value) v(value)
                      GROUP BY 1, 2 ORDER BY n DESC, 1, 2 LIMIT ${ATTRIBUTE_FACETS_MAX}) a) AS attributes`,
    sql.values,
  );
  const row = rows[0];
  if (!row) throw new Error('the facet query gave no row');
  return {
    total: Number(row.total),
    facets: {
      categories: row.categories,
      prices: row.prices.map((b) => ({
        currency: b.currency,
        min: b.band === null ? null : (PRICE_BANDS[b.band - 1] ?? null),
        max: b.band === null ? null : (PRICE_BANDS[b.band] ?? null),
        count: b.count,
      })),
      stock: row.stock,
      attributes: row.attributes,
    },
  };
}

/** Exclusions in a row (`--x`, `-(-(x`) make negations nested this deep; PostgreSQL's text search takes about 32. */
const NESTED_EXCLUSIONS_MAX = 16;
const LETTER_OR_DIGIT = /[\p{L}\p{N}]/u;

/**
 * Refuses a text whose exclusions nest too deep for PostgreSQL's text search ("tsquery stack too
 * small", which was a 500): counted as the dashes with no letter or digit between them.
 */
function refuseNestedExclusions(q: string): void {
  let run = 0;
  for (const ch of q) {
    if (ch === '-') run++;
    else if (LETTER_OR_DIGIT.test(ch)) run = 0;
    if (run > NESTED_EXCLUSIONS_MAX) throw new AppError('VALIDATION_FAILED', `q: more than ${NESTED_EXCLUSIONS_MAX} exclusions (-) in a row`);
  }
}

/**
 * Full-text search over published products, with filters, a keyset cursor per sort and, on the
 * first page, the total and the facets of every hit.
 */
export async function searchProducts(deps: SearchDeps, query: SearchQuery): Promise<SearchResult> {
  if (query.q) refuseNestedExclusions(query.q);
  const sort = sortOf(query);
  if (query.attr) attributeFilter(query.attr);
  const first = !query.cursor;
  const [result, counted] = await Promise.all([page(deps, query, sort), first && query.facets !== false ? facets(deps, query) : undefined]);
  return { ...result, total: counted?.total ?? null, facets: counted?.facets ?? null };
}
