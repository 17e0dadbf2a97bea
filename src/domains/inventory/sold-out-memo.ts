import { makeRoom } from '../../platform/bounded-map.ts';

/**
 * Remembers, in this process, which variants are sold out, so a flash sale's thousands of late
 * buyers are answered without taking the item's lock or writing anything. An entry is set after a
 * commit that left available at 0, cleared at once by any change in this process that returns
 * stock (release, expiry, adjustment, receipt), and forgotten after `ttlMs` so that stock returned
 * by another process is seen within that bound.
 */
export class SoldOutMemo {
  readonly #until = new Map<string, number>();
  constructor(
    readonly ttlMs: number,
    readonly entriesMax = 100_000,
    readonly nowMs: () => number = () => performance.now(),
  ) {}

  isSoldOut(variantId: string): boolean {
    const until = this.#until.get(variantId);
    if (until === undefined) return false;
    if (this.nowMs() < until) return true;
    this.#until.delete(variantId);
    return false;
  }

  markSoldOut(variantId: string): void {
    if (this.ttlMs <= 0) return;
    // Bounded: when full, the oldest marks go (Map keeps insertion order).
    this.#until.delete(variantId);
    makeRoom(this.#until, this.entriesMax);
    this.#until.set(variantId, this.nowMs() + this.ttlMs);
  }

  /** Stock came back for these variants: they may be reservable again. */
  forget(variantIds: Iterable<string>): void {
    for (const id of variantIds) this.#until.delete(id);
  }

  get size(): number {
    return this.#until.size;
  }
}
