import type { Static, TSchema } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { FormatRegistry } from '@sinclair/typebox';

// The formats contracts may use; TypeBox's checker knows none by itself.
const FORMATS: Record<string, RegExp> = {
  uuid: /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i,
  'date-time': /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/,
  date: /^\d{4}-\d{2}-\d{2}$/,
  email: /^[^\s@]+@[^\s@]+$/,
};
for (const [name, pattern] of Object.entries(FORMATS)) {
  if (!FormatRegistry.Has(name)) FormatRegistry.Set(name, (value) => pattern.test(value) && (name !== 'date-time' || !Number.isNaN(Date.parse(value))));
}

/** A versioned event contract: its type name (past tense, `domain.fact.vN`) and its payload schema. */
export interface EventContract<S extends TSchema = TSchema> {
  readonly type: string;
  readonly schema: S;
  /** Returns the reasons the payload breaks the contract; empty when it is valid. */
  problems(data: unknown): string[];
}

export type PayloadOf<C> = C extends EventContract<infer S> ? Static<S> : never;

const EVENT_TYPE = /^[a-z_]+\.[a-z_]+\.v[0-9]+$/;

export function defineEvent<S extends TSchema>(type: string, schema: S): EventContract<S> {
  if (!EVENT_TYPE.test(type)) throw new Error(`event type "${type}" must look like domain.fact_in_past_tense.v1`);
  const checker = compileInCharacters(schema);
  return {
    type,
    schema,
    problems(data) {
      if (checker.Check(data)) return [];
      return [...checker.Errors(data)].slice(0, 10).map((e) => `${e.path || '/'}: ${e.message}`);
    },
  };
}

/**
 * TypeBox's compiled checker of a schema, counting string lengths in characters as JSON Schema (and
 * the HTTP edge) does: every check of a payload inside bazaar (contracts, the inputs one domain's API
 * takes from another, webhook bodies) compiles its schema with this, never TypeCompiler alone.
 */
export function compileInCharacters<S extends TSchema>(schema: S) {
  return TypeCompiler.Compile(lengthsInCharacters(schema));
}

/**
 * A copy of a schema in which TypeBox's checker counts a string's length in characters (code
 * points), as JSON Schema says and the HTTP edge (ajv) does. TypeBox counts UTF-16 units: a product
 * title of 300 emoji, which the API takes, broke a contract of maxLength 300 and the product could
 * not be created. Each bounded string is checked by a format that counts characters instead.
 */
function lengthsInCharacters<S extends TSchema>(schema: S): S {
  const copy = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(copy);
    if (node === null || typeof node !== 'object') return node;
    const out: Record<PropertyKey, unknown> = {};
    for (const key of Reflect.ownKeys(node)) out[key] = copy((node as Record<PropertyKey, unknown>)[key]);
    if (out.type === 'string' && (typeof out.minLength === 'number' || typeof out.maxLength === 'number' || typeof out.pattern === 'string')) {
      out.format = stringFormat(
        (out.minLength as number | undefined) ?? 0,
        (out.maxLength as number | undefined) ?? Number.POSITIVE_INFINITY,
        out.format as string | undefined,
        out.pattern as string | undefined,
      );
      delete out.minLength;
      delete out.maxLength;
      delete out.pattern;
    }
    return out;
  };
  return copy(schema) as S;
}

/**
 * A format checking a string's length in characters and, when given, its pattern as a Unicode
 * regular expression: JSON Schema patterns are (ajv compiles them with the u flag), and TypeBox's own
 * pattern check has no flag, so `\p{Cc}` in a pattern meant the letters p, C, c and braces there.
 */
function stringFormat(min: number, max: number, inner: string | undefined, pattern: string | undefined): string {
  const name = `${inner ? `${inner} of ` : ''}${min} to ${max} characters${pattern === undefined ? '' : ` matching /${pattern}/u`}`;
  if (!FormatRegistry.Has(name)) {
    const innerCheck = inner === undefined ? undefined : FormatRegistry.Get(inner);
    if (inner !== undefined && !innerCheck) throw new Error(`format "${inner}" is not registered`);
    const matches = pattern === undefined ? undefined : new RegExp(pattern, 'u');
    FormatRegistry.Set(name, (value) => {
      let characters = 0;
      for (const _ of value) if (++characters > max) return false;
      return characters >= min && (matches?.test(value) ?? true) && (innerCheck?.(value) ?? true);
    });
  }
  return name;
}
