import { type Driven, type EngineDeps, driveSession } from './engine.ts';
import type { StepName } from './saga.ts';
import type { SessionRecord, StepRecord } from './steps/types.ts';

/**
 * The sessions this process drives right now: one drive per session at a time (a POST and the
 * recovery worker never drive the same session twice here), and a stop that lets each drive reach
 * the end of its current step, give its lease back and return.
 */
export class SessionRunner {
  readonly #inFlight = new Map<string, Promise<Driven>>();
  #stopping = false;
  readonly #deps: EngineDeps;

  constructor(deps: Omit<EngineDeps, 'isStopping'>) {
    this.#deps = { ...deps, isStopping: () => this.#stopping };
  }

  get busy(): number {
    return this.#inFlight.size;
  }

  /** The ids of the sessions being driven here now. */
  get drivenIds(): string[] {
    return [...this.#inFlight.keys()];
  }

  get owner(): string {
    return this.#deps.owner;
  }

  /** Drives the session, whose lease this process holds; never rejects. */
  drive(session: SessionRecord, steps?: StepRecord[], started?: StepName): Promise<Driven> {
    const running = this.#inFlight.get(session.id);
    if (running) return running;
    const drive = driveSession(this.#deps, session, steps, started)
      .catch((error: unknown): Driven => {
        this.#deps.log.error({ err: error, sessionId: session.id }, 'checkout drive failed');
        return { session, steps: steps ?? [] };
      })
      .finally(() => this.#inFlight.delete(session.id));
    this.#inFlight.set(session.id, drive);
    return drive;
  }

  driving(sessionId: string): Promise<Driven> | undefined {
    return this.#inFlight.get(sessionId);
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    await Promise.allSettled([...this.#inFlight.values()]);
  }
}
