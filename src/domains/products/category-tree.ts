import { AppError } from '../../platform/http/errors.ts';
import { CATEGORY_DEPTH_MAX } from './sql.ts';

/** The rules of the category tree, free of I/O: slugs, and where a category may go. */

export const SLUG_LENGTH_MAX = 200;

// Letters that Unicode does not decompose into a base letter and a mark.
const LETTERS: Record<string, string> = { ß: 'ss', æ: 'ae', œ: 'oe', ø: 'o', đ: 'd', ð: 'd', ł: 'l', þ: 'th', ı: 'i' };

/**
 * A slug made from a name: accents dropped, `&` read as "and", apostrophes dropped, every other run
 * of what is not a letter or digit one hyphen ("Home & Garden" → "home-and-garden", "Men's Shoes"
 * → "mens-shoes", "Crème brûlée" → "creme-brulee"). Undefined when nothing is left (a name in a
 * script without Latin letters): the caller must then be given a slug.
 */
export function slugFromName(name: string): string | undefined {
  const slug = name
    .toLowerCase()
    .replace(/[ßæœøđðłþı]/g, (c) => LETTERS[c] ?? c)
    .normalize('NFKD')
    .replace(/\p{M}+/gu, '')
    .replace(/&/g, ' and ')
    .replace(/['’`]/g, '')
    .replace(/[^a-z0-9]+/g, '-')
    .slice(0, SLUG_LENGTH_MAX + 1)
    .replace(/^-+|-+$/g, '');
  if (slug.length === 0) return undefined;
  // Cut at a word boundary when the name is too long for a slug.
  return slug.length <= SLUG_LENGTH_MAX ? slug : slug.slice(0, SLUG_LENGTH_MAX).replace(/-[^-]*$/, '') || slug.slice(0, SLUG_LENGTH_MAX);
}

export interface Placement {
  /** The category being placed; undefined for a new one. */
  categoryId?: string;
  /** Ids from the root down to the new parent; empty for a root. */
  parentPathIds: readonly string[];
  /** Levels of the category's subtree, itself included (1 for a new category or a leaf). */
  subtreeHeight: number;
}

/** Why a category may not go there (a cycle, or a tree deeper than CATEGORY_DEPTH_MAX), or undefined. */
export function placementProblem(p: Placement): AppError | undefined {
  if (p.categoryId !== undefined && p.parentPathIds.includes(p.categoryId)) {
    return new AppError('CATEGORY_CYCLE', 'the new parent is the category itself or one of its descendants');
  }
  const depth = p.parentPathIds.length + p.subtreeHeight;
  if (depth > CATEGORY_DEPTH_MAX) {
    return new AppError(
      'CATEGORY_TOO_DEEP',
      p.subtreeHeight > 1
        ? `the category and the ${p.subtreeHeight - 1} level(s) under it would reach depth ${depth}; the tree has at most ${CATEGORY_DEPTH_MAX} levels`
        : `the category would be at depth ${depth}; the tree has at most ${CATEGORY_DEPTH_MAX} levels`,
      { depth, depthMax: CATEGORY_DEPTH_MAX },
    );
  }
  return undefined;
}
