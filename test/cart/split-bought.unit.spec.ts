import { describe, expect, it } from 'vitest';
import { splitBought } from '../../src/domains/cart/check-out.ts';

const line = (id: string, variantId: string, quantity: number) => ({ id, cartId: 'c', productId: `p-${variantId}`, variantId, quantity, addedAt: new Date(0) });

describe('what a checkout bought, and what the cart holds beyond it', () => {
  it('covers each line by the units bought from it, and leaves the rest', () => {
    const items = [line('1', 'a', 3), line('2', 'b', 1), line('4', 'c', 1)];
    const { checkedOut, left } = splitBought(items, [
      { variantId: 'a', quantity: 2, itemId: '1' },
      { variantId: 'b', quantity: 1, itemId: '2' },
    ]);
    expect(checkedOut.map((i) => [i.id, i.quantity])).toEqual([
      ['1', 2],
      ['2', 1],
    ]);
    expect(left.map((i) => [i.id, i.quantity])).toEqual([
      ['1', 1],
      ['4', 1],
    ]);
  });

  it('leaves nothing when the cart is what was bought', () => {
    const items = [line('1', 'a', 2), line('2', 'b', 5)];
    expect(
      splitBought(items, [
        { variantId: 'a', quantity: 2, itemId: '1' },
        { variantId: 'b', quantity: 5, itemId: '2' },
      ]).left,
    ).toEqual([]);
  });

  it('covers only the line a bought line names: a line removed and added again while the checkout ran was not bought (found by a helper: its unit was lost)', () => {
    // Line 1 (2 of a) was bought; the buyer then removed it and added 1 of a again (line 9), and raised b.
    const items = [line('9', 'a', 1), line('2', 'b', 3)];
    const { checkedOut, left } = splitBought(items, [
      { variantId: 'a', quantity: 2, itemId: '1' },
      { variantId: 'b', quantity: 1, itemId: '2' },
    ]);
    expect(checkedOut.map((i) => [i.id, i.quantity])).toEqual([['2', 1]]);
    expect(left.map((i) => [i.id, i.quantity])).toEqual([
      ['9', 1],
      ['2', 2],
    ]);
    // Ids are compared whatever their case.
    expect(splitBought([line('0190ABCD', 'a', 2)], [{ variantId: 'A', quantity: 2, itemId: '0190abcd' }]).left).toEqual([]);
  });
});
