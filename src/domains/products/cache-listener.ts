import type pg from 'pg';
import type { Logger } from 'pino';
import { type Pool, dedicatedClient } from '../../platform/db/pool.ts';

export const CACHE_CHANNEL = 'products_cache';
/** Marks a notification of stock levels only: what a product shows changed, what it is did not. */
export const STOCK_CHANGE_PREFIX = 'stock:';

/** The whole payload of a notification that the category tree changed and no product did. */
export const TREE_CHANGE_PAYLOAD = 'tree:';

/** What changed: the product itself (catalog, prices, publication), only its stock levels, or only the category tree. */
export type ChangeKind = 'catalog' | 'stock' | 'tree';
const RECONNECT_DELAY_MS = 1000;

/**
 * Holds one connection that LISTENs on products_cache, where every products event (and every change
 * of the availability copy) announces the product ids at commit. When the connection is lost,
 * notifications may have been missed, so everything is dropped ('*') and the connection is rebuilt.
 * The connection is its own, not one of the pool's: held for good, it left a pool of one connection
 * nothing to answer with, and a pool of two too little to seed the demo catalog.
 */
export class CacheInvalidationListener {
  #client: pg.Client | undefined;
  /** The connect in flight, which stop() waits for (it ends what it connected once stopped). */
  #connecting: Promise<void> | undefined;
  #stopped = true;
  #timer: NodeJS.Timeout | undefined;
  connected = false;

  constructor(
    readonly pool: Pool,
    readonly onInvalidate: (productIds: string[] | '*', kind: ChangeKind) => void,
    /** Told whether invalidations are arriving; while they are not, nothing should be cached. */
    readonly onListening: (listening: boolean) => void,
    readonly log: Logger,
  ) {}

  async start(): Promise<void> {
    this.#stopped = false;
    await this.#connect();
  }

  #connect(): Promise<void> {
    this.#connecting ??= this.#listen().finally(() => {
      this.#connecting = undefined;
    });
    return this.#connecting;
  }

  async #listen(): Promise<void> {
    if (this.#stopped) return;
    let client: pg.Client | undefined;
    try {
      client = dedicatedClient(this.pool, 'bazaar-products-cache');
      const own = client;
      // Once it listens (an error while connecting fails the connect, which retries).
      client.on('error', (error) => {
        if (this.#client === own) this.#lost(error);
      });
      await client.connect();
      client.on('notification', (message) => {
        if (message.channel !== CACHE_CHANNEL) return;
        let payload = message.payload ?? '*';
        let kind: ChangeKind = 'catalog';
        if (payload === TREE_CHANGE_PAYLOAD) {
          this.onInvalidate('*', 'tree');
          return;
        }
        if (payload.startsWith(STOCK_CHANGE_PREFIX)) {
          kind = 'stock';
          payload = payload.slice(STOCK_CHANGE_PREFIX.length);
        }
        this.onInvalidate(payload === '*' || payload === '' ? '*' : payload.split(','), kind);
      });
      await client.query(`LISTEN ${CACHE_CHANNEL}`);
      // Stopped meanwhile: this connection is not kept (nothing else would end it).
      if (this.#stopped) {
        await client.end().catch(() => undefined);
        return;
      }
      this.#client = client;
      this.connected = true;
      // Whatever changed while nobody listened is unknown: start clean.
      this.onInvalidate('*', 'catalog');
      this.onListening(true);
    } catch (error) {
      void client?.end().catch(() => undefined);
      if (this.#stopped) return;
      this.log.warn({ err: error }, 'products cache cannot listen for invalidations; retrying');
      this.onListening(false);
      this.onInvalidate('*', 'catalog');
      this.#schedule();
    }
  }

  #lost(error: Error): void {
    if (this.#stopped) return;
    this.log.warn({ err: error }, 'products cache invalidation connection lost');
    this.connected = false;
    this.onListening(false);
    this.onInvalidate('*', 'catalog');
    const client = this.#client;
    this.#client = undefined;
    void client?.end().catch(() => undefined);
    this.#schedule();
  }

  #schedule(): void {
    if (this.#stopped || this.#timer) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.#connect();
    }, RECONNECT_DELAY_MS);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#connecting;
    this.connected = false;
    this.onListening(false);
    const client = this.#client;
    this.#client = undefined;
    if (client) {
      client.removeAllListeners('notification');
      await client.end().catch(() => undefined);
    }
  }
}
