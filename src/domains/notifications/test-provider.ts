import { makeRoom } from '../../platform/bounded-map.ts';
import { newId } from '../../platform/ids.ts';
import { type NotificationProvider, type OutgoingMessage, ProviderError } from './provider.ts';
import type { ProviderChannel } from './types.ts';

export interface TestProviderOptions {
  /** Time every call takes. */
  latencyMs: number;
  /** Share of calls refused with a temporary error, 0 to 1. */
  failureRate: number;
  random?: () => number;
}

export interface DeliveredMessage extends OutgoingMessage {
  providerMessageId: string;
}

/** Idempotency keys remembered, and delivered messages kept for inspection (bounded). */
const MEMORY_MAX = 10_000;

/**
 * The built-in provider for email and push: it behaves like a real service (each call takes time,
 * some fail for a while and succeed when tried again, a repeated idempotency key is accepted
 * without delivering twice) but delivers into memory. Tests can make an address fail.
 */
export class TestNotificationProvider implements NotificationProvider {
  readonly name = 'test';
  readonly channels: readonly ProviderChannel[] = ['email', 'push'];
  readonly #accepted = new Map<string, string>();
  readonly #delivered: DeliveredMessage[] = [];
  readonly #failing = new Map<string, { remaining: number; permanent: boolean }>();
  #calls = 0;

  constructor(readonly options: TestProviderOptions) {}

  /** Makes sends to `to` fail `times` times (Infinity: until told otherwise), temporarily unless `permanent`. */
  failFor(to: string, times: number, permanent = false): void {
    if (times <= 0) this.#failing.delete(to);
    else this.#failing.set(to, { remaining: times, permanent });
  }

  /** Messages delivered (each once), oldest first; optionally to one address. */
  delivered(to?: string): DeliveredMessage[] {
    return to === undefined ? [...this.#delivered] : this.#delivered.filter((m) => m.to === to);
  }

  /** Calls received, failed ones included. */
  get calls(): number {
    return this.#calls;
  }

  async send(message: OutgoingMessage): Promise<{ providerMessageId: string }> {
    this.#calls++;
    if (this.options.latencyMs > 0) await new Promise((resolve) => setTimeout(resolve, this.options.latencyMs));
    const seen = this.#accepted.get(message.idempotencyKey);
    if (seen) return { providerMessageId: seen };
    const failing = this.#failing.get(message.to);
    if (failing) {
      if (--failing.remaining <= 0) this.#failing.delete(message.to);
      throw new ProviderError(failing.permanent ? `test provider: ${message.channel} address refused` : 'test provider: temporarily unavailable', failing.permanent);
    }
    if ((this.options.random ?? Math.random)() < this.options.failureRate) {
      throw new ProviderError('test provider: temporarily unavailable (simulated)');
    }
    const providerMessageId = `test_${newId()}`;
    makeRoom(this.#accepted, MEMORY_MAX);
    this.#accepted.set(message.idempotencyKey, providerMessageId);
    if (this.#delivered.length >= MEMORY_MAX) this.#delivered.splice(0, MEMORY_MAX >> 4);
    this.#delivered.push({ ...message, providerMessageId });
    return { providerMessageId };
  }
}
