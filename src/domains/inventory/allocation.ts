/**
 * Which requests of a batch get stock: first come, first served, in arrival order. A request that
 * does not fit is refused while later, smaller ones may still fit (first fit), so one large order
 * cannot block a queue of single units. With a per-buyer limit, a request that would take its buyer
 * past it is refused as such (and takes nothing), whatever the stock; the units a buyer is granted in
 * the batch count against its later requests. Pure, so the batch path and its tests share it.
 */
export interface AllocationResult {
  /**
   * Per request, in order: granted or not, what was available when it was considered and, when the
   * buyer's limit refused it, the units the buyer held by then (including this batch's grants).
   */
  decisions: { granted: boolean; availableBefore: number; overLimit?: { held: number } }[];
  grantedTotal: number;
  availableAfter: number;
}

/** A seller's limit of units per buyer: the requests' buyers, in order, and what each holds already. */
export interface BuyerLimit {
  maxPerBuyer: number;
  owners: readonly string[];
  held: ReadonlyMap<string, number>;
}

export function allocate(available: number, quantities: readonly number[], limit?: BuyerLimit): AllocationResult {
  if (!Number.isInteger(available) || available < 0) throw new RangeError(`available must be a non-negative integer, got ${available}`);
  if (limit && limit.owners.length !== quantities.length) throw new RangeError('a limit names the buyer of every request');
  let remaining = available;
  const held = new Map(limit?.held);
  const decisions = quantities.map((quantity, i) => {
    if (!Number.isInteger(quantity) || quantity <= 0) throw new RangeError(`quantity must be a positive integer, got ${quantity}`);
    const availableBefore = remaining;
    const owner = limit?.owners[i];
    if (limit && owner !== undefined) {
      const units = held.get(owner) ?? 0;
      if (units + quantity > limit.maxPerBuyer) return { granted: false, availableBefore, overLimit: { held: units } };
      if (quantity <= remaining) held.set(owner, units + quantity);
    }
    const granted = quantity <= remaining;
    if (granted) remaining -= quantity;
    return { granted, availableBefore };
  });
  return { decisions, grantedTotal: available - remaining, availableAfter: remaining };
}
