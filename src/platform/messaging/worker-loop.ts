/**
 * A round's answer when another worker (another process's, a read model's replay) held the batch
 * lock: what this process was woken for may have committed after that worker's claim, and nothing
 * would wake that worker for it, so this loop looks again soon.
 */
export const BUSY = 'busy';

/** true: there is more to do at once; false: nothing left; BUSY: see above. */
export type RoundOutcome = boolean | typeof BUSY;

/** First wait after a BUSY round; it doubles with each BUSY round in a row, up to the poll interval. */
const BUSY_RETRY_MS = 5;

/**
 * Runs one unit of work over and over: at once when woken (LISTEN/NOTIFY), at once again while
 * there is more to do, soon again while another worker holds its lock, otherwise after `pollMs` as
 * a safety net for a missed notification.
 */
export class WorkerLoop {
  #running = false;
  #timer: NodeJS.Timeout | undefined;
  #wakeRequested = false;
  /** The wait after the next BUSY round (none while the last round was not BUSY). */
  #busyRetryMs: number | undefined;
  #current: Promise<void> | undefined;
  lastError: Error | undefined;
  lastSuccessAt: number | undefined;

  constructor(
    readonly name: string,
    readonly iteration: () => Promise<RoundOutcome>,
    readonly pollMs: number,
    readonly onError: (error: Error) => void,
  ) {}

  get running(): boolean {
    return this.#running;
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.wake();
  }

  /**
   * Runs a round now (or right after the one in flight). What woke it (a commit) may be just what
   * another worker's round missed, so the wait after a busy lock starts over from the shortest.
   */
  wake(): void {
    this.#busyRetryMs = undefined;
    this.#run();
  }

  #run(): void {
    if (!this.#running) return;
    if (this.#current) {
      this.#wakeRequested = true;
      return;
    }
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#current = this.#runOnce().finally(() => {
      this.#current = undefined;
      this.#schedule();
    });
  }

  async #runOnce(): Promise<void> {
    this.#wakeRequested = false;
    let outcome: RoundOutcome = false;
    try {
      outcome = await this.iteration();
      this.lastError = undefined;
      this.lastSuccessAt = Date.now();
    } catch (error) {
      this.lastError = error as Error;
      this.onError(error as Error);
    }
    if (outcome === true) this.#wakeRequested = true;
    this.#busyRetryMs = outcome === BUSY ? Math.min(this.pollMs, this.#busyRetryMs === undefined ? BUSY_RETRY_MS : this.#busyRetryMs * 2) : undefined;
  }

  #schedule(): void {
    if (!this.#running) return;
    if (this.#wakeRequested && !this.lastError) {
      setImmediate(() => this.#run());
      return;
    }
    this.#timer = setTimeout(() => this.#run(), this.#busyRetryMs ?? this.pollMs);
    this.#timer.unref();
  }

  /** Stops scheduling and waits for the iteration in flight to finish. */
  async stop(): Promise<void> {
    this.#running = false;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#current;
  }
}
