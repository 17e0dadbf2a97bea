import type { ProductsDeps } from './deps.ts';
import { type CachedBody, cachedBody } from './http-cache.ts';
import { decodeListCursor, encodeListCursor } from './list-cursor.ts';
import type { CategoryNode } from './schemas.ts';
import { type CategoryRow, selectCategories, selectPublishedPage } from './sql.ts';

/** Buyers' reads that are not the product page: the published list and the category tree. */

export async function listPublished(deps: ProductsDeps, query: { categoryId?: string; cursor?: string; limit: number }): Promise<CachedBody> {
  const scope = `products:${query.categoryId ?? ''}`;
  const after = decodeListCursor(scope, query.cursor);
  const rows = await selectPublishedPage(deps.pool, { categoryId: query.categoryId, after, limit: query.limit + 1, now: deps.clock.now() });
  const page = rows.slice(0, query.limit);
  const last = page[page.length - 1];
  return cachedBody({
    items: page.map((r) => ({
      id: r.id,
      sellerId: r.seller_id,
      sku: r.sku,
      title: r.title,
      categoryId: r.category_id,
      imageUrl: r.image_url,
      priceFrom: r.price_amount === null || r.price_currency === null ? null : { amount: r.price_amount, currency: r.price_currency },
      createdAt: r.created_at.toISOString(),
    })),
    nextCursor: rows.length > query.limit && last ? encodeListCursor(scope, last) : null,
  });
}

export function buildTree(rows: readonly CategoryRow[]): CategoryNode[] {
  const nodes = new Map<string, CategoryNode & { position: number }>();
  for (const r of rows) nodes.set(r.id, { id: r.id, name: r.name, slug: r.slug, children: [], position: r.position });
  const roots: (CategoryNode & { position: number })[] = [];
  for (const r of rows) {
    const node = nodes.get(r.id)!;
    const parent = r.parent_id ? nodes.get(r.parent_id) : undefined;
    if (parent) parent.children.push(node);
    else roots.push(node);
  }
  const strip = (list: (CategoryNode & { position: number })[]): CategoryNode[] =>
    list
      .sort((a, b) => a.position - b.position || a.name.localeCompare(b.name))
      .map((n) => ({ id: n.id, name: n.name, slug: n.slug, children: strip(n.children as (CategoryNode & { position: number })[]) }));
  return strip(roots);
}

const CATEGORY_TTL_MS = 60_000;

/**
 * The category tree changes rarely (admin edits, imports): one serialised copy per process, dropped
 * by every change (in the writing process at once, in the others by the products_cache notification
 * at commit) and after a minute at most. A read that raced a change is answered but not kept, and
 * nothing is kept while notifications cannot arrive (`coherent` false).
 */
export class CategoryTreeCache {
  #entry: { value: CachedBody; expiresAtMs: number } | undefined;
  #generation = 0;
  coherent = false;
  constructor(readonly deps: Pick<ProductsDeps, 'pool' | 'clock'>) {}

  async get(): Promise<CachedBody> {
    const now = this.deps.clock.now().getTime();
    if (this.#entry && this.#entry.expiresAtMs > now) return this.#entry.value;
    const generation = this.#generation;
    const value = cachedBody({ items: buildTree(await selectCategories(this.deps.pool)) });
    if (this.coherent && generation === this.#generation) this.#entry = { value, expiresAtMs: now + CATEGORY_TTL_MS };
    return value;
  }

  invalidate(): void {
    this.#generation++;
    this.#entry = undefined;
  }
}
