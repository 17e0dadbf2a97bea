import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, loadDotenv } from '../../src/platform/config.ts';

describe('configuration', () => {
  it('has working defaults with no variables at all', () => {
    const config = loadConfig({});
    expect(config.port).toBe(3000);
    expect(config.databaseUrl).toBeUndefined();
    expect(config.transport).toBe('inprocess');
    expect(config.preparedStatements).toBe(true);
    expect(loadConfig({ DATABASE_PREPARED_STATEMENTS: 'false' }).preparedStatements).toBe(false);
    expect(config.shipping.waitingWebhookDays).toBe(30);
    expect(loadConfig({ SHIPPING_WAITING_WEBHOOK_DAYS: '7' }).shipping.waitingWebhookDays).toBe(7);
    expect(config.requestTimeoutMs).toBe(120_000);
    expect(loadConfig({ HTTP_REQUEST_TIMEOUT_MS: '600000' }).requestTimeoutMs).toBe(600_000);
  });

  it.each([
    ['PORT', 'abc'],
    ['PORT', '70000'],
    ['DATABASE_URL', 'mysql://x/y'],
    ['ORDERS_DATABASE_URL', 'not a url'],
    ['TRANSPORT', 'kafka'],
    ['SEED_DEMO', 'maybe'],
    ['DATABASE_PREPARED_STATEMENTS', 'sometimes'],
    ['ADMIN_PASSWORD', 'short'],
    ['DATABASE_NAME_PREFIX', 'Bad-Prefix'],
    ['PAYMENTS_RECONCILE_AFTER_MS', '999'],
    ['PAYMENTS_RECONCILE_AFTER_MS', 'ten minutes'],
    ['PAYMENTS_GATEWAY_TIMEOUT_MS', '0'],
    ['PAYMENTS_GATEWAY_TIMEOUT_MS', '300001'],
    ['NATS_MAX_AGE_DAYS', '0'],
    ['NATS_MAX_AGE_DAYS', 'a week'],
    ['DATABASE_POOL_SIZE_MAX', '1'],
    ['SHIPPING_WAITING_WEBHOOK_DAYS', '0'],
    ['HTTP_REQUEST_TIMEOUT_MS', '999'],
    ['HTTP_REQUEST_TIMEOUT_MS', '3600001'],
  ])('stops start-up on a bad %s, naming the variable', (name, value) => {
    const env: Record<string, string> = { [name]: value };
    if (name === 'ADMIN_PASSWORD') env.ADMIN_EMAIL = 'admin@example.com';
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(name);
  });

  it('checks JWT_KEYS before anything starts: its form, its key lengths and that no kid is named twice', () => {
    const key = Buffer.alloc(32, 1).toString('base64url');
    expect(loadConfig({ JWT_KEYS: `a:${key},b:${key}` }).jwtKeys).toBe(`a:${key},b:${key}`);
    for (const bad of ['nokey', `a:${Buffer.alloc(8).toString('base64url')}`, `a:${key},a:${key}`]) {
      expect(() => loadConfig({ JWT_KEYS: bad }), bad).toThrow(ConfigError);
      expect(() => loadConfig({ JWT_KEYS: bad }), bad).toThrow('JWT_KEYS');
    }
  });

  it('seeds the demo catalog and logins (a published password) by default only on the embedded PostgreSQL', () => {
    expect(loadConfig({}).seedDemo).toBe(true);
    expect(loadConfig({ DATABASE_URL: 'postgres://db.example:5432/postgres' }).seedDemo).toBe(false);
    expect(loadConfig({ ORDERS_DATABASE_URL: 'postgres://db.example:5432/orders' }).seedDemo).toBe(false);
    expect(loadConfig({ DATABASE_URL: 'postgres://db.example:5432/postgres', SEED_DEMO: 'true' }).seedDemo).toBe(true);
  });

  it('reads TRUST_PROXY as an address list or a switch, and refuses a hop count (a direct client could choose its address)', () => {
    expect(() => loadConfig({ TRUST_PROXY: '2' })).toThrow(ConfigError);
    expect(loadConfig({ TRUST_PROXY: '10.0.0.0/8, 127.0.0.1' }).trustProxy).toBe('10.0.0.0/8, 127.0.0.1');
    expect(loadConfig({ TRUST_PROXY: 'true' }).trustProxy).toBe(true);
    // Each entry must be an address the framework takes (it refused these only once the server was
    // being built, after PostgreSQL had started).
    expect(loadConfig({ TRUST_PROXY: '::1, fd00::/8, 192.168.0.0/255.255.0.0' }).trustProxy).toBe('::1, fd00::/8, 192.168.0.0/255.255.0.0');
    for (const bad of ['abc', '10.0.0.0/33', 'fd00::/129', '10.0.0.1/8/8', '1.2.3', ',']) {
      expect(() => loadConfig({ TRUST_PROXY: bad }), bad).toThrow(/TRUST_PROXY/);
    }
  });

  it('asks the gateway for an outcome only once checkout has given up waiting for it, by default', () => {
    const config = loadConfig({});
    expect(config.payments.reconcileAfterMs).toBe(600000);
    expect(config.payments.reconcileAfterMs).toBeGreaterThan(config.checkout.paymentWaitMaxMs);
    expect(loadConfig({ PAYMENTS_RECONCILE_AFTER_MS: '1000' }).payments.reconcileAfterMs).toBe(1000);
  });

  it('bounds each gateway call to 30 s by default, well within how long checkout waits for a payment', () => {
    const config = loadConfig({});
    expect(config.payments.gatewayTimeoutMs).toBe(30000);
    expect(config.payments.gatewayTimeoutMs).toBeLessThan(config.checkout.paymentWaitMaxMs);
  });

  it('lets a slow authorization and then a slow capture both finish within the stock reservation, by default', () => {
    const config = loadConfig({});
    expect(2 * config.checkout.paymentWaitMaxMs).toBeLessThan(config.reservationTtlSeconds * 1000);
  });

  it('points one domain at its own server', () => {
    const config = loadConfig({ DATABASE_URL: 'postgres://a/b', PAYMENTS_DATABASE_URL: 'postgres://pay-host/payments' });
    expect(config.domainDatabaseUrls.payments).toBe('postgres://pay-host/payments');
    expect(config.domainDatabaseUrls.orders).toBeUndefined();
  });
});

describe('a .env file', () => {
  it('is read as NAME=value lines, comments and quoted values over several lines included, and refused with the line number when a line is neither', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'bazaar-dotenv-'));
    try {
      writeFileSync(path.join(dir, '.env'), '# a comment\n\nPORT=4100\nexport LOG_LEVEL=debug\nADMIN_PASSWORD="two\nlines"\n');
      expect(loadDotenv({}, dir)).toMatchObject({ PORT: '4100', LOG_LEVEL: 'debug', ADMIN_PASSWORD: 'two\nlines' });
      // What dotenv reads, the check takes: escaped quotes in a value over several lines, CR line ends, a key starting with a digit.
      writeFileSync(path.join(dir, '.env'), 'A="line1\\nhe said \\"hi\\"\nend"\rB="abc \\" def\nghi"\r1C=x\r');
      expect(Object.keys(loadDotenv({}, dir)).sort()).toEqual(['1C', 'A', 'B']);
      writeFileSync(path.join(dir, '.env'), 'DATA_DIR=/tmp/x\nPORT 3997\nSEED_DEMO=false\n');
      expect(() => loadDotenv({}, dir)).toThrow(/\.env line 2 is not NAME=value: "PORT 3997"/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
