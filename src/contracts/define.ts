import type { Static, TSchema } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';

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
