import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importCategories, importProducts } from '../../src/domains/products/bulk-import.ts';
import { selectProduct, selectPublishedPage, selectSellerPage } from '../../src/domains/products/sql.ts';
import type { Queryable } from '../../src/platform/db/pool.ts';
import { generateCategories, generateProduct, randomSource } from '../../src/seed/catalog-generator.ts';
import { type FreshDatabases, freshDatabases } from '../support/databases.ts';

let dbs: FreshDatabases;
let pool: pg.Pool;
const seller = '0190a0a0-0000-7000-8000-00000000000a';
let productId: string;
let rootId: string;

beforeAll(async () => {
  dbs = await freshDatabases();
  pool = new pg.Pool({ connectionString: dbs.targets.find((t) => t.domain === 'products')!.url, max: 2 });
  const { categories, leaves } = generateCategories();
  await importCategories(pool, categories, { now: new Date(), trace: null });
  const random = randomSource(7);
  const now = new Date();
  const products = Array.from({ length: 400 }, (_, i) => generateProduct({ random, now, sellerId: seller, leaf: leaves[i % leaves.length]!, serial: i, runTag: 'PLAN' }).product);
  await importProducts(pool, products, { now, actorId: seller, trace: null });
  await pool.query('ANALYZE');
  productId = products.find((p) => p.status === 'published')!.id;
  rootId = categories.find((c) => c.parentId === null)!.id;
});

afterAll(async () => {
  await pool?.end();
  await dbs?.drop();
});

/** EXPLAINs the statement a query function sends, with sequential scans priced out: what is left must be index access. */
async function planOf(run: (db: Queryable) => Promise<unknown>): Promise<string> {
  let sent: { text: string; values: unknown[] } | undefined;
  const capture = async (query: string | { text: string; values: unknown[] }, values: unknown[] = []) => {
    sent = typeof query === 'string' ? { text: query, values } : { text: query.text, values: query.values };
    return { rows: [] };
  };
  await run({ query: capture as unknown as Queryable['query'] });
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query('SET LOCAL enable_seqscan = off');
    const { rows } = await client.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${sent!.text}`, sent!.values);
    await client.query('ROLLBACK');
    return rows.map((r) => r['QUERY PLAN']).join('\n');
  } finally {
    client.release();
  }
}

describe('the hot read paths', () => {
  it('read one product and its parts through indexes', async () => {
    const plan = await planOf((db) => selectProduct(db, productId, { at: new Date(), history: false }));
    expect(plan).toMatch(/products_pkey/);
    expect(plan).toMatch(/product_pricing_product_idx/);
    expect(plan).not.toMatch(/Seq Scan on (products|product_variants|product_images|product_attributes|product_pricing)\b/);
  });

  it('page the published products newest first from the partial index', async () => {
    const plan = await planOf((db) => selectPublishedPage(db, { categoryId: undefined, after: undefined, limit: 21, now: new Date() }));
    expect(plan).toMatch(/products_published_idx/);
    expect(plan).not.toMatch(/Seq Scan on products\b/);
  });

  it('page a category subtree from a per-category index, never by walking every published product', async () => {
    const plan = await planOf((db) => selectPublishedPage(db, { categoryId: rootId, after: { createdAt: new Date().toISOString(), id: productId }, limit: 21, now: new Date() }));
    // On a large catalog the planner takes the ordered partial index; on this small one a bitmap scan of the other.
    expect(plan).toMatch(/products_published_by_category_idx|products_category_status_idx/);
    expect(plan).not.toMatch(/products_published_idx|Seq Scan on products\b/);
  });

  it("page a seller's own products from the seller index", async () => {
    const plan = await planOf((db) => selectSellerPage(db, { sellerId: seller, status: undefined, after: undefined, limit: 21 }));
    expect(plan).toMatch(/products_seller_idx/);
  });
});
