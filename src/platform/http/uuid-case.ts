import { isUuid } from '../ids.ts';

/**
 * Ids are compared as text everywhere but in PostgreSQL (cache keys, a request's own duplicate
 * checks, event contracts that name the lowercase form), while a client may send a UUID in capitals
 * (RFC 9562 reads them the same). So every value a route's schema declares `format: 'uuid'`, in its
 * path, query or body, is lowercased once, after validation, before any handler sees it.
 */
type Lowercase = (value: unknown) => unknown;

const compiled = new WeakMap<object, Lowercase | null>();

function lowercaseUuid(value: unknown): unknown {
  return typeof value === 'string' && value !== value.toLowerCase() && isUuid(value) ? value.toLowerCase() : value;
}

/** What lowercases the uuids `schema` declares in a value (in place, for objects and arrays); null if it declares none. */
function compile(schema: unknown): Lowercase | null {
  if (typeof schema !== 'object' || schema === null) return null;
  const s = schema as { format?: unknown; properties?: Record<string, unknown>; items?: unknown; anyOf?: unknown[]; oneOf?: unknown[]; allOf?: unknown[] };
  if (s.format === 'uuid') return lowercaseUuid;
  const parts: Lowercase[] = [];
  if (s.properties) {
    const fields = Object.entries(s.properties).flatMap(([name, sub]) => {
      const fix = compile(sub);
      return fix ? [[name, fix] as const] : [];
    });
    if (fields.length > 0) {
      parts.push((value) => {
        if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
          const record = value as Record<string, unknown>;
          for (const [name, fix] of fields) if (record[name] !== undefined) record[name] = fix(record[name]);
        }
        return value;
      });
    }
  }
  const item = compile(s.items);
  if (item) {
    parts.push((value) => {
      if (Array.isArray(value)) for (let i = 0; i < value.length; i++) value[i] = item(value[i]);
      return value;
    });
  }
  // A union's branches each fix only what they declare: applying all of them is safe.
  for (const branch of [...(s.anyOf ?? []), ...(s.oneOf ?? []), ...(s.allOf ?? [])]) {
    const fix = compile(branch);
    if (fix) parts.push(fix);
  }
  if (parts.length === 0) return null;
  if (parts.length === 1) return parts[0] as Lowercase;
  return (value) => parts.reduce((v, fix) => fix(v), value);
}

/** Lowercases, in place where it can, the uuids of `value` that `schema` declares; returns the value. */
export function lowercaseUuids(schema: object | undefined, value: unknown): unknown {
  if (!schema || value === undefined || value === null) return value;
  let fix = compiled.get(schema);
  if (fix === undefined) {
    fix = compile(schema);
    compiled.set(schema, fix);
  }
  return fix ? fix(value) : value;
}
