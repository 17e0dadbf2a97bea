import { Type } from '@sinclair/typebox';
import { describe, expect, it } from 'vitest';
import { defineEvent } from '../../src/contracts/define.ts';
import { ProductCreatedV1 } from '../../src/contracts/products.ts';

describe('an event contract', () => {
  const NoteTaken = defineEvent(
    'tests.note_taken.v1',
    Type.Object({
      title: Type.String({ minLength: 2, maxLength: 3 }),
      note: Type.Union([Type.String({ maxLength: 2 }), Type.Null()]),
      at: Type.String({ format: 'date-time', maxLength: 30 }),
    }),
  );
  const at = '2026-03-01T10:00:00Z';

  it('counts a string length in characters, as JSON Schema and the HTTP edge do, not in UTF-16 units', () => {
    expect(NoteTaken.problems({ title: '😀😀😀', note: '👩‍', at })).toEqual([]);
    expect(NoteTaken.problems({ title: '😀😀😀😀', note: null, at })).toHaveLength(1);
    expect(NoteTaken.problems({ title: '😀', note: null, at })).toHaveLength(1);
    expect(NoteTaken.problems({ title: 'abc', note: 'abc', at })).not.toEqual([]);
  });

  it('reads a pattern as a Unicode one, as JSON Schema and the HTTP edge do', () => {
    const Named = defineEvent('tests.named.v1', Type.Object({ name: Type.String({ pattern: '^[^\\p{Cc}]+$' }), short: Type.String({ maxLength: 5, pattern: '^\\p{Lu}' }) }));
    // Without the u flag \p{Cc} is the letters p, C, c and braces: "cap" was refused and a C1 control taken.
    expect(Named.problems({ name: 'cap {Cc}', short: 'Émile' })).toEqual([]);
    expect(Named.problems({ name: 'x\u009by', short: 'Émile' })).toHaveLength(1);
    expect(Named.problems({ name: 'ok', short: 'émile' })).toHaveLength(1);
    expect(Named.problems({ name: 'ok', short: 'Émiles' })).toHaveLength(1);
  });

  it('still checks the format of a bounded string', () => {
    expect(NoteTaken.problems({ title: 'abc', note: null, at: 'yesterday' })).toHaveLength(1);
  });

  it('takes a product whose SKU, title and description are as many emoji as the API allows', () => {
    const id = '0193a3b4-5c6d-7e8f-9a0b-1c2d3e4f5a6b';
    const product = {
      productId: id,
      sellerId: id,
      sku: '😀'.repeat(64),
      title: '😀'.repeat(300),
      description: '😀'.repeat(20_000),
      categoryId: id,
      categoryPath: [{ id, name: 'Things', slug: 'things' }],
      status: 'draft',
      version: 1,
      variants: [],
      images: [],
      attributes: [{ name: '😀'.repeat(100), value: '😀'.repeat(1000), searchable: true }],
      prices: [],
      createdAt: '2026-03-01T10:00:00.000Z',
      updatedAt: '2026-03-01T10:00:00.000Z',
    };
    expect(ProductCreatedV1.problems(product)).toEqual([]);
    expect(ProductCreatedV1.problems({ ...product, title: '😀'.repeat(301) })).toHaveLength(1);
  });
});
