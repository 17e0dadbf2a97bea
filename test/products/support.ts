import { expect } from 'vitest';
import type { ProductsApi, createProductsModule } from '../../src/domains/products/index.ts';
import { ManualClock } from '../../src/platform/clock.ts';
import type { Pool } from '../../src/platform/db/pool.ts';
import { newId } from '../../src/platform/ids.ts';
import { type TestApp, startTestApp } from '../support/app.ts';

export type ProductsModule = ReturnType<typeof createProductsModule>;
// biome-ignore lint/suspicious/noExplicitAny: a product as parsed from the route's JSON, as loosely typed as inject's json() (other test suites index into it freely)
type ResponseJson = Record<string, any>;

export interface CatalogFixture {
  t: TestApp;
  clock: ManualClock;
  db: Pool;
  products: ProductsModule;
  api: ProductsApi;
  /** Category ids by slug. */
  categories: Record<string, string>;
  sellerToken(sellerId?: string): Promise<{ sellerId: string; token: string }>;
  /** The created product as the seller route answers it (loosely typed, like inject's json()). */
  create(token: string, body?: Record<string, unknown>): Promise<ResponseJson>;
  close(): Promise<void>;
}

/** The tree every catalog test starts from: three levels under "electronics", one under "fashion". */
export const TREE: { slug: string; name: string; parent: string | null }[] = [
  { slug: 'electronics', name: 'Electronics', parent: null },
  { slug: 'phones', name: 'Phones', parent: 'electronics' },
  { slug: 'smartphones', name: 'Smartphones', parent: 'phones' },
  { slug: 'laptops', name: 'Laptops', parent: 'electronics' },
  { slug: 'fashion', name: 'Fashion', parent: null },
  { slug: 'shoes', name: 'Shoes', parent: 'fashion' },
  { slug: 'paging', name: 'Paging', parent: null },
];

let skuCounter = 0;
export const uniqueSku = (prefix = 'SKU') => `${prefix}-${Date.now().toString(36)}-${++skuCounter}`;

export async function startCatalog(start = '2026-03-01T00:00:00.000Z'): Promise<CatalogFixture> {
  const clock = new ManualClock(start);
  const t = await startTestApp({}, { clock });
  const products = t.app.modules.find((m) => m.name === 'products') as ProductsModule;
  const categories: Record<string, string> = {};
  for (const c of TREE) categories[c.slug] = newId();
  await products.api.importCategories(TREE.map((c, i) => ({ id: categories[c.slug]!, parentId: c.parent ? categories[c.parent]! : null, name: c.name, slug: c.slug, position: i })));
  const fixture: CatalogFixture = {
    t,
    clock,
    db: t.app.pools.get('products') as Pool,
    products,
    api: products.api,
    categories,
    async sellerToken(sellerId = newId()) {
      const { token } = await t.app.tokens.sign({ userId: sellerId, roles: ['seller'] }, clock.now());
      return { sellerId, token };
    },
    async create(token, body = {}) {
      const res = await t.request('POST', '/v1/seller/products', { token, body: productBody(categories.smartphones!, body) });
      expect(res.statusCode, res.body).toBe(201);
      return res.json();
    },
    close: () => t.close(),
  };
  return fixture;
}

export function productBody(categoryId: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    sku: uniqueSku('P'),
    title: 'Pocket phone',
    description: 'A phone that fits a pocket.',
    categoryId,
    variants: [
      { sku: uniqueSku('V'), attributes: { colour: 'black', storage: '128GB' }, price: { amount: 49900, currency: 'USD' } },
      { sku: uniqueSku('V'), attributes: { colour: 'white', storage: '256GB' }, price: { amount: 59900, currency: 'USD' } },
    ],
    images: [{ url: 'https://img.bazaar.test/p/1.jpg' }, { url: 'https://img.bazaar.test/p/2.jpg', type: 'gallery' }],
    attributes: [
      { name: 'brand', value: 'Acme', searchable: true },
      { name: 'warranty', value: '2 years' },
    ],
    ...overrides,
  };
}
