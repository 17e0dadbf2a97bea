import { BUSY } from '../../src/platform/messaging/worker-loop.ts';

/** Polls until `check` passes or the time is up: eventual consistency asserted without bare sleeps. */
export async function eventually<T>(check: () => Promise<T> | T, options: { timeoutMs?: number; intervalMs?: number } = {}): Promise<T> {
  const deadline = Date.now() + (options.timeoutMs ?? 10_000);
  let lastError: unknown;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) throw lastError;
    await new Promise((r) => setTimeout(r, options.intervalMs ?? 25));
  }
}

/**
 * Runs one round of a relay or consumer of a process's domain, again while it answers BUSY: the
 * app's own worker of that domain may hold the batch lock for a moment. Answers the round's outcome.
 */
export async function roundWhenFree<T>(round: () => Promise<T | typeof BUSY>, options: { timeoutMs?: number } = {}): Promise<T> {
  const deadline = Date.now() + (options.timeoutMs ?? 10_000);
  for (;;) {
    const outcome = await round();
    if (outcome !== BUSY) return outcome as T;
    if (Date.now() > deadline) throw new Error('the batch lock stayed taken');
    await new Promise((r) => setTimeout(r, 10));
  }
}
