import type { DomainContext, DomainModule } from '../../platform/module.ts';
import { bootstrapAdmin } from './bootstrap-admin.ts';
export { adminCredentialsProblem } from './bootstrap-admin.ts';
import type { AccountsDeps } from './deps.ts';
import { DEFAULT_LOGIN_LIMITS, DEFAULT_REGISTRATION_LIMITS, type LoginLimitPolicy } from './login-limits.ts';
import { type Passwords, createPasswords } from './passwords.ts';
import { pruneLoginAttempts } from './prune-attempts.ts';
import { readUser } from './read-user.ts';
import { registerAccountRoutes } from './routes.ts';
import type { User } from './schemas.ts';
import { PASSWORD_CHANGE_POLL_MS, PasswordChangeReader } from './token-revocations.ts';

export type { User as AccountUser } from './schemas.ts';

/** What other domains may ask the accounts domain (wired in src/domains.ts). */
export interface AccountsApi {
  /** A user with roles and profile (never the password hash); undefined when there is none. */
  getUser(userId: string): Promise<User | undefined>;
}

export interface AccountsOptions {
  /** Tests replace these; production uses the defaults. */
  passwords?: Passwords;
  loginLimits?: Partial<LoginLimitPolicy>;
  pruneIntervalMs?: number;
  passwordChangePollMs?: number;
}

const PRUNE_INTERVAL_MS = 10 * 60 * 1000;

export function createAccountsModule(ctx: DomainContext, options: AccountsOptions = {}): DomainModule & { api: AccountsApi } {
  const deps: AccountsDeps = {
    pool: ctx.pool,
    clock: ctx.clock,
    log: ctx.log,
    tokens: ctx.tokens,
    passwords: options.passwords ?? createPasswords(),
    loginLimits: { ...DEFAULT_LOGIN_LIMITS, ...options.loginLimits },
    registrationLimits: { ...DEFAULT_REGISTRATION_LIMITS, registrationsPerAddressMax: ctx.config.registrationsPerAddressPerHour },
  };
  let pruneTimer: NodeJS.Timeout | undefined;
  let pruning: Promise<unknown> = Promise.resolve();
  const passwordChanges = new PasswordChangeReader(deps);
  let changesTimer: NodeJS.Timeout | undefined;
  let readingChanges: Promise<unknown> = Promise.resolve();

  return {
    name: 'accounts',
    api: { getUser: (userId) => readUser(ctx.pool, userId) },
    routes(app) {
      registerAccountRoutes(app, deps);
    },
    async start() {
      const { adminEmail, adminPassword } = ctx.config;
      if (adminEmail && adminPassword) await bootstrapAdmin(deps, adminEmail, adminPassword);
      // Before serving: tokens of a password changed shortly before this process started are refused too.
      await passwordChanges.read();
      if (!changesTimer) {
        changesTimer = setInterval(() => {
          readingChanges = readingChanges.then(() =>
            passwordChanges.read().catch((error: unknown) => ctx.log.warn({ err: error }, 'reading password changes failed')),
          );
        }, options.passwordChangePollMs ?? PASSWORD_CHANGE_POLL_MS);
        changesTimer.unref();
      }
      if (!pruneTimer) {
        pruneTimer = setInterval(() => {
          pruning = pruneLoginAttempts(deps).catch((error: unknown) => ctx.log.warn({ err: error }, 'pruning login attempts failed'));
        }, options.pruneIntervalMs ?? PRUNE_INTERVAL_MS);
        pruneTimer.unref();
      }
    },
    async stop() {
      clearInterval(pruneTimer);
      pruneTimer = undefined;
      clearInterval(changesTimer);
      changesTimer = undefined;
      await Promise.all([pruning, readingChanges]);
    },
  };
}
