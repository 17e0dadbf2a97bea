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
  const prepared = withArrayLiterals(values);
  return text.replace(/\$(\d+)/g, (_, n: string) => {
    const index = Number(n) - 1;
    if (index < 0 || index >= prepared.length) throw new RangeError(`the statement refers to $${n}, beyond its ${prepared.length} values`);
    const value = pgUtils.prepareValue(prepared[index]);
    if (value === null || value === undefined) return 'NULL';
    if (Buffer.isBuffer(value)) return `'\\x${value.toString('hex')}'`;
    return pg.escapeLiteral(String(value));
  });
}
