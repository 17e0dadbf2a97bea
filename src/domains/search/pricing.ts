import type { PriceWindow } from '../../contracts/products.ts';

/** A variant as the search view keeps it for pricing. */
export interface PricedVariant {
  variantId: string;
  position: number;
  listPrice: { amount: number; currency: string };
}

export interface PriceRange {
  currency: string;
  min: number;
  max: number;
}

function covers(w: PriceWindow, t: number): boolean {
  return Date.parse(w.effectiveFrom) <= t && (w.effectiveTo === null || t < Date.parse(w.effectiveTo));
}

/**
 * The product's price range at `at`, pure: in the currency of its first variant's list price, each
 * variant costs what the window in effect then says (base price minus discount). A variant without
 * a window in effect then (its first price starts later, say) cannot be bought at that instant, as
 * the catalog and the cart say, and is left out; so are variants priced only in other currencies.
 * Undefined when no variant has a price then.
 */
export function priceRangeAt(variants: readonly PricedVariant[], windows: readonly PriceWindow[], at: Date): PriceRange | undefined {
  const first = [...variants].sort((a, b) => a.position - b.position || a.variantId.localeCompare(b.variantId))[0];
  if (!first) return undefined;
  const currency = first.listPrice.currency;
  const t = at.getTime();
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  for (const v of variants) {
    const w = windows.find((x) => x.variantId === v.variantId && x.currency === currency && covers(x, t));
    if (!w) continue;
    const price = w.basePrice - w.discount;
    min = Math.min(min, price);
    max = Math.max(max, price);
  }
  return Number.isFinite(min) ? { currency, min, max } : undefined;
}

/** Every instant a window starts or ends, in order, once each. */
function boundaries(windows: readonly PriceWindow[]): number[] {
  const all = new Set<number>();
  for (const w of windows) {
    all.add(Date.parse(w.effectiveFrom));
    if (w.effectiveTo !== null) all.add(Date.parse(w.effectiveTo));
  }
  return [...all].sort((a, b) => a - b);
}

/** The first instant after `at` when a window starts or ends (prices may change then); null when none does. */
export function nextBoundaryAfter(windows: readonly PriceWindow[], at: Date): Date | null {
  const t = at.getTime();
  const next = boundaries(windows).find((b) => b > t);
  return next === undefined ? null : new Date(next);
}

/** The last instant at or before `at` when a window starts or ends; null when none has yet. */
export function lastBoundaryAtOrBefore(windows: readonly PriceWindow[], at: Date): Date | null {
  const t = at.getTime();
  const last = boundaries(windows).filter((b) => b <= t).at(-1);
  return last === undefined ? null : new Date(last);
}

/** Applies a price change to the windows kept: the new window joins, and the window it closed ends where it starts. */
export function withPriceChange(windows: readonly PriceWindow[], change: PriceWindow & { closedPriceId: string | null }): PriceWindow[] {
  const { closedPriceId, ...added } = change;
  const kept = windows
    .filter((w) => w.priceId !== added.priceId)
    .map((w) => (w.priceId === closedPriceId ? { ...w, effectiveTo: added.effectiveFrom } : w));
  return [...kept, added];
}

/** The windows without a withdrawn one; the window it had closed runs on to `extendedTo`. */
export function withPriceWithdrawal(windows: readonly PriceWindow[], withdrawal: { priceId: string; extendedPriceId: string | null; extendedTo: string | null }): PriceWindow[] {
  return windows
    .filter((w) => w.priceId !== withdrawal.priceId)
    .map((w) => (w.priceId === withdrawal.extendedPriceId ? { ...w, effectiveTo: withdrawal.extendedTo } : w));
}

/** Attribute name to its distinct values (sorted), from the searchable product attributes and the variants' attributes. */
export function attributeValues(
  attributes: readonly { name: string; value: string; searchable: boolean }[],
  variantAttributes: readonly Record<string, string>[],
): Record<string, string[]> {
  const values = new Map<string, Set<string>>();
  const add = (name: string, value: string) => {
    const set = values.get(name) ?? new Set<string>();
    set.add(value);
    values.set(name, set);
  };
  for (const a of attributes) if (a.searchable) add(a.name, a.value);
  for (const v of variantAttributes) for (const [name, value] of Object.entries(v)) add(name, value);
  return Object.fromEntries([...values].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([name, set]) => [name, [...set].sort()]));
}
