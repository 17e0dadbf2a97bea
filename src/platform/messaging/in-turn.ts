/**
 * A queue of work run one after another, each once the one before has settled (failed or not): for
 * statements that share one pg client, which runs one query at a time (pg queues a second with a
 * deprecation warning until pg@9, which refuses it).
 */
export function inTurn(): <T>(work: () => Promise<T>) => Promise<T> {
  let last: Promise<unknown> = Promise.resolve();
  return <T>(work: () => Promise<T>) => {
    const next = last.then(work);
    last = next.catch(() => undefined);
    return next;
  };
}
