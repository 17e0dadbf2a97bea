import { expect, it } from 'vitest';
import { createHttpApp } from '../../src/platform/http/server.ts';
import { TokenService, parseKeyring } from '../../src/platform/http/tokens.ts';
import { createLogger } from '../../src/platform/logger.ts';
import { Metrics } from '../../src/platform/metrics.ts';
import { TEST_JWT_KEYS } from '../support/databases.ts';

it('answers a request that arrives while the server closes with a 503 problem document, and finishes the one in flight', async () => {
  const tokens = new TokenService(parseKeyring(TEST_JWT_KEYS), 'bazaar', 'bazaar-api', 900);
  const app = await createHttpApp({ bodyLimitBytes: 1024, logger: createLogger('silent'), metrics: new Metrics(), tokens, version: 'test' });
  let release: () => void = () => undefined;
  const held = new Promise<void>((resolve) => {
    release = resolve;
  });
  let started: () => void = () => undefined;
  const inFlight = new Promise<void>((resolve) => {
    started = resolve;
  });
  app.get('/slow', { config: { access: 'public' } }, async () => {
    started();
    await held;
    return { done: true };
  });
  app.get('/v1/plain', { config: { access: 'public' } }, async () => ({ ok: true }));
  await app.ready();
  // A request in flight when close is called finishes; one that comes in meanwhile is told 503.
  const slow = app.inject({ method: 'GET', url: '/slow' });
  await inFlight;
  const closed = app.close();
  const late = await app.inject({ method: 'GET', url: '/v1/plain' });
  release();
  expect((await slow).json()).toEqual({ done: true });
  await closed;
  expect(late.statusCode).toBe(503);
  expect(late.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(late.headers.connection).toBe('close');
  expect(late.json()).toMatchObject({ status: 503, code: 'SERVICE_UNAVAILABLE' });
});
