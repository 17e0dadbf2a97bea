/**
 * The first thing `pick` answers for a value's leaves and keys, walking objects and arrays (as
 * JSON.parse and the query parser make them) with a stack of its own, so a deeply nested body
 * cannot overflow the call stack. Anything else (a raw webhook Buffer) is a leaf.
 */
export function findInJson<T>(value: unknown, pick: (leafOrKey: unknown) => T | undefined): T | undefined {
  const pending: unknown[] = [value];
  while (pending.length > 0) {
    const v = pending.pop();
    if (Array.isArray(v)) {
      for (const item of v) pending.push(item);
    } else if (v !== null && typeof v === 'object' && !ArrayBuffer.isView(v)) {
      // Objects as JSON.parse and the query parser make them (the latter on a prototype of its own).
      for (const [key, item] of Object.entries(v)) {
        const found = pick(key);
        if (found !== undefined) return found;
        pending.push(item);
      }
    } else {
      const found = pick(v);
      if (found !== undefined) return found;
    }
  }
  return undefined;
}
