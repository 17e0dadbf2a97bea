/**
 * Which requests of a batch get stock: first come, first served, in arrival order. A request that
 * does not fit is refused while later, smaller ones may still fit (first fit), so one large order
 * cannot block a queue of single units. Pure, so the batch path and its tests share it.
 */
export interface AllocationResult {
  /** Per request, in order: granted or not, and what was available when it was considered. */
  decisions: { granted: boolean; availableBefore: number }[];
  grantedTotal: number;
  availableAfter: number;
}

export function allocate(available: number, quantities: readonly number[]): AllocationResult {
  if (!Number.isInteger(available) || available < 0) throw new RangeError(`available must be a non-negative integer, got ${available}`);
  let remaining = available;
  const decisions = quantities.map((quantity) => {
    if (!Number.isInteger(quantity) || quantity <= 0) throw new RangeError(`quantity must be a positive integer, got ${quantity}`);
    const availableBefore = remaining;
    const granted = quantity <= remaining;
    if (granted) remaining -= quantity;
    return { granted, availableBefore };
  });
  return { decisions, grantedTotal: available - remaining, availableAfter: remaining };
}
