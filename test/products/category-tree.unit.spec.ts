import { describe, expect, it } from 'vitest';
import { placementProblem, slugFromName } from '../../src/domains/products/category-tree.ts';

describe('a slug made from a category name', () => {
  it.each([
    ['Home & Garden', 'home-and-garden'],
    ["Men's Shoes", 'mens-shoes'],
    ['Crème brûlée', 'creme-brulee'],
    ['Straße  und   Weg', 'strasse-und-weg'],
    ['  TV / Audio -- 4K!  ', 'tv-audio-4k'],
    ['Ærø Øl', 'aero-ol'],
  ])('makes %j into %j', (name, slug) => {
    expect(slugFromName(name)).toBe(slug);
  });

  it('is undefined when no Latin letter or digit is left', () => {
    expect(slugFromName('家具')).toBeUndefined();
    expect(slugFromName('!!!')).toBeUndefined();
  });

  it('keeps to 200 characters, cut at a word boundary', () => {
    // Seven characters a word with its hyphen: the 200th character falls inside the 29th word.
    const slug = slugFromName('abcdef '.repeat(40))!;
    expect(slug).toMatch(/^[a-z0-9]+(-[a-z0-9]+)*$/);
    expect(slug.split('-')).toEqual(Array(28).fill('abcdef'));
    expect(slugFromName('a'.repeat(300))).toBe('a'.repeat(200));
  });
});

describe('where a category may go', () => {
  it('allows a root, and a category down to the tenth level', () => {
    expect(placementProblem({ parentPathIds: [], subtreeHeight: 1 })).toBeUndefined();
    expect(placementProblem({ parentPathIds: ids(9), subtreeHeight: 1 })).toBeUndefined();
    expect(placementProblem({ categoryId: 'x', parentPathIds: ids(7), subtreeHeight: 3 })).toBeUndefined();
  });

  it('refuses an eleventh level, counting the levels under a moved category', () => {
    expect(placementProblem({ parentPathIds: ids(10), subtreeHeight: 1 })?.code).toBe('CATEGORY_TOO_DEEP');
    expect(placementProblem({ categoryId: 'x', parentPathIds: ids(8), subtreeHeight: 3 })).toMatchObject({ code: 'CATEGORY_TOO_DEEP', extensions: { depth: 11 } });
  });

  it('refuses a move under the category itself or one of its descendants', () => {
    expect(placementProblem({ categoryId: 'x', parentPathIds: ['x'], subtreeHeight: 1 })?.code).toBe('CATEGORY_CYCLE');
    expect(placementProblem({ categoryId: 'x', parentPathIds: ['r', 'x', 'y'], subtreeHeight: 2 })?.code).toBe('CATEGORY_CYCLE');
  });
});

function ids(n: number): string[] {
  return Array.from({ length: n }, (_, i) => `c${i}`);
}
