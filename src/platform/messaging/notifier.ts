import pg from 'pg';
import type { Logger } from 'pino';

/**
 * One LISTEN connection per domain database. On reconnect every listener is called, so work
 * committed while the connection was down is picked up at once.
 */
export class Notifier {
  #client: pg.Client | undefined;
  #stopped = false;
  #listeners = new Map<string, Set<() => void>>();
  #retryTimer: NodeJS.Timeout | undefined;
  connected = false;

  constructor(
    readonly url: string,
    readonly log: Logger,
  ) {}

  on(channel: string, listener: () => void): void {
    const set = this.#listeners.get(channel) ?? new Set();
    set.add(listener);
    this.#listeners.set(channel, set);
  }

  async start(): Promise<void> {
    this.#stopped = false;
    await this.#connect();
  }

  async #connect(): Promise<void> {
    const client = new pg.Client({ connectionString: this.url, application_name: 'bazaar-listen' });
    client.on('notification', (msg) => {
      for (const listener of this.#listeners.get(msg.channel) ?? []) listener();
    });
    client.on('error', (error) => {
      this.log.warn({ err: error }, 'notification connection lost');
      this.connected = false;
      this.#scheduleReconnect();
    });
    try {
      await client.connect();
      for (const channel of this.#listeners.keys()) await client.query(`LISTEN ${channel}`);
      this.#client = client;
      this.connected = true;
      for (const set of this.#listeners.values()) for (const listener of set) listener();
    } catch (error) {
      this.log.warn({ err: error }, 'could not listen for notifications; retrying');
      await client.end().catch(() => undefined);
      this.#scheduleReconnect();
    }
  }

  #scheduleReconnect(): void {
    if (this.#stopped || this.#retryTimer) return;
    const old = this.#client;
    this.#client = undefined;
    old?.end().catch(() => undefined);
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      void this.#connect();
    }, 1000);
    this.#retryTimer.unref();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    this.connected = false;
    await this.#client?.end().catch(() => undefined);
    this.#client = undefined;
  }
}
