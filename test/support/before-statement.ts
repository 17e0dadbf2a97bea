type Query = (...args: unknown[]) => Promise<unknown>;

/**
 * Runs `before` ahead of each of the first `times` statements sent on `pool` (not on a
 * transaction's client) whose text matches; the statement then goes on. The pool's own query is
 * back in place before the last `before` runs, so statements `before` sends are not held.
 */
export function beforeStatement(pool: object, matches: RegExp, before: () => Promise<void>, times = 1): void {
  const target = pool as { query: Query };
  const original = target.query.bind(pool) as Query;
  let left = times;
  target.query = async (...args: unknown[]) => {
    const text = typeof args[0] === 'string' ? args[0] : (args[0] as { text?: string } | undefined)?.text;
    if (left > 0 && typeof text === 'string' && matches.test(text)) {
      left -= 1;
      if (left === 0) target.query = original;
      await before();
    }
    return original(...args);
  };
}
