/**
 * The text to record of a failure, whatever was thrown: a handler may reject with `undefined`,
 * `null`, a string or an object whose `toString` throws, and recording its failure must not fail
 * in turn (that would undo the round that records it, for every event in it). At most `lengthMax`
 * characters, never empty, and without NUL, which PostgreSQL's text refuses (a message quoting
 * outside input may hold one).
 */
export function errorMessage(error: unknown, lengthMax = 2000): string {
  let text: string;
  if (error instanceof Error) text = error.message || error.name;
  else {
    try {
      text = `thrown without an Error: ${String(error)}`;
    } catch {
      text = `thrown without an Error: ${Object.prototype.toString.call(error)}`;
    }
  }
  return (text || 'failed without a message').replaceAll('\0', '\uFFFD').slice(0, lengthMax);
}
