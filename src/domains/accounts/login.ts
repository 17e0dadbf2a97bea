import { withTransaction } from '../../platform/db/pool.ts';
import { AppError } from '../../platform/http/errors.ts';
import { newId } from '../../platform/ids.ts';
import type { AccountsDeps } from './deps.ts';
import { clientAddress, decideLoginLimit, windowStart } from './login-limits.ts';
import type { LoginBody } from './schemas.ts';
import {
  type Credentials,
  addressKey,
  findCredentials,
  insertAttempt,
  lockLoginKeys,
  markAttemptSucceeded,
  recentFailuresByAddress,
  recentFailuresByEmail,
  selectRoles,
} from './sql.ts';

export interface AccessToken {
  accessToken: string;
  tokenType: 'Bearer';
  expiresIn: number;
}

type Admission = { admitted: false; retryAfterSeconds: number } | { admitted: true; attemptId: string; credentials: Credentials | undefined };

/**
 * Checks the limits and records the attempt (as a failure until the password proves right) in one
 * transaction under per-email and per-address locks: concurrent guesses cannot all slip past the
 * count, and the count holds across processes because it lives in the database.
 */
async function admit(deps: AccountsDeps, email: string, clientIp: string, now: Date): Promise<Admission> {
  const policy = deps.loginLimits;
  return withTransaction(deps.pool, async (tx) => {
    const address = await addressKey(tx, clientIp);
    await lockLoginKeys(tx, email, address);
    const since = windowStart(policy, now);
    const decision = decideLoginLimit(
      policy,
      now,
      await recentFailuresByEmail(tx, email, since, policy.failuresPerEmailMax),
      await recentFailuresByAddress(tx, address, since, policy.failuresPerAddressMax),
    );
    if (!decision.allowed) return { admitted: false, retryAfterSeconds: decision.retryAfterSeconds };
    const credentials = await findCredentials(tx, email);
    const attemptId = newId();
    await insertAttempt(tx, { id: attemptId, email, address, userId: credentials?.id ?? null, now });
    return { admitted: true, attemptId, credentials };
  });
}

/**
 * Wrong email and wrong password look the same from outside: the same error, and the same argon2
 * work (an unknown email is verified against a decoy hash).
 */
export async function login(deps: AccountsDeps, body: LoginBody, ip: string | undefined): Promise<AccessToken> {
  const now = deps.clock.now();
  const admission = await admit(deps, body.email, clientAddress(ip), now);
  if (!admission.admitted) {
    throw new AppError('RATE_LIMITED', 'too many failed logins; try again later', { retryAfterSeconds: admission.retryAfterSeconds });
  }
  const { credentials } = admission;
  let passwordRight = false;
  if (credentials) passwordRight = await deps.passwords.verify(credentials.passwordHash, body.password);
  else await deps.passwords.verifyNothing(body.password);
  if (!credentials || !passwordRight) throw new AppError('INVALID_CREDENTIALS');

  await markAttemptSucceeded(deps.pool, admission.attemptId);
  if (credentials.status !== 'active') throw new AppError('ACCOUNT_DISABLED');
  const roles = await selectRoles(deps.pool, credentials.id);
  const { token, expiresAt } = await deps.tokens.sign({ userId: credentials.id, roles }, now);
  // exp is in whole seconds, so the token lives up to one second less than the TTL: never overstate.
  return { accessToken: token, tokenType: 'Bearer', expiresIn: Math.floor((expiresAt.getTime() - now.getTime()) / 1000) };
}
