import { makeRoom } from '../../platform/bounded-map.ts';

/**
 * Remembers, in this process, which variants are sold out, so a flash sale's thousands of late
 * buyers are answered without taking the item's lock or writing anything. An entry is set after a
 * commit that left available at 0, cleared at once by any change in this process that returns
 * stock (release, expiry, adjustment, receipt), and forgotten after `ttlMs` so that stock returned
 * by another process is seen within that bound.
 *
 * A mark is set with the stamp its caller took before reading the stock: stock returned in this
 * process after that read (a release while the batch that sold out was still looking up its
 * refused keys) would otherwise be undone by the late mark, and every buyer told "sold out" from
 * memory while units are there.
 */
export class SoldOutMemo {
  readonly #until = new Map<string, number>();
  /** Counts the returns of stock (each variant of a `forget`). */
  #returns = 0;
  /** Variant → the count at its latest return (bounded: the oldest go). */
  readonly #returnedAt = new Map<string, number>();
  /** The latest count among the returns dropped from #returnedAt: any of their variants may have had it. */
  #droppedAt = 0;

  readonly #dropReturn = (_variantId: string, at: number): void => {
    this.#droppedAt = Math.max(this.#droppedAt, at);
  };

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

  /** To take before reading the stock whose outcome may mark a variant sold out. */
  stamp(): number {
    return this.#returns;
  }

  /** Marks the variant sold out, unless stock of it came back in this process since `stamp` was taken. */
  markSoldOut(variantId: string, stamp: number): void {
    if (this.ttlMs <= 0) return;
    if ((this.#returnedAt.get(variantId) ?? this.#droppedAt) > stamp) return;
    this.#until.delete(variantId);
    // Bounded: when full, the oldest marks go (Map keeps insertion order), in bulk (see makeRoom).
    makeRoom(this.#until, this.entriesMax);
    this.#until.set(variantId, this.nowMs() + this.ttlMs);
  }

  /** Stock came back for these variants: they may be reservable again. */
  forget(variantIds: Iterable<string>): void {
    for (const id of variantIds) {
      this.#until.delete(id);
      this.#returns += 1;
      this.#returnedAt.delete(id);
      // Dropped one by one, each drop stepped over every slot dropped before it: a seed receiving
      // stock for 225,000 variants spent 3 % of its main thread here (see makeRoom).
      makeRoom(this.#returnedAt, this.entriesMax, this.#dropReturn);
      this.#returnedAt.set(id, this.#returns);
    }
  }

  get size(): number {
    return this.#until.size;
  }
}
