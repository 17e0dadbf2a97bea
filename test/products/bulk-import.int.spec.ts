import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CATEGORIES_MAX } from '../../src/domains/products/sql.ts';
import { importCategories, importProducts } from '../../src/domains/products/bulk-import.ts';
import { generateProduct, randomSource } from '../../src/seed/catalog-generator.ts';
import { type Pool, createPool } from '../../src/platform/db/pool.ts';
import { newId } from '../../src/platform/ids.ts';
import { type FreshDatabases, freshDatabases } from '../support/databases.ts';

/** The bulk import on a tree larger than the admin API lets one build (only an import can). */
let dbs: FreshDatabases;
let pool: Pool;

beforeAll(async () => {
  dbs = await freshDatabases();
  pool = createPool(dbs.targets.find((t) => t.domain === 'products')!.url, 2, 'test-bulk-import');
});
afterAll(async () => {
  await pool?.end();
  await dbs?.drop();
});

describe('the bulk import on a tree of more categories than one read of the tree holds', () => {
  it('announces a category, and files a product, sorted past them with its whole path (found by a review: the event had no path and the import failed)', async () => {
    const now = new Date('2026-05-01T00:00:00.000Z');
    const big = Array.from({ length: CATEGORIES_MAX }, (_, i) => ({ id: newId(), parentId: null, name: `Big ${i}`, slug: `big-${i}`, position: 0 }));
    await importCategories(pool, big, { now, trace: null });
    const [root, leaf] = [newId(), newId()];
    await importCategories(
      pool,
      [
        { id: root, parentId: null, name: 'Zeta', slug: 'zeta', position: 1 },
        { id: leaf, parentId: root, name: 'Zeta leaf', slug: 'zeta-leaf', position: 0 },
      ],
      { now, trace: null },
    );
    const { rows: created } = await pool.query<{ payload: { path: { id: string }[] } }>(
      `SELECT payload FROM products_outbox_events WHERE event_type = 'products.category_created.v1' AND payload->>'categoryId' = $1`,
      [leaf],
    );
    expect(created.map((r) => r.payload.path.map((c) => c.id))).toEqual([[root, leaf]]);
    const seller = newId();
    const { product } = generateProduct({ random: randomSource(3), now, sellerId: seller, leaf: { id: leaf, department: 0 }, serial: 0, runTag: 'BIG' });
    await importProducts(pool, [product], { now, actorId: seller, trace: null });
    const { rows: announced } = await pool.query<{ payload: { categoryPath: { id: string }[] } }>(
      `SELECT payload FROM products_outbox_events WHERE event_type = 'products.product_created.v1' AND aggregate_id = $1`,
      [product.id],
    );
    expect(announced.map((r) => r.payload.categoryPath.map((c) => c.id))).toEqual([[root, leaf]]);
  });
});
