import type { CATEGORY_FIELDS } from '../../contracts/products.ts';
import { withTransaction } from '../../platform/db/pool.ts';
import type { Queryable } from '../../platform/db/pool.ts';
import { AppError, notFound } from '../../platform/http/errors.ts';
import { newId } from '../../platform/ids.ts';
import type { Trace } from '../../platform/messaging/envelope.ts';
import { placementProblem, slugFromName } from './category-tree.ts';
import { mappingDatabaseErrors } from './db-errors.ts';
import type { ProductsDeps } from './deps.ts';
import { categoryEvent, emit } from './events.ts';
import type { CategoryView, CreateCategoryBody, PatchCategoryBody } from './schemas.ts';
import {
  CATEGORIES_MAX,
  type CategoryRecord,
  type CategoryRef,
  countCategories,
  insertCategory,
  lockCategoryTree,
  notifyCategoriesChanged,
  selectCategory,
  selectCategoryIdBySlug,
  selectCategoryPath,
  selectNextPosition,
  selectSubtreeHeight,
  updateCategoryRow,
} from './sql.ts';

/**
 * The admins' changes to the category tree. Each runs under the tree lock (checks for a cycle, the
 * depth and the slug hold at commit), announces itself with a category event in the same
 * transaction, and drops the caches that show the tree: at once in this process, at commit in the
 * others. A rename, a new slug or a move changes what every product under the category shows (its
 * category path), so those drop the product caches too.
 */

type Field = (typeof CATEGORY_FIELDS)[number];

/** What the caches of this process must drop after a change: the tree alone, or the products too. */
type Scope = 'tree' | '*';

export interface TreeCache {
  invalidate(): void;
}

/** Ids as the database writes them: the edge takes a UUID in either case, and the checks below compare strings. */
const canonical = <T extends string | null | undefined>(id: T): T => (typeof id === 'string' ? id.toLowerCase() : id) as T;

function viewOf(row: CategoryRecord, path: CategoryRef[]): CategoryView {
  return { id: row.id, parentId: row.parent_id, name: row.name, slug: row.slug, position: row.position, path, createdAt: row.created_at.toISOString() };
}

async function parentPathOf(tx: Queryable, parentId: string | null | undefined): Promise<CategoryRef[]> {
  if (parentId === undefined || parentId === null) return [];
  const path = await selectCategoryPath(tx, parentId);
  if (path.length === 0) throw new AppError('UNPROCESSABLE', 'parentId does not name a category', { parentId });
  return path;
}

/** Under the tree lock the answer holds at commit; the unique constraint stays the last word (db-errors). */
async function assertSlugFree(tx: Queryable, slug: string, categoryId: string, derived: boolean): Promise<void> {
  const holder = await selectCategoryIdBySlug(tx, slug);
  if (holder === undefined || holder === categoryId) return;
  throw new AppError(
    'SLUG_TAKEN',
    derived ? `the slug "${slug}", made from the name, is another category's: send a slug of your own` : `another category has the slug "${slug}"`,
    { slug, categoryId: holder },
  );
}

function invalidate(deps: ProductsDeps, tree: TreeCache, scope: Scope | undefined): void {
  if (scope === undefined) return;
  tree.invalidate();
  if (scope === '*') deps.invalidate('*');
}

export async function createCategory(deps: ProductsDeps, tree: TreeCache, body: CreateCategoryBody, trace: Trace | null): Promise<CategoryView> {
  const slug = body.slug ?? slugFromName(body.name);
  if (slug === undefined) throw new AppError('VALIDATION_FAILED', 'no slug can be made of this name (it has no Latin letters or digits): send a slug');
  const parentId = canonical(body.parentId ?? null);
  const now = deps.clock.now();
  const id = newId();
  const view = await mappingDatabaseErrors(() =>
    withTransaction(deps.pool, async (tx) => {
      await lockCategoryTree(tx);
      if ((await countCategories(tx)) >= CATEGORIES_MAX) throw new AppError('CONFLICT', `the tree holds at most ${CATEGORIES_MAX} categories`);
      const parentPath = await parentPathOf(tx, parentId);
      const problem = placementProblem({ parentPathIds: parentPath.map((c) => c.id), subtreeHeight: 1 });
      if (problem) throw problem;
      await assertSlugFree(tx, slug, id, body.slug === undefined);
      const row: CategoryRecord = { id, parent_id: parentId, name: body.name, slug, position: body.position ?? (await selectNextPosition(tx, parentId)), created_at: now };
      await insertCategory(tx, row);
      const created = viewOf(row, [...parentPath, { id, name: row.name, slug }]);
      const data = { categoryId: id, parentId, name: row.name, slug, position: row.position, path: created.path, createdAt: created.createdAt };
      await emit(tx, [categoryEvent({ kind: 'created', data })], trace, now);
      await notifyCategoriesChanged(tx, 'tree');
      return created;
    }),
  );
  invalidate(deps, tree, 'tree');
  return view;
}

/**
 * Renames, re-slugs, reorders or moves a category (its subtree moves with it). A move under itself
 * or a descendant is CATEGORY_CYCLE, one that makes the tree deeper than CATEGORY_DEPTH_MAX is
 * CATEGORY_TOO_DEEP. A body that changes nothing writes nothing and announces nothing.
 */
export async function updateCategory(
  deps: ProductsDeps,
  tree: TreeCache,
  categoryId: string,
  body: PatchCategoryBody | null | undefined,
  trace: Trace | null,
): Promise<CategoryView> {
  if (!body || Object.keys(body).length === 0) throw new AppError('VALIDATION_FAILED', 'send at least one of name, slug, parentId, position');
  categoryId = canonical(categoryId);
  const newParentId = canonical(body.parentId);
  const { view, scope } = await mappingDatabaseErrors(() =>
    withTransaction(deps.pool, async (tx): Promise<{ view: CategoryView; scope: Scope | undefined }> => {
      await lockCategoryTree(tx);
      // Read under the tree's lock: the changes' times are in the order they commit in, which is
      // how the search read model orders moves that come to it out of order (a replayed dead letter).
      const now = deps.clock.now();
      const current = await selectCategory(tx, categoryId);
      if (!current) throw notFound('category');
      const previousPath = await selectCategoryPath(tx, categoryId);
      const moved = newParentId !== undefined && newParentId !== current.parent_id;
      let parentPath = previousPath.slice(0, -1);
      if (moved) {
        parentPath = await parentPathOf(tx, newParentId);
        const problem = placementProblem({ categoryId, parentPathIds: parentPath.map((c) => c.id), subtreeHeight: await selectSubtreeHeight(tx, categoryId) });
        if (problem) throw problem;
      }
      const parentId = moved ? (newParentId ?? null) : current.parent_id;
      const next: CategoryRecord = {
        ...current,
        parent_id: parentId,
        name: body.name ?? current.name,
        slug: body.slug ?? current.slug,
        position: body.position ?? (moved ? await selectNextPosition(tx, parentId) : current.position),
      };
      const changedFields: Field[] = [];
      if (next.name !== current.name) changedFields.push('name');
      if (next.slug !== current.slug) changedFields.push('slug');
      if (moved) changedFields.push('parentId');
      if (next.position !== current.position) changedFields.push('position');
      if (changedFields.length === 0) return { view: viewOf(current, previousPath), scope: undefined };

      if (changedFields.includes('slug')) await assertSlugFree(tx, next.slug, categoryId, false);
      await updateCategoryRow(tx, next);
      const updated = viewOf(next, [...parentPath, { id: categoryId, name: next.name, slug: next.slug }]);
      const data = {
        categoryId,
        parentId,
        name: next.name,
        slug: next.slug,
        position: next.position,
        path: updated.path,
        previousPath,
        changedFields,
        updatedAt: now.toISOString(),
      };
      await emit(tx, [categoryEvent({ kind: 'updated', data })], trace, now);
      const scope: Scope = changedFields.some((f) => f !== 'position') ? '*' : 'tree';
      await notifyCategoriesChanged(tx, scope);
      return { view: updated, scope };
    }),
  );
  invalidate(deps, tree, scope);
  return view;
}
