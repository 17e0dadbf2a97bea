/**
 * Runs one unit of work over and over: at once when woken (LISTEN/NOTIFY), at once again while
 * there is more to do, otherwise after `pollMs` as a safety net for a missed notification.
 */
export class WorkerLoop {
  #running = false;
  #timer: NodeJS.Timeout | undefined;
  #wakeRequested = false;
  #current: Promise<void> | undefined;
  lastError: Error | undefined;
  lastSuccessAt: number | undefined;

  constructor(
    readonly name: string,
    readonly iteration: () => Promise<boolean>,
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

  wake(): void {
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
    let more = false;
    try {
      more = await this.iteration();
      this.lastError = undefined;
      this.lastSuccessAt = Date.now();
    } catch (error) {
      this.lastError = error as Error;
      this.onError(error as Error);
    }
    if (more) this.#wakeRequested = true;
  }

  #schedule(): void {
    if (!this.#running) return;
    if (this.#wakeRequested && !this.lastError) {
      setImmediate(() => this.wake());
      return;
    }
    this.#timer = setTimeout(() => this.wake(), this.pollMs);
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
