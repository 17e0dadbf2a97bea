import type { LightMyRequestResponse } from 'fastify';
import { createMarketplace, type Marketplace, type MarketplaceOptions } from '../../src/app.ts';
import { createLogger } from '../../src/platform/logger.ts';
import { freshDatabases } from './databases.ts';

export interface TestApp {
  app: Marketplace;
  request(method: string, url: string, options?: { token?: string; body?: unknown; headers?: Record<string, string> }): Promise<LightMyRequestResponse>;
  close(): Promise<void>;
}

/** A whole marketplace on fresh databases, event delivery running, HTTP via inject (no port). */
export async function startTestApp(env: Record<string, string> = {}, options: MarketplaceOptions = {}): Promise<TestApp> {
  const dbs = await freshDatabases(env);
  const app = await createMarketplace(dbs.config, { targets: dbs.targets, embedded: undefined }, { log: createLogger('silent'), ...options });
  await app.start();
  return {
    app,
    request(method, url, options = {}) {
      const headers: Record<string, string> = { ...options.headers };
      if (options.token) headers.authorization = `Bearer ${options.token}`;
      return app.http.inject({
        method: method as 'GET',
        url,
        headers,
        ...(options.body !== undefined ? { payload: options.body as object } : {}),
      });
    },
    async close() {
      await app.stop();
      await dbs.drop();
    },
  };
}
