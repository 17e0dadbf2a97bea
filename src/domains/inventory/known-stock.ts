import type { StockItemRow } from './stock-item.ts';
import { makeRoom } from '../../platform/bounded-map.ts';

/**
 * The last state of a stock item this process committed or read under its lock. The batch path
 * plans the next batch from it without reading the row again, and the UPDATE only applies if the
 * row's version is still the one planned from (compare-and-set): a change by any other path or
 * process makes it miss, and the batch falls back to locking and reading the row. So the cache can
 * be stale, never wrong. Bounded: when full, the oldest entries go.
 */
export class KnownStock {
  readonly #items = new Map<string, StockItemRow>();
  constructor(readonly entriesMax = 10_000) {}

  get(variantId: string): StockItemRow | undefined {
    return this.#items.get(variantId);
  }

  set(variantId: string, row: StockItemRow): void {
    this.#items.delete(variantId);
    makeRoom(this.#items, this.entriesMax);
    this.#items.set(variantId, row);
  }

  forget(variantId: string): void {
    this.#items.delete(variantId);
  }
}
