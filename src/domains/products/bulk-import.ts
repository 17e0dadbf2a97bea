import type { ProductSnapshot } from '../../contracts/products.ts';
import { type Pool, withTransaction } from '../../platform/db/pool.ts';
import { newId } from '../../platform/ids.ts';
import type { Trace } from '../../platform/messaging/envelope.ts';
import { type NewEvent, appendEvents } from '../../platform/messaging/outbox.ts';
import { mappingDatabaseErrors } from './db-errors.ts';
import { categoryEvent, emit, productEvent } from './events.ts';
import { withNfcSkus } from './new-parts.ts';
import type { PriceWindowRow } from './pricing.ts';
import {
  type AttributeInsert,
  type CategoryRef,
  type CategoryRow,
  type ImageInsert,
  type PriceInsert,
  type ProductInsert,
  type PublicationInsert,
  type VariantInsert,
  holdCategoryTree,
  insertAttributes,
  insertCategories,
  insertImages,
  insertPrices,
  insertProducts,
  insertPublications,
  insertVariants,
  lockCategoryTree,
  notifyCategoriesChanged,
  selectCategoriesWithAncestors,
} from './sql.ts';
import { toPriceWindow } from './views.ts';

/**
 * Bulk import of a catalog (the seed, migrations from another system): set-based inserts of many
 * products per transaction, with their products.product_created.v1 (and product_published.v1)
 * events written in bulk to the same transaction, so other domains learn of every product.
 */

export interface ImportCategory {
  id: string;
  parentId: string | null;
  name: string;
  slug: string;
  position: number;
}

export interface ImportProduct {
  id: string;
  sellerId: string;
  sku: string;
  title: string;
  description: string;
  categoryId: string;
  status: 'draft' | 'published';
  createdAt: Date;
  variants: { id: string; sku: string; attributes: Record<string, string>; listPrice: { amount: number; currency: string } }[];
  images: { url: string; type: 'primary' | 'gallery' | 'thumbnail' | 'swatch' }[];
  attributes: { name: string; value: string; searchable: boolean }[];
  /**
   * Windows may lie in the past: an import brings history along. `closedByPriceId` names the window
   * whose start closed this one, as adding an open window through the API records it (withdrawing
   * that window lets this one run on to where it ended); without it the window ends as written.
   */
  prices: (PriceWindowRow & { closedByPriceId?: string | null })[];
}

export const IMPORT_BATCH_MAX = 10_000;

/**
 * Imports categories (parents before or beside their children) in one transaction under the tree's
 * lock, each announced with products.category_created.v1 as one an admin makes is, its path read
 * from the tree as it stands with them.
 */
export async function importCategories(pool: Pool, categories: readonly ImportCategory[], options: { now: Date; trace: Trace | null }): Promise<void> {
  const rows: CategoryRow[] = categories.map((c) => ({ id: c.id, parent_id: c.parentId, name: c.name, slug: c.slug, position: c.position }));
  if (rows.length === 0) return;
  const { now, trace } = options;
  await withTransaction(pool, async (tx) => {
    await lockCategoryTree(tx);
    await insertCategories(tx, rows, now);
    // Until 2026-12-07 imported categories wrote no events: the log held none of the seed's tree.
    const paths = pathsOf(await selectCategoriesWithAncestors(tx, rows.map((r) => r.id)));
    const createdAt = now.toISOString();
    const events = rows.map((r) =>
      categoryEvent({ kind: 'created', data: { categoryId: r.id, parentId: r.parent_id, name: r.name, slug: r.slug, position: r.position, path: paths.get(r.id) ?? [], createdAt } }),
    );
    await emit(tx, events, trace, now);
    // Other processes' cached trees (a seed runs beside `npm start`) learn of it at commit, as of an
    // admin's new category (found by a review: the server kept serving the tree it had).
    await notifyCategoriesChanged(tx, 'tree');
  });
}

function pathsOf(categories: readonly CategoryRow[]): Map<string, CategoryRef[]> {
  const byId = new Map(categories.map((c) => [c.id, c]));
  const paths = new Map<string, CategoryRef[]>();
  for (const c of categories) {
    const path: CategoryRef[] = [];
    for (let at: CategoryRow | undefined = c; at && path.length < 10; at = at.parent_id ? byId.get(at.parent_id) : undefined) {
      path.unshift({ id: at.id, name: at.name, slug: at.slug });
    }
    paths.set(c.id, path);
  }
  return paths;
}

/** Imports up to IMPORT_BATCH_MAX products in one transaction; `actorId` is recorded as who set prices and published. */
export async function importProducts(
  pool: Pool,
  given: readonly ImportProduct[],
  options: { now: Date; actorId: string; trace: Trace | null },
): Promise<{ products: number; events: number }> {
  if (given.length > IMPORT_BATCH_MAX) throw new RangeError(`at most ${IMPORT_BATCH_MAX} products per import batch`);
  const products = given.map(withNfcSkus);
  if (products.length === 0) return { products: 0, events: 0 };
  const { now, actorId, trace } = options;
  const rows = {
    products: [] as ProductInsert[],
    variants: [] as VariantInsert[],
    images: [] as ImageInsert[],
    attributes: [] as AttributeInsert[],
    prices: [] as PriceInsert[],
    publications: [] as PublicationInsert[],
  };
  for (const p of products) {
    const published = p.status === 'published';
    rows.products.push({ id: p.id, sellerId: p.sellerId, sku: p.sku, title: p.title, description: p.description, categoryId: p.categoryId, status: p.status, version: published ? 2 : 1, createdAt: p.createdAt });
    for (const [i, v] of p.variants.entries()) {
      rows.variants.push({ id: v.id, productId: p.id, sellerId: p.sellerId, sku: v.sku, attributes: v.attributes, price: v.listPrice.amount, currency: v.listPrice.currency, position: i, createdAt: p.createdAt });
    }
    for (const [i, img] of p.images.entries()) rows.images.push({ id: newId(), productId: p.id, url: img.url, type: img.type, position: i, createdAt: p.createdAt });
    for (const [i, a] of p.attributes.entries()) {
      rows.attributes.push({ id: newId(), productId: p.id, name: a.name, value: a.value, searchable: a.searchable, position: i, createdAt: p.createdAt });
    }
    for (const w of p.prices) rows.prices.push({ ...w, productId: p.id, createdBy: actorId, createdAt: p.createdAt });
    if (published) rows.publications.push({ id: newId(), productId: p.id, status: 'published', publishedAt: now, unlistedAt: null, changedBy: actorId, createdAt: now });
  }
  return mappingDatabaseErrors(() =>
    withTransaction(pool, async (tx) => {
      await holdCategoryTree(tx);
      const paths = pathsOf(await selectCategoriesWithAncestors(tx, [...new Set(products.map((p) => p.categoryId))]));
      await insertProducts(tx, rows.products);
      await insertVariants(tx, rows.variants);
      await insertPrices(tx, rows.prices);
      await insertImages(tx, rows.images);
      await insertAttributes(tx, rows.attributes);
      await insertPublications(tx, rows.publications);
      const events: NewEvent[] = [];
      for (const p of products) {
        const draft = snapshotOf(p, paths.get(p.categoryId) ?? [], now);
        events.push(productEvent(draft, { kind: 'created' }));
        if (p.status === 'published') events.push(productEvent({ ...draft, status: 'published', version: 2 }, { kind: 'published', at: now }));
      }
      await appendEvents(tx, 'products', events, trace, now);
      return { products: products.length, events: events.length };
    }),
  );
}

function snapshotOf(p: ImportProduct, categoryPath: CategoryRef[], now: Date): ProductSnapshot {
  const t = now.getTime();
  const windows: PriceWindowRow[] = p.prices
    .filter((w) => w.effectiveTo === null || w.effectiveTo.getTime() > t)
    .sort((a, b) => a.effectiveFrom.getTime() - b.effectiveFrom.getTime());
  return {
    productId: p.id,
    sellerId: p.sellerId,
    sku: p.sku,
    title: p.title,
    description: p.description,
    categoryId: p.categoryId,
    categoryPath,
    status: 'draft',
    version: 1,
    variants: p.variants.map((v, i) => ({ variantId: v.id, sku: v.sku, attributes: v.attributes, listPrice: v.listPrice, position: i })),
    images: p.images.map((img, i) => ({ url: img.url, type: img.type, position: i })),
    attributes: p.attributes,
    prices: windows.map(toPriceWindow),
    createdAt: p.createdAt.toISOString(),
    updatedAt: p.createdAt.toISOString(),
  };
}
