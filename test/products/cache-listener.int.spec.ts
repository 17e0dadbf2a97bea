import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CacheInvalidationListener } from '../../src/domains/products/cache-listener.ts';
import { createPool } from '../../src/platform/db/pool.ts';
import { createLogger } from '../../src/platform/logger.ts';
import { type FreshDatabases, freshDatabases, throughTcpPort } from '../support/databases.ts';
import { eventually } from '../support/eventually.ts';

let dbs: FreshDatabases;
let url: URL;
beforeAll(async () => {
  dbs = await freshDatabases();
  url = new URL(dbs.targets.find((t) => t.domain === 'products')!.url);
});
afterAll(async () => {
  await dbs?.drop();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A TCP proxy to the database server that holds each new connection `delayMs` before passing it on. */
async function slowProxy(delayMs: number): Promise<{ url: string; close(): void }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    sockets.add(client);
    client.on('error', () => undefined);
    setTimeout(() => {
      const upstream = net.connect(Number(url.port || 5432), url.hostname);
      sockets.add(upstream);
      upstream.on('error', () => client.destroy());
      client.on('close', () => upstream.destroy());
      client.pipe(upstream);
      upstream.pipe(client);
    }, delayMs);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: throughTcpPort(url, (server.address() as net.AddressInfo).port),
    close() {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

describe('the products cache listener, on a connection of its own', () => {
  it('keeps no connection when stopped while it connects, and never says it listens (found by a review: the connection was kept, open for good)', async () => {
    const proxy = await slowProxy(1500);
    const pool = createPool(proxy.url, 2, 'cache-listener-test');
    const direct = createPool(url.toString(), 1, 'cache-listener-check');
    const listening: boolean[] = [];
    const listener = new CacheInvalidationListener(pool, () => undefined, (on) => listening.push(on), createLogger('silent'));
    try {
      const started = listener.start();
      await sleep(300);
      await listener.stop();
      await started;
      // Past the proxy's delay: a connection still being made would be open by now.
      await sleep(2000);
      const { rows } = await direct.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'bazaar-products-cache' AND datname = current_database()",
      );
      expect([rows[0]?.n, listener.connected, listening.includes(true)]).toEqual([0, false, false]);
    } finally {
      await pool.end();
      await direct.end();
      proxy.close();
    }
  });

  it('listens again after its connection is cut, dropping what it may have missed', async () => {
    const pool = createPool(url.toString(), 2, 'cache-listener-test');
    const listening: boolean[] = [];
    const dropped: string[] = [];
    const listener = new CacheInvalidationListener(pool, (ids) => dropped.push(ids === '*' ? '*' : ids.join()), (on) => listening.push(on), createLogger('silent'));
    try {
      await listener.start();
      expect(listening).toEqual([true]);
      await pool.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'bazaar-products-cache' AND datname = current_database()");
      await eventually(() => expect(listening).toEqual([true, false, true]), { timeoutMs: 5000 });
      dropped.length = 0;
      await pool.query("SELECT pg_notify('products_cache', 'p1,p2')");
      await eventually(() => expect(dropped).toEqual(['p1,p2']));
    } finally {
      await listener.stop();
      await pool.end();
    }
  });
});
