import { describe, expect, it } from 'vitest';
import { BUSY, type RoundOutcome, WorkerLoop } from '../../src/platform/messaging/worker-loop.ts';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A loop whose rounds find the batch lock busy until `busyUntil` (ms since the start), recording when each ran. */
function probeLoop(pollMs: number) {
  const started = performance.now();
  const state = { busyUntil: 0, rounds: [] as { at: number; outcome: RoundOutcome }[] };
  const loop = new WorkerLoop(
    'probe',
    async () => {
      const at = performance.now() - started;
      const outcome: RoundOutcome = at < state.busyUntil ? BUSY : false;
      state.rounds.push({ at, outcome });
      return outcome;
    },
    pollMs,
    () => undefined,
  );
  return { loop, state, now: () => performance.now() - started };
}

describe('a worker loop whose rounds find their batch lock busy', () => {
  it('looks again after 5 ms, then 10, 20, …: a few rounds while the lock is held, not a busy loop, and one soon after it is free', async () => {
    const { loop, state } = probeLoop(60_000);
    state.busyUntil = 300;
    loop.start();
    await sleep(700);
    await loop.stop();
    const busy = state.rounds.filter((r) => r.outcome === BUSY);
    // At 0, 5, 15, 35, 75, 155 and 315 ms by the timers (later on a loaded machine, never sooner).
    expect(busy.length).toBeGreaterThanOrEqual(4);
    expect(busy.length).toBeLessThanOrEqual(8);
    // The first round after the lock is free: the last wait was at most twice the time held, far below the poll.
    expect(state.rounds.find((r) => r.outcome === false)?.at).toBeLessThan(700);
  });

  it('starts the waits over when woken (a commit of its own, which the busy worker may have missed)', async () => {
    const { loop, state, now } = probeLoop(60_000);
    state.busyUntil = 10_000;
    loop.start();
    // The waits grow to 640 ms and more while the lock stays held.
    await sleep(1000);
    const before = state.rounds.length;
    // Woken, the lock still held for 50 ms more: the woken round is busy, and the next ones come
    // after 5, 10, 20 … ms again, not after the grown wait.
    state.busyUntil = now() + 50;
    const wokenAt = now();
    loop.wake();
    await sleep(500);
    await loop.stop();
    const free = state.rounds.find((r) => r.outcome === false);
    expect(state.rounds.length).toBeGreaterThan(before + 1);
    expect(free).toBeDefined();
    expect(free!.at - wokenAt).toBeLessThan(400);
  });
});
