/**
 * Hostile variants of a valid JSON value, made from its JSON Schema (as the OpenAPI document or a
 * TypeBox schema states it): each field in turn replaced by values of the wrong type, out of
 * bounds, of odd Unicode, or removed, and unknown fields added.
 *
 * A variant is `refused` when no valid request can hold it, even after the coercions Fastify's ajv
 * makes (`coerceTypes: 'array'`: "5" → 5, null → "" or 0, a scalar → [scalar]): a missing required
 * field, an unknown field, a string past maxLength, a number out of range, an object where a scalar
 * or an array goes and the other way round. Every other variant is `odd`: it may be accepted.
 */

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export interface JsonSchema {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean | JsonSchema;
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  enum?: unknown[];
  const?: unknown;
  not?: JsonSchema;
  format?: string;
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  minItems?: number;
  maxItems?: number;
  minProperties?: number;
  maxProperties?: number;
}

/** Where a variant changes the value: keys from the root; `[]` is the whole value. */
export type Path = (string | number)[];

export interface Variant {
  path: Path;
  /** The value put there, or REMOVE to take the field away. */
  value: Json | typeof REMOVE;
  refused: boolean;
  label: string;
}

export const REMOVE = Symbol('remove');

/** A value written into the JSON text as is (by toJsonText), e.g. a number literal JSON.parse turns into Infinity. */
export const rawJson = (text: string): string => `\u0001${text}\u0001`;

/** JSON text of a value, with rawJson values written as is. */
export function toJsonText(value: Json): string {
  return JSON.stringify(value).replace(/"\\u0001(.*?)\\u0001"/g, '$1');
}

/** Strings that are valid JSON text and storable, but odd: each must be answered without a server error. */
export const ODD_STRINGS: Record<string, string> = {
  emoji: '😀🛒',
  'RTL mark and override': 'a\u200Fb\u202Ec',
  'combining marks': `e\u0301${'\u0300\u0301\u0302\u0303'.repeat(8)}`,
  'U+FFFF': 'x\uFFFF',
  'U+FEFF': '\uFEFFx',
  'zero-width joiner sequence': '👩‍👩‍👧‍👦',
  'line separators': 'a\u2028b\u2029c\r\n\t',
  blank: ' ',
  'escaped-looking text': '\\u0000 %00 \\x00',
  'quote and markup': `' OR '1'='1"; <script>alert(1)</script>`,
  'number as text': '1e308',
};

/** Valid RFC 3339 instants at the edges of what JavaScript and PostgreSQL hold. */
export const ODD_INSTANTS: Record<string, string> = {
  'year 0': '0000-01-01T00:00:00Z',
  'year 9999 ending in year 10000 UTC': '9999-12-31T23:59:59-23:59',
  'the Unix epoch': '1970-01-01T00:00:00Z',
  'nanoseconds': '2030-01-01T00:00:00.123456789Z',
  'a far offset': '2030-01-01T00:00:00+23:59',
};

const ODD_NUMBERS: Record<string, number> = {
  '2^53': 2 ** 53,
  '-2^53': -(2 ** 53),
  '1e308': 1e308,
  '-1e308': -1e308,
  '-0': -0,
  'max int32 + 1': 2 ** 31,
  'min int32 - 1': -(2 ** 31) - 1,
};

function typesOf(schema: JsonSchema): string[] {
  if (schema.anyOf) return [...new Set(schema.anyOf.flatMap(typesOf))];
  if (schema.type !== undefined) return [schema.type].flat();
  if (schema.enum) return [...new Set(schema.enum.map((e) => (e === null ? 'null' : typeof e)))];
  if (schema.const !== undefined) return [typeof schema.const];
  return [];
}

/** The branch that is not null (nullable fields are `anyOf: [T, null]`), or the schema itself. */
function mainBranch(schema: JsonSchema): JsonSchema {
  if (!schema.anyOf) return schema;
  const branches = schema.anyOf.filter((b) => !typesOf(b).includes('null'));
  if (branches.length === 1) return mainBranch(branches[0]!);
  // A union of string literals (TypeBox's Union of Literal) is an enum.
  if (branches.every((b) => b.enum || b.const !== undefined)) return { type: 'string', enum: branches.flatMap((b) => b.enum ?? [b.const]) };
  return schema;
}

function nested(depth: number): Json {
  let value: Json = 'deep';
  for (let i = 0; i < depth; i++) value = i % 2 === 0 ? { a: value } : [value];
  return value;
}

/** The values that no valid request can hold at a field of this schema. */
function refusedValues(schema: JsonSchema, base: Json | undefined): [string, Json][] {
  const s = mainBranch(schema);
  const types = typesOf(s);
  const out: [string, Json][] = [];
  // ajv coerces "", 0 and false to null where null is allowed: those may be accepted there.
  if (typesOf(schema).includes('null')) return refusedValues(s, base).filter(([, v]) => v !== '' && v !== 0 && v !== false);
  if (types.includes('string')) {
    if (s.maxLength !== undefined) {
      out.push(['just over maxLength', 'a'.repeat(s.maxLength + 1)]);
      out.push(['far over maxLength', 'a'.repeat(Math.min(s.maxLength * 20 + 1, 100_000))]);
    }
    if ((s.minLength ?? 0) > 0) out.push(['empty string', '']);
    if (s.format === 'uuid') out.push(['not a uuid', 'not-a-uuid'], ['urn:uuid', 'urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66']);
    if (s.format === 'date-time') out.push(['31 February', '2026-02-31T00:00:00Z'], ['leap second', '2026-06-30T23:59:60Z'], ['date only', '2026-06-30']);
    if (s.enum) out.push(['not in the enum', 'no-such-value']);
  }
  if (types.includes('integer') || types.includes('number')) {
    if (s.maximum !== undefined) out.push(['over maximum', s.maximum + 1]);
    if (s.minimum !== undefined) out.push(['under minimum', s.minimum - 1]);
    if (types.includes('integer') && !types.includes('number')) out.push(['fraction', 1.5]);
    out.push(['NaN as text', 'NaN'], ['Infinity as text', 'Infinity'], ['-Infinity as text', '-Infinity'], ['1e999 as text', '1e999'], ['1e999', rawJson('1e999')]);
    if (s.not?.enum) for (const v of s.not.enum) out.push([`forbidden ${JSON.stringify(v)}`, v as Json]);
  }
  if (types.includes('boolean')) out.push(['not a boolean', 'maybe']);
  if (types.includes('object')) {
    out.push(['array for an object', []], ['string for an object', 'x'], ['number for an object', 42]);
  } else if (types.includes('array')) {
    out.push(['object for an array', {}]);
    const item = Array.isArray(base) ? base[0] : undefined;
    if (s.maxItems !== undefined && item !== undefined) out.push(['one item over maxItems', Array(s.maxItems + 1).fill(item)]);
    if ((s.minItems ?? 0) > 0) out.push(['empty array', []]);
  } else if (types.length > 0 && !types.includes('null')) {
    out.push(['object for a scalar', {}], ['empty array for a scalar', []], ['nested object for a scalar', { a: { b: [1] } }]);
  }
  return out;
}

/** Values that may be accepted but must never be a server error. */
function oddValues(schema: JsonSchema): [string, Json][] {
  const s = mainBranch(schema);
  const types = typesOf(s);
  const out: [string, Json][] = [
    ['null', null],
    ['true', true],
    ['deeply nested', nested(60)],
  ];
  if (types.includes('integer') || types.includes('number')) {
    for (const [label, n] of Object.entries(ODD_NUMBERS)) out.push([label, n]);
    if (s.maximum !== undefined) out.push(['the maximum', s.maximum]);
    if (s.minimum !== undefined) out.push(['the minimum', s.minimum]);
    out.push(['number as text', '7'], ['zero', 0]);
  } else {
    out.push(['number', 7], ['2^53', 2 ** 53], ['1e308', 1e308]);
  }
  if (types.includes('string') || types.length === 0) {
    for (const [label, text] of Object.entries(ODD_STRINGS)) out.push([label, text]);
    out.push(['empty string', '']);
    if (s.format === 'date-time') {
      for (const [label, instant] of Object.entries(ODD_INSTANTS)) out.push([label, instant]);
    }
    const max = s.maxLength;
    if (max !== undefined && max > 0) {
      // maxLength counts code points: as many 4-byte characters as allowed, 4 × maxLength bytes.
      out.push(['maxLength', 'm'.repeat(max)], ['maxLength of 4-byte characters', '😀'.repeat(max)]);
      out.push(['maxLength of combining marks', `a${'\u0301'.repeat(max - 1)}`]);
    }
  }
  if (types.includes('array') && types.length === 1) out.push(['a scalar for an array', 'x'], ['array of nulls', [null, null]]);
  return out;
}

function valueAt(value: Json | undefined, key: string | number): Json | undefined {
  if (value === null || typeof value !== 'object') return undefined;
  return (value as Record<string | number, Json>)[key];
}

/** Every hostile variant of `base` (a valid value of `schema`), each changing one place. */
export function hostileVariants(schema: JsonSchema, base: Json): Variant[] {
  const variants: Variant[] = [];
  const walk = (node: JsonSchema, value: Json | undefined, path: Path): void => {
    const s = mainBranch(node);
    if (path.length > 0) {
      for (const [label, v] of refusedValues(node, value)) variants.push({ path, value: v, refused: true, label });
      for (const [label, v] of oddValues(s)) variants.push({ path, value: v, refused: false, label });
    }
    if (value === undefined) return;
    if (s.properties) {
      for (const key of s.required ?? []) variants.push({ path: [...path, key], value: REMOVE, refused: true, label: 'missing required field' });
      if (s.additionalProperties === false) {
        variants.push({ path: [...path, 'unexpectedField'], value: 1, refused: true, label: 'unknown field' });
        variants.push({ path: [...path, '__proto__'], value: { admin: true }, refused: false, label: '__proto__ field' });
      }
      for (const [key, child] of Object.entries(s.properties)) walk(child, valueAt(value, key), [...path, key]);
    }
    if (s.additionalProperties && typeof s.additionalProperties === 'object') {
      // A map (name → value): odd names, and each present entry's value.
      for (const [label, key] of Object.entries({ 'empty name': '', 'emoji name': '😀', 'long name': 'n'.repeat(300), 'constructor name': 'constructor' })) {
        variants.push({ path: [...path, key], value: 'v', refused: false, label });
      }
      if (s.maxProperties !== undefined) {
        const tooMany = Object.fromEntries(Array.from({ length: s.maxProperties + 1 }, (_, i) => [`k${i}`, 'v']));
        variants.push({ path, value: tooMany, refused: true, label: 'one entry over maxProperties' });
      }
      const first = value && typeof value === 'object' && !Array.isArray(value) ? Object.keys(value)[0] : undefined;
      if (first !== undefined) walk(s.additionalProperties, valueAt(value, first), [...path, first]);
    }
    if (s.items && Array.isArray(value) && value.length > 0) walk(s.items, value[0], [...path, 0]);
  };
  walk(schema, base, []);
  return variants;
}

/** `base` with the variant applied (base is not changed). */
export function applyVariant(base: Json, variant: Pick<Variant, 'path' | 'value'>): Json | typeof REMOVE {
  if (variant.path.length === 0) return variant.value;
  const copy = structuredClone(base);
  let parent = copy as Record<string | number, Json>;
  for (const key of variant.path.slice(0, -1)) parent = parent[key] as Record<string | number, Json>;
  const last = variant.path[variant.path.length - 1]!;
  if (variant.value === REMOVE) delete parent[last];
  else if (last === '__proto__') Object.defineProperty(parent, last, { value: variant.value, enumerable: true, configurable: true, writable: true });
  else parent[last] = variant.value;
  return copy;
}

export function describePath(path: Path): string {
  return path.length === 0 ? '(the body)' : path.join('.');
}
