import { describe, expect, it } from 'vitest';
import { matchesIfNoneMatch } from '../../src/domains/products/http-cache.ts';
import { LruCache } from '../../src/domains/products/lru-cache.ts';
import { ProductReadCache } from '../../src/domains/products/product-cache.ts';
import type { ProductRecord } from '../../src/domains/products/sql.ts';
import { ManualClock } from '../../src/platform/clock.ts';

describe('the bounded LRU', () => {
  it('evicts the least recently used entry beyond its bound', () => {
    const lru = new LruCache<number>(2, () => 0);
    lru.set('a', 1, 10);
    lru.set('b', 2, 10);
    expect(lru.get('a')).toBe(1);
    lru.set('c', 3, 10);
    expect(lru.get('b')).toBeUndefined();
    expect(lru.get('a')).toBe(1);
    expect(lru.size).toBe(2);
  });

  it('forgets an entry once it expires by the injected clock', () => {
    const clock = new ManualClock();
    const lru = new LruCache<number>(5, () => clock.now().getTime());
    lru.set('a', 1, clock.now().getTime() + 1000);
    clock.advance(999);
    expect(lru.get('a')).toBe(1);
    clock.advance(1);
    expect(lru.get('a')).toBeUndefined();
  });
});

describe('If-None-Match', () => {
  it('matches a listed tag, a weak form of it, and *', () => {
    expect(matchesIfNoneMatch('"x", "abc"', '"abc"')).toBe(true);
    expect(matchesIfNoneMatch('W/"abc"', '"abc"')).toBe(true);
    expect(matchesIfNoneMatch('*', '"abc"')).toBe(true);
    expect(matchesIfNoneMatch('"abd"', '"abc"')).toBe(false);
    expect(matchesIfNoneMatch(undefined, '"abc"')).toBe(false);
  });
});

function record(title: string, prices: ProductRecord['prices'] = []): ProductRecord {
  return {
    id: 'p',
    sellerId: 's',
    sku: 'SKU',
    title,
    description: '',
    categoryId: 'c',
    categoryPath: [{ id: 'c', name: 'C', slug: 'c' }],
    status: 'published',
    version: 1,
    createdAt: new Date(0),
    updatedAt: new Date(0),
    variants: [],
    images: [],
    attributes: [],
    prices,
    availability: new Map(),
  };
}

describe('the product read cache', () => {
  it('reads the database once for concurrent misses and serves hits from memory', async () => {
    let loads = 0;
    const cache = new ProductReadCache(async () => {
      loads++;
      return record('one');
    }, new ManualClock());
    cache.coherent = true;
    const [a, b] = await Promise.all([cache.get('p'), cache.get('p')]);
    expect(a).toBe(b);
    await cache.get('p');
    expect(loads).toBe(1);
  });

  it('does not keep a read that raced an invalidation', async () => {
    let release: () => void = () => undefined;
    let title = 'old';
    const cache = new ProductReadCache(async () => {
      const t = title;
      await new Promise<void>((r) => {
        release = r;
      });
      return record(t);
    }, new ManualClock());
    cache.coherent = true;
    const pending = cache.get('p');
    title = 'new';
    cache.invalidate(['p']);
    release();
    await pending;
    const fresh = cache.get('p');
    release();
    expect(JSON.parse((await fresh)!.body).title).toBe('new');
  });

  it('keeps nothing while invalidations cannot arrive', async () => {
    let loads = 0;
    const cache = new ProductReadCache(async () => {
      loads++;
      return record('x');
    }, new ManualClock());
    await cache.get('p');
    await cache.get('p');
    expect(loads).toBe(2);
  });

  it('drops an entry when a price window starts', async () => {
    const clock = new ManualClock('2026-01-01T00:00:00Z');
    let loads = 0;
    const window = { id: 'w', variantId: 'v', currency: 'USD', basePrice: 1, discount: 0, effectiveFrom: new Date('2026-01-01T00:00:10Z'), effectiveTo: null };
    const cache = new ProductReadCache(async () => {
      loads++;
      return record('x', [window]);
    }, clock);
    cache.coherent = true;
    await cache.get('p');
    clock.advance(9_999);
    await cache.get('p');
    expect(loads).toBe(1);
    clock.advance(1);
    await cache.get('p');
    expect(loads).toBe(2);
  });
});
