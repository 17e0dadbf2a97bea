/**
 * Order totals, pure. All amounts are integer minor units of one currency. The database checks the
 * same sums at commit; these functions make them right before they get there.
 */

export interface LineInput {
  unitPrice: number;
  quantity: number;
  discountAmount: number;
}

export interface LineTotals {
  gross: number;
  discountAmount: number;
  lineTotal: number;
}

export interface OrderTotals {
  lines: LineTotals[];
  subtotalAmount: number;
  discountAmount: number;
  shippingAmount: number;
  totalAmount: number;
}

function assertAmount(value: number, what: string): void {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`${what} must be a non-negative integer of minor units, got ${value}`);
}

/** A sum of amounts, refused once it passes 2^53 − 1: past it a float sum rounds, and a total rounded to a safe integer would be wrong by one or more (ADR 0020). */
function exactSum(values: readonly number[], what: string): number {
  let sum = 0;
  for (const v of values) {
    sum += v;
    assertAmount(sum, what);
  }
  return sum;
}

/**
 * Splits `discount` over lines in proportion to their gross amounts (largest remainder, ties to the
 * earlier line), so the parts are integers, each at most its line's gross, and sum to `discount`.
 */
export function allocateDiscount(grossAmounts: readonly number[], discount: number): number[] {
  assertAmount(discount, 'discount');
  const total = exactSum(grossAmounts, "the lines' gross");
  if (discount > total) throw new RangeError(`discount ${discount} exceeds the lines' gross ${total}`);
  if (discount === 0 || total === 0) return grossAmounts.map(() => 0);
  // BigInt: gross × discount can pass 2^53 even when both fit.
  const shares = grossAmounts.map((g, index) => {
    const exact = BigInt(g) * BigInt(discount);
    return { index, floor: exact / BigInt(total), remainder: exact % BigInt(total) };
  });
  let left = discount - shares.reduce((sum, s) => sum + Number(s.floor), 0);
  const parts = shares.map((s) => Number(s.floor));
  const byRemainder = [...shares].sort((a, b) => (a.remainder === b.remainder ? a.index - b.index : a.remainder > b.remainder ? -1 : 1));
  for (const s of byRemainder) {
    if (left === 0) break;
    parts[s.index] = (parts[s.index] ?? 0) + 1;
    left -= 1;
  }
  return parts;
}

/**
 * The totals of one order. Coupon discounts may come already split over the lines, or as one
 * order-level amount with no line discounts, in which case it is split here; anything else is a
 * programming error of the caller.
 */
export function orderTotals(lines: readonly LineInput[], orderDiscount: number, shippingAmount: number): OrderTotals {
  assertAmount(orderDiscount, 'order discount');
  assertAmount(shippingAmount, 'shipping amount');
  const gross = lines.map((l, i) => {
    assertAmount(l.unitPrice, `line ${i} unit price`);
    assertAmount(l.discountAmount, `line ${i} discount`);
    if (!Number.isSafeInteger(l.quantity) || l.quantity <= 0) throw new RangeError(`line ${i} quantity must be a positive integer`);
    const g = l.unitPrice * l.quantity;
    assertAmount(g, `line ${i} gross`);
    return g;
  });
  const lineDiscounts = lines.map((l) => l.discountAmount);
  const lineDiscountSum = exactSum(lineDiscounts, 'the line discounts');
  let discounts: number[];
  if (lineDiscountSum === orderDiscount) discounts = lineDiscounts;
  else if (lineDiscountSum === 0) discounts = allocateDiscount(gross, orderDiscount);
  else throw new RangeError(`the order discount ${orderDiscount} differs from the sum of its line discounts ${lineDiscountSum}`);
  const result = gross.map((g, i) => {
    const d = discounts[i] ?? 0;
    if (d > g) throw new RangeError(`line ${i} discount ${d} exceeds its gross ${g}`);
    return { gross: g, discountAmount: d, lineTotal: g - d };
  });
  const subtotalAmount = exactSum(gross, 'the subtotal');
  const totalAmount = subtotalAmount - orderDiscount + shippingAmount;
  assertAmount(totalAmount, 'total');
  return { lines: result, subtotalAmount, discountAmount: orderDiscount, shippingAmount, totalAmount };
}
