import { makeRoom } from '../../platform/bounded-map.ts';

/**
 * A bounded least-recently-used map with per-entry expiry, read against an injected clock. Insertion
 * order of a Map is its recency order: a hit moves the key to the end, and the oldest keys are
 * evicted (in bulk: platform/bounded-map.ts).
 */
export class LruCache<V> {
  readonly #entries = new Map<string, { value: V; expiresAtMs: number }>();

  constructor(
    readonly entriesMax: number,
    readonly nowMs: () => number,
  ) {
    if (!Number.isInteger(entriesMax) || entriesMax < 1) throw new RangeError('entriesMax must be a positive integer');
  }

  get size(): number {
    return this.#entries.size;
  }

  get(key: string): V | undefined {
    const entry = this.#entries.get(key);
    if (!entry) return undefined;
    this.#entries.delete(key);
    if (entry.expiresAtMs <= this.nowMs()) return undefined;
    this.#entries.set(key, entry);
    return entry.value;
  }

  /** Whether a live entry is held, without changing its recency. */
  has(key: string): boolean {
    const entry = this.#entries.get(key);
    return entry !== undefined && entry.expiresAtMs > this.nowMs();
  }

  set(key: string, value: V, expiresAtMs: number): void {
    this.#entries.delete(key);
    makeRoom(this.#entries, this.entriesMax);
    this.#entries.set(key, { value, expiresAtMs });
  }

  delete(key: string): void {
    this.#entries.delete(key);
  }

  clear(): void {
    this.#entries.clear();
  }
}
