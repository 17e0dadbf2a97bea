import { FormatRegistry, type Static, type TSchema, Type } from '@sinclair/typebox';
import { COUNTRY_FORMAT, isCountryCode } from './countries.ts';
import { CURRENCY_FORMAT, isCurrencyCode } from './currencies.ts';
import { ERROR_CATALOGUE, type ErrorCode } from './errors.ts';

/** Shared schema pieces for routes: problem details, money, pagination. */

/** Every code a problem can carry, in the catalogue's order: the catalogue is the one list. */
export const ERROR_CODES = Object.keys(ERROR_CATALOGUE) as ErrorCode[];

export const ProblemSchema = Type.Object(
  {
    type: Type.String(),
    title: Type.String(),
    status: Type.Integer(),
    code: Type.Unsafe<ErrorCode>(Type.String({ enum: ERROR_CODES, description: 'Stable: clients branch on it, not on title or detail' })),
    detail: Type.Optional(Type.String()),
    instance: Type.Optional(Type.String()),
  },
  { additionalProperties: true, $id: 'Problem', description: 'RFC 9457 problem details with a stable code' },
);

/**
 * An error answer of a route, for its `response` map: problems are sent as
 * `application/problem+json` (server.ts), so that is the content type they are described and
 * serialized under. The schema is shared (added to the app once, server.ts), so the OpenAPI
 * document holds it once, as `#/components/schemas/Problem`.
 */
export const ProblemResponse = {
  description: 'RFC 9457 problem details with a stable code',
  content: { 'application/problem+json': { schema: Type.Ref(ProblemSchema) } },
} as const;

/**
 * An object whose property names follow `names` and whose values follow `values` (a route schema:
 * validated by ajv). TypeBox's Record puts the name rule in `patternProperties`, which the OpenAPI
 * document turns into plain `additionalProperties`, dropping the rule (a client following the
 * document got a 400 it could not foresee); `propertyNames` keeps it, there and in the 400's text.
 */
export function NamedRecord<V extends TSchema>(names: { pattern?: string; maxLength?: number; minLength?: number }, values: V, options: { maxProperties?: number; description?: string } = {}) {
  return Type.Unsafe<Record<string, Static<V>>>({ type: 'object', propertyNames: names, additionalProperties: values, ...options });
}

/**
 * Whether a route schema restricts property names by `patternProperties` (other than TypeBox's
 * catch-all for a Record of any name), which the OpenAPI document would not show: the server
 * refuses such a route (use NamedRecord).
 */
export function namesRuleLost(schema: unknown): string | undefined {
  if (schema === null || typeof schema !== 'object') return undefined;
  const patterns = (schema as { patternProperties?: Record<string, unknown> }).patternProperties;
  const lost = patterns ? Object.keys(patterns).find((key) => key !== '^(.*)$') : undefined;
  if (lost !== undefined) return lost;
  for (const value of Object.values(schema)) {
    const found = namesRuleLost(value);
    if (found !== undefined) return found;
  }
  return undefined;
}

export const MoneySchema = Type.Object(
  {
    amount: Type.Integer({ description: 'Integer minor units (cents)' }),
    currency: Type.String({ pattern: '^[A-Z]{3}$', description: 'ISO 4217 code' }),
  },
  { additionalProperties: false },
);

/**
 * Money summed over many orders (a ledger balance, a seller's revenue): exact integer minor units,
 * which may pass 2^53 where a single amount never does (sent as a JSON integer of every digit).
 */
export const TotalMoneySchema = Type.Object(
  {
    amount: Type.Unsafe<number | bigint>({
      type: 'integer',
      description: 'Integer minor units, exact: a sum may exceed 2^53 − 1 (9007199254740991); read it with a JSON parser that keeps big integers',
    }),
    currency: Type.String({ pattern: '^[A-Z]{3}$', description: 'ISO 4217 code' }),
  },
  { additionalProperties: false },
);

export const UuidSchema = Type.String({ format: 'uuid' });

/**
 * A parameter with a default: the client may leave it out, so it is optional in the schema (and the
 * OpenAPI document), and validation fills the default in (ajv `useDefaults`), so a handler always
 * reads a value: its type stays the required one.
 */
export function Defaulted<T extends TSchema>(schema: T): T {
  if (schema.default === undefined) throw new Error('Defaulted: the schema has no default');
  return Type.Optional(schema) as unknown as T;
}

export const PageQuerySchema = {
  cursor: Type.Optional(Type.String({ maxLength: 500 })),
  limit: Defaulted(Type.Integer({ minimum: 1, maximum: 100, default: 20 })),
};

export function pageOf<T extends TSchema>(item: T) {
  return Type.Object({ items: Type.Array(item), nextCursor: Type.Union([Type.String(), Type.Null()]) });
}

/** Problem responses every authenticated route can give, for the OpenAPI description. */
export const authProblems = { 400: ProblemResponse, 401: ProblemResponse, 403: ProblemResponse } as const;

// TypeBox's checker knows the code formats too: a schema of the API checked inside bazaar (a saved
// address made into a shipping address, with compileInCharacters) names them.
if (!FormatRegistry.Has(COUNTRY_FORMAT)) FormatRegistry.Set(COUNTRY_FORMAT, isCountryCode);
if (!FormatRegistry.Has(CURRENCY_FORMAT)) FormatRegistry.Set(CURRENCY_FORMAT, isCurrencyCode);

/** A country a parcel can go to: an officially assigned ISO 3166-1 alpha-2 code (platform/http/countries.ts). */
export const CountryCode = Type.String({ format: COUNTRY_FORMAT, minLength: 2, maxLength: 2, description: 'ISO 3166-1 alpha-2 code, in capitals (an officially assigned one)' });

/** Money in: the ISO 4217 code of a currency in circulation (platform/http/currencies.ts). */
export const CurrencyCode = Type.String({ format: CURRENCY_FORMAT, minLength: 3, maxLength: 3, description: 'ISO 4217 code of a currency in circulation, in capitals' });

/**
 * What text shown to people must not hold, as the inside of a character class: control characters
 * (C0, DEL and C1: U+009B opens a terminal escape, U+0085 breaks a line in some tools) and the
 * bidirectional embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069), which make text
 * read otherwise than it is stored. Patterns are Unicode ones (ajv compiles them with the u flag, and
 * so does compileInCharacters for checks inside bazaar).
 */
const BIDI_CONTROLS = '\\u202a-\\u202e\\u2066-\\u2069';
export const NOT_SHOWN = `\\p{Cc}${BIDI_CONTROLS}`;

/**
 * Something written: a letter, digit, punctuation mark or symbol that shows (not a filler such as
 * U+3164 or U+2800, which Unicode counts as a letter or symbol but draws blank).
 */
export const WRITTEN = `(?![\\p{Default_Ignorable_Code_Point}\\u2800])[\\p{L}\\p{N}\\p{P}\\p{S}]`;

/**
 * Text shown to people: something written (not only spaces, invisible characters such as U+200B or
 * blank fillers) and nothing of NOT_SHOWN (no place in a name, and it would corrupt logs).
 */
export const PrintableText = (maxLength: number, description?: string) =>
  // [\s\S]: `.` stops at a line or paragraph separator (U+2028), which would hide what follows.
  Type.String({ minLength: 1, maxLength, pattern: `^(?=[\\s\\S]*${WRITTEN})[^${NOT_SHOWN}]+$`, ...(description ? { description } : {}) });

/** Text of several lines (a description, a note): tabs and line breaks, but nothing else of NOT_SHOWN; may be empty. */
export const MultilineText = (maxLength: number, description?: string) =>
  Type.String({
    maxLength,
    pattern: `^[^\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f-\\u009f${BIDI_CONTROLS}]*$`,
    ...(description ? { description } : {}),
  });

/** Optional text shown to people: may be empty, and holds nothing of NOT_SHOWN. */
export const OptionalText = (maxLength: number, description?: string) =>
  Type.String({ maxLength, pattern: `^[^${NOT_SHOWN}]*$`, ...(description ? { description } : {}) });

/** The schema or null (OpenAPI: one of them), with the description of the whole. */
export const Nullable = <T extends TSchema>(schema: T, options: { description?: string } = {}) => Type.Union([schema, Type.Null()], options);

/** The longest Idempotency-Key the routes take (checkout took 255 before the rule was shared, and still does). */
export const IDEMPOTENCY_HEADER_LENGTH_MAX = 200;

/**
 * An Idempotency-Key header: 1 to `maxLength` printable ASCII characters without spaces (a UUID is
 * the usual one). Two keys sent at once, which HTTP joins with ", ", are refused with the rest, and
 * so is a key that looks like a card number (it is stored: server.ts).
 */
export const IdempotencyKeyHeader = (description: string, maxLength = IDEMPOTENCY_HEADER_LENGTH_MAX) =>
  Type.String({
    minLength: 1,
    maxLength,
    pattern: '^[\\x21-\\x7e]+$',
    description: `${description}. A key that holds what looks like a card number (13 to 19 digits passing the card checksum) is refused (400): a UUID is the usual key`,
  });

