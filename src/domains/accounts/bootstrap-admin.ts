import { normalizeEmail } from './email.ts';
import { withTransaction } from '../../platform/db/pool.ts';
import { AppError } from '../../platform/http/errors.ts';
import type { AccountsDeps } from './deps.ts';
import { PASSWORD_INPUT_LENGTH_MAX, PASSWORD_LENGTH_MAX, PASSWORD_LENGTH_MIN, newPasswordProblem } from './passwords.ts';
import { createUser } from './register.ts';
import { findUserIdByEmail, lockAdminBootstrap, selectRoles } from './sql.ts';

export type BootstrapOutcome = 'created' | 'exists';

const EMAIL = /^[^@\s]+@[^@\s]+$/;

/**
 * What is wrong with ADMIN_EMAIL and ADMIN_PASSWORD, if anything: checked with the rest of the
 * configuration, before any database is started (a mistake is a configuration error, exit 2), and
 * again when the admin is made.
 */
export function adminCredentialsProblem(email: string, password: string): { variable: 'ADMIN_EMAIL' | 'ADMIN_PASSWORD'; reason: string } | undefined {
  if (!EMAIL.test(email) || email.length > 254) return { variable: 'ADMIN_EMAIL', reason: 'must be an email address of at most 254 characters' };
  if (password.length > PASSWORD_INPUT_LENGTH_MAX) return { variable: 'ADMIN_PASSWORD', reason: `must hold ${PASSWORD_LENGTH_MIN} to ${PASSWORD_LENGTH_MAX} characters` };
  const problem = newPasswordProblem(password);
  return problem ? { variable: 'ADMIN_PASSWORD', reason: `is refused: ${problem}` } : undefined;
}

/**
 * Creates the admin named by ADMIN_EMAIL / ADMIN_PASSWORD when no account has that email. Safe to
 * run on every start and from several processes at once (an advisory lock, then a re-check). An
 * existing account is left alone: its password is not reset, and it is not promoted, so whoever
 * registers that email first cannot become admin through a restart.
 */
export async function bootstrapAdmin(deps: AccountsDeps, given: string, password: string): Promise<BootstrapOutcome> {
  const wrong = adminCredentialsProblem(given, password);
  if (wrong) throw new Error(`${wrong.variable} ${wrong.reason}`);
  const email = normalizeEmail(given);
  // The common case (every restart) costs one query and no hashing.
  const existing = await findUserIdByEmail(deps.pool, email);
  if (existing) return warnUnlessAdmin(deps, existing, email);
  const passwordHash = await deps.passwords.hash(password);
  const now = deps.clock.now();
  const existingNow = await withTransaction(deps.pool, async (tx) => {
    await lockAdminBootstrap(tx);
    const raced = await findUserIdByEmail(tx, email);
    if (raced) return raced;
    // Run at start, by no request: the registration starts a trace of its own.
    await createUser(tx, { email, passwordHash, roles: ['admin'], now, trace: null });
    return undefined;
  }).catch(async (error: unknown) => {
    // Someone registered this email in the meantime through the public route.
    if (error instanceof AppError && error.code === 'EMAIL_TAKEN') return findUserIdByEmail(deps.pool, email);
    throw error;
  });
  if (existingNow) return warnUnlessAdmin(deps, existingNow, email);
  deps.log.info({ email }, 'admin account created from ADMIN_EMAIL');
  return 'created';
}

async function warnUnlessAdmin(deps: AccountsDeps, userId: string, email: string): Promise<BootstrapOutcome> {
  const roles = await selectRoles(deps.pool, userId);
  if (!roles.includes('admin')) {
    deps.log.warn({ email }, 'ADMIN_EMAIL belongs to an account without the admin role; it was not promoted');
  }
  return 'exists';
}
