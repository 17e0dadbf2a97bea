/** One failed check of a request part, as the problem+json `errors` list shows it. */
export interface ValidationIssue {
  location: string;
  path: string;
  message: string;
  field?: string;
}

/** The part of an ajv error the answer uses. */
export interface SchemaError {
  keyword: string;
  instancePath: string;
  message?: string;
  params: Record<string, unknown>;
  /** The failed keyword's value (ajv's `verbose`), e.g. what a `not` forbids. */
  schema?: unknown;
  /** The property name that failed, for a check of a `propertyNames` rule. */
  propertyName?: string;
}

const shown = (value: unknown) => JSON.stringify(value);

/**
 * Turns the validator's errors into the issues a client reads. A value that must be one of a few
 * constants (a union of literals, or an enum) fails every alternative, and the validator says "must
 * be equal to constant" once per alternative, then "must match a schema in anyOf", without naming
 * one: such a value becomes one issue that lists what is allowed.
 */
export function validationIssues(location: string, errors: readonly SchemaError[]): ValidationIssue[] {
  const allowedAt = new Map<string, unknown[]>();
  for (const e of errors) {
    if (e.keyword === 'const') allowedAt.set(e.instancePath, [...(allowedAt.get(e.instancePath) ?? []), e.params.allowedValue]);
    if (e.keyword === 'enum' && Array.isArray(e.params.allowedValues)) allowedAt.set(e.instancePath, [...(allowedAt.get(e.instancePath) ?? []), ...e.params.allowedValues]);
  }
  // Only where every error at the path is about those constants: a union of objects keeps its own.
  // A value of another type (a number where string constants are wanted) also fails each
  // alternative's type, naming the constants' own type: that is about them too.
  const aboutConstants = (e: SchemaError) =>
    e.keyword === 'const' ||
    e.keyword === 'enum' ||
    e.keyword === 'anyOf' ||
    (e.keyword === 'type' && (allowedAt.get(e.instancePath) ?? []).every((v) => jsonTypes(v).includes(String(e.params.type))));
  for (const e of errors) {
    if (allowedAt.has(e.instancePath) && !aboutConstants(e)) allowedAt.delete(e.instancePath);
  }
  // A nullable value (anyOf: [a type, null]) that fails says what the type wanted, then "must be
  // null" and "must match a schema in anyOf": the first is the useful one.
  const failedAnyOf = new Set(errors.filter((e) => e.keyword === 'anyOf').map((e) => e.instancePath));
  // The type's own complaint may be about the value itself or something in it (an array's item).
  const within = (path: string, at: string) => path === at || path.startsWith(`${at}/`);
  const besideNull = (e: SchemaError) =>
    failedAnyOf.has(e.instancePath) &&
    !allowedAt.has(e.instancePath) &&
    errors.some((o) => within(o.instancePath, e.instancePath) && o.keyword !== 'anyOf' && !isNullType(o));
  const issues: ValidationIssue[] = [];
  const listed = new Set<string>();
  for (const e of errors) {
    if (besideNull(e) && (e.keyword === 'anyOf' || isNullType(e))) continue;
    // A property name that breaks its rule: the rule's own failure names it; ajv's summary after it
    // ("property name must be valid") adds nothing.
    if (e.keyword === 'propertyNames') continue;
    if (e.propertyName !== undefined) {
      issues.push({ location, path: e.instancePath || '/', message: `property name ${e.message ?? 'is not valid'}`, field: e.propertyName });
      continue;
    }
    const path = e.instancePath || '/';
    const allowed = allowedAt.get(e.instancePath);
    if (allowed) {
      if (listed.has(path)) continue;
      listed.add(path);
      const values = [...new Set(allowed)];
      issues.push({ location, path, message: values.length === 1 ? `must be ${shown(values[0])}` : `must be one of ${values.map(shown).join(', ')}` });
      continue;
    }
    issues.push({
      location,
      path,
      message: e.keyword === 'not' && isConst(e.schema) ? `must not be ${shown(e.schema.const)}` : (e.message ?? 'is not valid'),
      ...(e.keyword === 'additionalProperties' ? { field: String(e.params.additionalProperty) } : {}),
    });
  }
  return issues;
}

/** The JSON Schema types a constant is of. */
function jsonTypes(value: unknown): string[] {
  if (value === null) return ['null'];
  if (typeof value === 'number') return Number.isInteger(value) ? ['integer', 'number'] : ['number'];
  if (Array.isArray(value)) return ['array'];
  return [typeof value];
}

function isNullType(e: SchemaError): boolean {
  return e.keyword === 'type' && e.params.type === 'null';
}

function isConst(schema: unknown): schema is { const: unknown } {
  return typeof schema === 'object' && schema !== null && 'const' in schema;
}
