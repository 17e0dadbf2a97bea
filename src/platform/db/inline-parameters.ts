import pg from 'pg';
import pgUtils from 'pg/lib/utils.js';
import { withArrayLiterals } from './array-literal.ts';

/**
 * A parameterised statement as one SQL text, each `$n` replaced by its value as a quoted literal,
 * for the simple protocol, which can carry another statement after it in the same message (see
 * commitWith). pg sends every parameter as untyped text, and the server infers an untyped quoted
 * literal's type from its context the same way, so the statement means what it meant with
 * parameters. Values are converted as pg converts them (arrays as array-literal.ts does), then
 * quoted by pg's escapeLiteral. Like runTogether, it expects `$` only in placeholders of the text.
 */
export function inlineParameters(text: string, values: readonly unknown[]): string {
  const literals = literalsOf(values);
  return text.replace(/\$(\d+)/g, (_, n: string) => {
    const index = Number(n) - 1;
    if (index < 0 || index >= literals.length) throw new RangeError(`the statement refers to $${n}, beyond its ${literals.length} values`);
    return literals[index] as string;
  });
}

/** Each value as the untyped quoted literal (or NULL) that inlineParameters writes for it. */
export function literalsOf(values: readonly unknown[]): string[] {
  return withArrayLiterals(values).map((v) => {
    const value = pgUtils.prepareValue(v);
    if (value === null || value === undefined) return 'NULL';
    if (Buffer.isBuffer(value)) return `'\\x${value.toString('hex')}'`;
    return pg.escapeLiteral(String(value));
  });
}
