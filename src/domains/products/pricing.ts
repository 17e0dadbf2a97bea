/**
 * Time-versioned prices, as pure functions. A window covers [effectiveFrom, effectiveTo): the start
 * is inclusive, the end exclusive, and a null end is open. Windows of one variant and currency never
 * overlap (the database's exclusion constraint holds that), so at any instant at most one applies.
 */
export interface PriceWindowRow {
  id: string;
  variantId: string;
  currency: string;
  basePrice: number;
  discount: number;
  effectiveFrom: Date;
  effectiveTo: Date | null;
}

export function coversInstant(w: Pick<PriceWindowRow, 'effectiveFrom' | 'effectiveTo'>, at: Date): boolean {
  const t = at.getTime();
  return w.effectiveFrom.getTime() <= t && (w.effectiveTo === null || t < w.effectiveTo.getTime());
}

/** The window of one variant and currency in effect at `at`, if any. */
export function priceAt(windows: readonly PriceWindowRow[], variantId: string, currency: string, at: Date): PriceWindowRow | undefined {
  return windows.find((w) => w.variantId === variantId && w.currency === currency && coversInstant(w, at));
}

/** Every window in effect at `at` (one per variant and currency at most). */
export function currentWindows(windows: readonly PriceWindowRow[], at: Date): PriceWindowRow[] {
  return windows.filter((w) => coversInstant(w, at));
}

/** The next instant after `at` when some price of these windows starts or ends; undefined when none will. */
export function nextPriceChange(windows: readonly PriceWindowRow[], at: Date): Date | undefined {
  const t = at.getTime();
  let next = Number.POSITIVE_INFINITY;
  for (const w of windows) {
    const from = w.effectiveFrom.getTime();
    if (from > t && from < next) next = from;
    const to = w.effectiveTo?.getTime();
    if (to !== undefined && to > t && to < next) next = to;
  }
  return Number.isFinite(next) ? new Date(next) : undefined;
}

export interface NewWindow {
  effectiveFrom: Date;
  effectiveTo: Date | null;
  basePrice: number;
  discount: number;
}

/** What adding a window does: close the open window (at the new start), or nothing; or why it is refused. */
export type WindowPlan =
  | { ok: true; closeWindowId: string | null }
  | { ok: false; code: 'VALIDATION_FAILED' | 'PRICE_WINDOW_OVERLAP'; reason: string };

/**
 * Decides how a new window joins the windows of its variant and currency, as of `now`.
 * History is never rewritten: a window may not start in the past, and the only change to an
 * existing window is closing the open one at the new window's start, when the new window is open
 * too and starts after it. Any other overlap is refused (the exclusion constraint would refuse it
 * as well; checking here gives a clear reason).
 */
export function planWindow(existing: readonly PriceWindowRow[], next: NewWindow, now: Date): WindowPlan {
  if (next.discount < 0 || next.discount > next.basePrice) {
    return { ok: false, code: 'VALIDATION_FAILED', reason: 'the discount must be between 0 and the base price' };
  }
  if (next.effectiveFrom.getTime() < now.getTime()) {
    return { ok: false, code: 'VALIDATION_FAILED', reason: 'effectiveFrom must not be in the past: price history is never rewritten' };
  }
  if (next.effectiveTo !== null && next.effectiveTo.getTime() <= next.effectiveFrom.getTime()) {
    return { ok: false, code: 'VALIDATION_FAILED', reason: 'effectiveTo must be after effectiveFrom' };
  }
  const start = next.effectiveFrom.getTime();
  const end = next.effectiveTo?.getTime() ?? Number.POSITIVE_INFINITY;
  let closeWindowId: string | null = null;
  for (const w of existing) {
    const wStart = w.effectiveFrom.getTime();
    const wEnd = w.effectiveTo?.getTime() ?? Number.POSITIVE_INFINITY;
    if (wEnd <= start || end <= wStart) continue;
    if (next.effectiveTo === null && w.effectiveTo === null && wStart < start) {
      closeWindowId = w.id;
      continue;
    }
    if (next.effectiveTo === null && w.effectiveTo === null && wStart === start) {
      // Closing it at its own start would leave it empty: say so, not only "overlaps".
      return {
        ok: false,
        code: 'PRICE_WINDOW_OVERLAP',
        reason: `the open price window ${w.id} starts at the same instant (${w.effectiveFrom.toISOString()}): a new open window closes the one before it at its own start, so it must start later${wStart > now.getTime() ? ', or withdraw that scheduled window first' : ''}`,
      };
    }
    return {
      ok: false,
      code: 'PRICE_WINDOW_OVERLAP',
      reason: `the window overlaps the price window ${w.id} [${w.effectiveFrom.toISOString()}, ${w.effectiveTo?.toISOString() ?? 'open'})`,
    };
  }
  return { ok: true, closeWindowId };
}
