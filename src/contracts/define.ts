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
  const checker = TypeCompiler.Compile(schema);
  return {
    type,
    schema,
    problems(data) {
      if (checker.Check(data)) return [];
      return [...checker.Errors(data)].slice(0, 10).map((e) => `${e.path || '/'}: ${e.message}`);
    },
  };
}
