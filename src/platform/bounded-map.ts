/**
 * Makes room for one more entry in a Map used as a bounded cache in insertion order (oldest first):
 * when it holds `max` entries or more, the oldest sixteenth of `max` (at least enough to get under
 * `max`) is dropped in one pass, each told to `dropped` when given.
 *
 * Why in bulk: V8 leaves a deleted entry's slot in the table until it is rehashed, and iteration
 * steps over such slots one by one, so dropping the single oldest entry on every insert
 * (`keys().next()`) scans past every entry dropped before it. Measured with Node 20 at 10,000
 * entries: about 5 µs per insert that way, about 0.17 µs in bulk. A token cache full of distinct
 * buyers' tokens paid that on every request.
 */
export function makeRoom<K, V>(map: Map<K, V>, max: number, dropped?: (key: K, value: V) => void): void {
  if (map.size < max) return;
  let drop = Math.max(map.size - max + 1, max >> 4);
  for (const [key, value] of map) {
    map.delete(key);
    dropped?.(key, value);
    if (--drop <= 0) break;
  }
}
