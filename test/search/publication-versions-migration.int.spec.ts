import { expect, it } from 'vitest';
import { newId } from '../../src/platform/ids.ts';
import { migrationScratch } from '../support/migration-scratch.ts';

/**
 * Search migration 0008 on product rows projected before it: a row dated by a publication counts as
 * dated by its own snapshot's version, so an older publication replayed after the deploy is skipped
 * as before (left null, it would date the row again: found by a review). Its own scratch database.
 */
const scratch = migrationScratch('search', 'search/0008_publication_versions');

it('gives a row dated by a publication its product version, and leaves one never published without one', async () => {
  const { db } = scratch;
  const row = (productId: string, version: number, publishedAt: string | null) =>
    db.query(
      `INSERT INTO product_search_view (product_id, seller_id, title, description, category_id, category_ids, status, published_at, product_version, updated_at)
       VALUES ($1, $2, 'Lamp', '', $3, ARRAY[$3]::uuid[], $4, $5, $6, '2026-01-04T00:00:00Z')`,
      [productId, newId(), newId(), publishedAt ? 'published' : 'draft', publishedAt, version],
    );
  const [republished, draft] = [newId(), newId()];
  await row(republished, 4, '2026-01-04T00:00:00Z');
  await row(draft, 1, null);
  await scratch.apply();
  const { rows } = await db.query<{ product_id: string; published_version: number | null }>('SELECT product_id, published_version FROM product_search_view');
  expect(Object.fromEntries(rows.map((r) => [r.product_id, r.published_version]))).toEqual({ [republished]: 4, [draft]: null });
});
