import { describe, expect, it } from 'vitest';
import { decideAdd, refusalToChange } from '../../src/domains/cart/cart-rules.ts';
import type { CatalogVariant } from '../../src/domains/cart/index.ts';
import { newId } from '../../src/platform/ids.ts';

function variant(overrides: Partial<CatalogVariant> = {}): CatalogVariant {
  return {
    variantId: newId(),
    productId: newId(),
    sellerId: newId(),
    sku: 'V-1',
    title: 'Thing',
    attributes: {},
    imageUrl: null,
    published: true,
    listPrice: { amount: 1000, currency: 'USD' },
    price: { amount: 1000, currency: 'USD' },
    ...overrides,
  };
}

const add = (overrides: Partial<Parameters<typeof decideAdd>[0]> = {}) =>
  decideAdd({ variantId: 'v', variant: variant(), available: 10, existingQuantity: undefined, addedQuantity: 1, lineCount: 0, ...overrides });

describe('adding to a cart', () => {
  it('takes a new line for a variant not in the cart', () => {
    expect(add({ addedQuantity: 3 })).toEqual({ ok: true, quantity: 3, isNewLine: true });
  });

  it('raises the quantity of the line a variant already has', () => {
    expect(add({ existingQuantity: 4, addedQuantity: 3, lineCount: 50 })).toEqual({ ok: true, quantity: 7, isNewLine: false });
  });

  it("takes a line of exactly the seller's limit per buyer", () => {
    expect(add({ maxPerBuyer: 2, existingQuantity: 1, addedQuantity: 1 })).toEqual({ ok: true, quantity: 2, isNewLine: false });
  });

  it.each([
    ['an unknown variant', { variant: undefined }, 'NOT_FOUND'],
    ['a variant of a draft or unlisted product', { variant: variant({ published: false }) }, 'VARIANT_NOT_AVAILABLE'],
    ['a variant without a price now', { variant: variant({ price: null }) }, 'VARIANT_NOT_AVAILABLE'],
    ['a variant out of stock', { available: 0 }, 'OUT_OF_STOCK'],
    ['more than the stock once the line is counted', { available: 5, existingQuantity: 4, addedQuantity: 2 }, 'OUT_OF_STOCK'],
    ['a line over 999 units', { available: 5000, existingQuantity: 990, addedQuantity: 10 }, 'CART_LIMIT_EXCEEDED'],
    ['a 51st line', { lineCount: 50 }, 'CART_LIMIT_EXCEEDED'],
    ["a line over the seller's limit per buyer", { maxPerBuyer: 2, addedQuantity: 3 }, 'PURCHASE_LIMIT_EXCEEDED'],
    ["a line raised over the seller's limit per buyer", { maxPerBuyer: 2, existingQuantity: 2, addedQuantity: 1 }, 'PURCHASE_LIMIT_EXCEEDED'],
  ] as const)('refuses %s', (_name, overrides, code) => {
    const d = add(overrides);
    expect(d.ok).toBe(false);
    expect(!d.ok && d.error.code).toBe(code);
  });
});

describe('changing a quantity', () => {
  it('always allows lowering it, even for a variant no longer on sale', () => {
    expect(refusalToChange({ variantId: 'v', variant: undefined, available: 0, from: 5, to: 2 })).toBeUndefined();
  });

  it('needs the variant on sale and in stock to raise it', () => {
    expect(refusalToChange({ variantId: 'v', variant: variant(), available: 3, from: 2, to: 3 })).toBeUndefined();
    expect(refusalToChange({ variantId: 'v', variant: variant(), available: 3, from: 2, to: 4 })?.code).toBe('OUT_OF_STOCK');
    expect(refusalToChange({ variantId: 'v', variant: variant({ published: false }), available: 9, from: 2, to: 4 })?.code).toBe('VARIANT_NOT_AVAILABLE');
    expect(refusalToChange({ variantId: 'v', variant: variant(), available: 9, maxPerBuyer: 3, from: 2, to: 4 })?.code).toBe('PURCHASE_LIMIT_EXCEEDED');
    expect(refusalToChange({ variantId: 'v', variant: variant(), available: 9, maxPerBuyer: 3, from: 2, to: 3 })).toBeUndefined();
  });
});
