import { type TSchema, Type } from '@sinclair/typebox';

/** Shared schema pieces for routes: problem details, money, pagination. */
export const ProblemSchema = Type.Object(
  {
    type: Type.String(),
    title: Type.String(),
    status: Type.Integer(),
    code: Type.String(),
    detail: Type.Optional(Type.String()),
    instance: Type.Optional(Type.String()),
  },
  { additionalProperties: true, $id: undefined, description: 'RFC 9457 problem details with a stable code' },
);

export const MoneySchema = Type.Object(
  {
    amount: Type.Integer({ description: 'Integer minor units (cents)' }),
    currency: Type.String({ pattern: '^[A-Z]{3}$', description: 'ISO 4217 code' }),
  },
  { additionalProperties: false },
);

export const UuidSchema = Type.String({ format: 'uuid' });

export const PageQuerySchema = {
  cursor: Type.Optional(Type.String({ maxLength: 500 })),
  limit: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
};

export function pageOf<T extends TSchema>(item: T) {
  return Type.Object({ items: Type.Array(item), nextCursor: Type.Union([Type.String(), Type.Null()]) });
}

/** Problem responses every authenticated route can give, for the OpenAPI description. */
export const authProblems = { 400: ProblemSchema, 401: ProblemSchema, 403: ProblemSchema } as const;
