import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAccountsModule } from '../../src/domains/accounts/index.ts';
import type { AccountsDeps } from '../../src/domains/accounts/deps.ts';
import { DEFAULT_LOGIN_LIMITS, DEFAULT_REGISTRATION_LIMITS } from '../../src/domains/accounts/login-limits.ts';
import { login } from '../../src/domains/accounts/login.ts';
import { type Passwords, createPasswords } from '../../src/domains/accounts/passwords.ts';
import { pruneLoginAttempts } from '../../src/domains/accounts/prune-attempts.ts';
import { register } from '../../src/domains/accounts/register.ts';
import { ManualClock } from '../../src/platform/clock.ts';
import { loadConfig } from '../../src/platform/config.ts';
import { type Pool, createPool } from '../../src/platform/db/pool.ts';
import { AppError } from '../../src/platform/http/errors.ts';
import { TokenService, parseKeyring } from '../../src/platform/http/tokens.ts';
import { createLogger } from '../../src/platform/logger.ts';
import { Metrics } from '../../src/platform/metrics.ts';
import type { DomainContext } from '../../src/platform/module.ts';
import { type FreshDatabases, TEST_JWT_KEYS, freshDatabases } from '../support/databases.ts';

const PASSWORD = 'correct horse battery staple';
const ADMIN = { ADMIN_EMAIL: 'boot@bazaar.test', ADMIN_PASSWORD: 'bootstrap password!' };

let dbs: FreshDatabases;
const pools: Pool[] = [];
const clock = new ManualClock(new Date());
const tokens = new TokenService(parseKeyring(TEST_JWT_KEYS), 'bazaar', 'bazaar-api', 900);

/** A fresh pool to the accounts database: each stands for another process. */
function processPool(): Pool {
  const target = dbs.targets.find((t) => t.domain === 'accounts');
  if (!target) throw new Error('no accounts database');
  const pool = createPool(target.url, 5, 'accounts-int-test');
  pools.push(pool);
  return pool;
}

function context(env: Record<string, string> = {}): DomainContext {
  return {
    domain: 'accounts',
    pool: processPool(),
    config: loadConfig({ ...env, JWT_KEYS: TEST_JWT_KEYS }),
    clock,
    log: createLogger('silent'),
    tokens,
    metrics: new Metrics(),
  };
}

function deps(options: { passwords?: Passwords; pool?: Pool } = {}): AccountsDeps {
  return { pool: options.pool ?? db, clock, passwords: options.passwords ?? sharedPasswords, log: createLogger('silent'), tokens, loginLimits: DEFAULT_LOGIN_LIMITS, registrationLimits: DEFAULT_REGISTRATION_LIMITS };
}

let sharedPasswords: Passwords;
let db: Pool;

beforeAll(async () => {
  dbs = await freshDatabases();
  sharedPasswords = createPasswords();
  db = processPool();
});

afterAll(async () => {
  await Promise.all(pools.map((p) => p.end()));
  await dbs?.drop();
});

async function codeOf(work: Promise<unknown>): Promise<string> {
  try {
    await work;
    return 'OK';
  } catch (error) {
    if (error instanceof AppError) return error.code;
    throw error;
  }
}

describe('admin bootstrap', () => {
  it('creates exactly one admin when two processes start at once', async () => {
    const first = createAccountsModule(context(ADMIN));
    const second = createAccountsModule(context(ADMIN));
    await Promise.all([first.start?.(), second.start?.(), first.start?.()]);
    await Promise.all([first.stop?.(), second.stop?.()]);

    const { rows } = await db.query<{ id: string }>('SELECT id FROM users WHERE email = $1', [ADMIN.ADMIN_EMAIL]);
    expect(rows).toHaveLength(1);
    const roles = await db.query('SELECT role FROM user_roles WHERE user_id = $1', [rows[0]?.id]);
    expect(roles.rows).toEqual([{ role: 'admin' }]);
    const events = await db.query("SELECT 1 FROM accounts_outbox_events WHERE event_type = 'accounts.user_registered.v1' AND aggregate_id = $1", [rows[0]?.id]);
    expect(events.rowCount).toBe(1);
  });

  it('neither promotes nor resets an account that already holds ADMIN_EMAIL', async () => {
    const squatter = await register(deps(), { email: 'taken@bazaar.test', password: PASSWORD }, null);
    const module = createAccountsModule(context({ ADMIN_EMAIL: 'TAKEN@bazaar.test', ADMIN_PASSWORD: 'another password!' }));
    await module.start?.();
    await module.stop?.();
    expect((await module.api.getUser(squatter.id))?.roles).toEqual(['buyer']);
    expect(await codeOf(login(deps(), { email: 'taken@bazaar.test', password: PASSWORD }, '192.0.2.1'))).toBe('OK');
  });

  it('refuses to start with an ADMIN_PASSWORD longer than a login accepts', async () => {
    const module = createAccountsModule(context({ ADMIN_EMAIL: 'long@bazaar.test', ADMIN_PASSWORD: 'x'.repeat(129) }));
    await expect(module.start?.()).rejects.toThrow(/ADMIN_PASSWORD/);
  });
});

describe('login', () => {
  it('spends one password verification on an unknown email, as on a known one', async () => {
    const calls: string[] = [];
    const counting: Passwords = {
      hash: (p) => sharedPasswords.hash(p),
      verify: (h, p) => {
        calls.push('verify');
        return sharedPasswords.verify(h, p);
      },
      verifyNothing: (p) => {
        calls.push('verifyNothing');
        return sharedPasswords.verifyNothing(p);
      },
    };
    await register(deps(), { email: 'known@example.com', password: PASSWORD }, null);
    expect(await codeOf(login(deps({ passwords: counting }), { email: 'unknown@example.com', password: PASSWORD }, '192.0.2.2'))).toBe('INVALID_CREDENTIALS');
    expect(await codeOf(login(deps({ passwords: counting }), { email: 'known@example.com', password: 'wrong password!' }, '192.0.2.2'))).toBe('INVALID_CREDENTIALS');
    expect(calls).toEqual(['verifyNothing', 'verify']);
  });

  it('lets exactly five of many concurrent wrong guesses from one address through to the password check', async () => {
    await register(deps(), { email: 'stormed@example.com', password: PASSWORD }, null);
    const processes = [deps({ pool: processPool() }), deps({ pool: processPool() })];
    const guesses = Array.from({ length: 16 }, (_, i) =>
      codeOf(login(processes[i % 2] as AccountsDeps, { email: 'stormed@example.com', password: `wrong guess ${i}!` }, '192.0.2.10')),
    );
    const codes = (await Promise.all(guesses)).sort();
    expect(codes.filter((c) => c === 'INVALID_CREDENTIALS')).toHaveLength(5);
    expect(codes.filter((c) => c === 'RATE_LIMITED')).toHaveLength(11);
  });

  it('lets exactly fifty of many concurrent wrong guesses spread over addresses through, then refuses the account everywhere', async () => {
    await register(deps(), { email: 'spread@example.com', password: PASSWORD }, null);
    const processes = [deps({ pool: processPool() }), deps({ pool: processPool() })];
    const guesses = Array.from({ length: 60 }, (_, i) =>
      codeOf(login(processes[i % 2] as AccountsDeps, { email: 'spread@example.com', password: `wrong guess ${i}!` }, `198.51.100.${i + 1}`)),
    );
    const codes = (await Promise.all(guesses)).sort();
    expect(codes.filter((c) => c === 'INVALID_CREDENTIALS')).toHaveLength(50);
    expect(codes.filter((c) => c === 'RATE_LIMITED')).toHaveLength(10);
    expect(await codeOf(login(deps(), { email: 'spread@example.com', password: PASSWORD }, '203.0.113.77'))).toBe('RATE_LIMITED');
  }, 60_000);

  it('lets several right logins of one account at once all through: they are not failures while their passwords are checked', async () => {
    await register(deps(), { email: 'many-devices@example.com', password: PASSWORD }, null);
    const processes = [deps({ pool: processPool() }), deps({ pool: processPool() })];
    const logins = Array.from({ length: 10 }, (_, i) => codeOf(login(processes[i % 2] as AccountsDeps, { email: 'many-devices@example.com', password: PASSWORD }, '192.0.2.60')));
    expect(await Promise.all(logins)).toEqual(Array(10).fill('OK'));
    // And a wrong guess among right ones is still one failure.
    expect(await codeOf(login(deps(), { email: 'many-devices@example.com', password: 'wrong password!' }, '192.0.2.60'))).toBe('INVALID_CREDENTIALS');
    const { rows } = await db.query(
      "SELECT count(*) FILTER (WHERE succeeded)::int AS ok, count(*) FILTER (WHERE NOT succeeded)::int AS failed, count(*) FILTER (WHERE NOT settled)::int AS pending FROM login_attempts WHERE email = 'many-devices@example.com'",
    );
    expect(rows[0]).toEqual({ ok: 10, failed: 1, pending: 0 });
  });

  it('takes a forwarded address with a port, or none at all, without a fault', async () => {
    await register(deps(), { email: 'proxied@example.com', password: PASSWORD }, null);
    expect(await codeOf(login(deps(), { email: 'proxied@example.com', password: PASSWORD }, '203.0.113.5:5678', '10.0.0.1'))).toBe('OK');
    expect(await codeOf(login(deps(), { email: 'proxied@example.com', password: PASSWORD }, 'unknown', '10.0.0.1'))).toBe('OK');
    const { rows } = await db.query("SELECT host(ip) AS ip FROM login_attempts WHERE email = 'proxied@example.com' ORDER BY attempted_at, id");
    expect(rows.map((r) => r.ip).sort()).toEqual(['10.0.0.1', '203.0.113.5']);
  });

  it('counts failures in the database, so two processes share the limit', async () => {
    await register(deps(), { email: 'shared@example.com', password: PASSWORD }, null);
    const processA = deps({ pool: processPool() });
    const processB = deps({ pool: processPool() });
    for (const process of [processA, processB, processA, processB, processA]) {
      expect(await codeOf(login(process, { email: 'shared@example.com', password: 'wrong password!' }, '192.0.2.40'))).toBe('INVALID_CREDENTIALS');
    }
    expect(await codeOf(login(processB, { email: 'shared@example.com', password: PASSWORD }, '192.0.2.40'))).toBe('RATE_LIMITED');
  });

  it("lets the account's owner in from another address while the guesser's address is refused", async () => {
    expect(await codeOf(login(deps(), { email: 'shared@example.com', password: PASSWORD }, '192.0.2.41'))).toBe('OK');
    expect(await codeOf(login(deps(), { email: 'shared@example.com', password: PASSWORD }, '192.0.2.40'))).toBe('RATE_LIMITED');
  });

  it('answers with the limit before checking a password, and records no attempt for a refused one', async () => {
    const { rows } = await db.query(
      "SELECT count(*) FILTER (WHERE NOT succeeded)::int AS failed, count(*) FILTER (WHERE succeeded)::int AS ok FROM login_attempts WHERE email = 'shared@example.com'",
    );
    expect(rows[0]).toEqual({ failed: 5, ok: 1 });
  });
});

describe('pruning', () => {
  it('deletes login attempts older than a day and keeps recent ones', async () => {
    const now = clock.now().getTime();
    await db.query(
      `INSERT INTO login_attempts (id, email, ip, succeeded, attempted_at)
       VALUES (gen_random_uuid(), 'old@example.com', '192.0.2.99', false, $1),
              (gen_random_uuid(), 'old@example.com', '192.0.2.99', false, $2)`,
      [new Date(now - 25 * 3600_000), new Date(now - 23 * 3600_000)],
    );
    expect(await pruneLoginAttempts(deps())).toBe(1);
    const { rows } = await db.query("SELECT count(*)::int AS n FROM login_attempts WHERE email = 'old@example.com'");
    expect(rows[0]).toEqual({ n: 1 });
  });
});
