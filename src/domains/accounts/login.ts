import { withTransaction } from '../../platform/db/pool.ts';
import { AppError } from '../../platform/http/errors.ts';
import { newId } from '../../platform/ids.ts';
import type { AccountsDeps } from './deps.ts';
import { normalizeEmail } from './email.ts';
import { clientAddress, decideLoginLimit, limitsOf, windowStart } from './login-limits.ts';
import type { LoginBody } from './schemas.ts';
import {
  type Credentials,
  addressKey,
  findCredentials,
  findCredentialsAsTyped,
  findCredentialsById,
  insertAttempt,
  lockLoginKeys,
  type UnsucceededAttempts,
  recentFailures,
  selectRoles,
  settleAttempt,
} from './sql.ts';

export interface AccessToken {
  accessToken: string;
  tokenType: 'Bearer';
  expiresIn: number;
}

type Admission =
  | { admitted: false; retryAfterSeconds: number }
  | {
      admitted: true;
      attemptId: string;
      credentials: Credentials | undefined;
      /** The folded form's account, when the account stored exactly as typed is another one: its password is tried second. */
      alternative?: Credentials;
    }
  /** Refused only because of attempts whose password is still being checked: ask again shortly. */
  | { admitted: 'wait' };

/** How long an attempt may stay pending before it counts as failed (its process died meanwhile). */
const PENDING_MAX_MS = 60_000;
/** How long a login waits, at most, for other attempts of its email or address to settle. */
const PENDING_WAIT_MAX_MS = 3_000;
const PENDING_POLL_MS = 25;

/**
 * Checks the limits and records the attempt (pending until its password is checked) in one
 * transaction under per-email and per-address locks: concurrent guesses cannot all slip past the
 * count, and the count holds across processes because it lives in the database. Pending attempts
 * count: when they alone would refuse this one (several right logins at once), it waits for them
 * to settle instead of being told it failed too often.
 */
async function admit(deps: AccountsDeps, email: string, asGiven: string, clientIp: string, now: Date, userId: string | undefined): Promise<Admission> {
  const policy = deps.loginLimits;
  return withTransaction(deps.pool, async (tx) => {
    const address = await addressKey(tx, clientIp);
    await lockLoginKeys(tx, email, address);
    const since = windowStart(policy, now);
    const pendingAfter = new Date(now.getTime() - PENDING_MAX_MS);
    const recent = await recentFailures(tx, email, address, since, limitsOf(policy), pendingAfter);
    const failed = { emailAndAddress: recent.emailAndAddress.failed, address: recent.address.failed, email: recent.email.failed };
    // Pending attempts count here (whether a limit is reached depends on the count alone, not the order).
    const all = (r: UnsucceededAttempts) => [...r.failed, ...r.pending];
    const decision = decideLoginLimit(policy, now, { emailAndAddress: all(recent.emailAndAddress), address: all(recent.address), email: all(recent.email) });
    if (!decision.allowed) {
      const onFailures = decideLoginLimit(policy, now, failed);
      if (onFailures.allowed) return { admitted: 'wait' };
      return { admitted: false, retryAfterSeconds: onFailures.retryAfterSeconds };
    }
    // A known user's own row (another account may read alike: see checkPassword). Otherwise the
    // account stored exactly as typed first: one registered before emails were normalised
    // (non-ASCII capitals kept as typed), or one accounts migration 0005 left unfolded because its
    // folded form was another account's, which the folded form alone would never find. Then the
    // account of the folded form, whose password is tried too when the first one's is not it (its
    // owner may type the other account's spelling: a phone raising the first letter).
    const exact = userId === undefined && asGiven !== email ? await findCredentialsAsTyped(tx, asGiven) : undefined;
    const folded = userId === undefined ? await findCredentials(tx, email) : undefined;
    const credentials = userId !== undefined ? await findCredentialsById(tx, userId) : (exact ?? folded);
    const attemptId = newId();
    await insertAttempt(tx, { id: attemptId, email, address, userId: credentials?.id ?? null, now });
    return { admitted: true, attemptId, credentials, ...(exact && folded && folded.id !== exact.id ? { alternative: folded } : {}) };
  });
}

/**
 * Checks `password` against the account of `givenEmail`, under the login limits: the account's
 * credentials when it is right. Wrong email and wrong password look the same from outside: the same
 * error, and the same argon2 work (an unknown email is verified against a decoy hash). With
 * `userId` (a signed-in user confirming their password) that user's own row is checked, the limits
 * still counted by the email: an account stored before emails were made one form may share its
 * email's normal form with a newer one, and the email alone would find the newer one.
 */
export async function checkPassword(
  deps: AccountsDeps,
  givenEmail: string,
  password: string,
  ip: string | undefined,
  peer?: string,
  userId?: string,
): Promise<Credentials> {
  const now = deps.clock.now();
  const address = clientAddress(ip, peer);
  const email = normalizeEmail(givenEmail);
  const asGiven = givenEmail.normalize('NFC');
  let admission = await admit(deps, email, asGiven, address, now, userId);
  // Wall time, not the injected clock: this is how long a request waits, not when it was made.
  const waitUntil = Date.now() + PENDING_WAIT_MAX_MS;
  while (admission.admitted === 'wait' && Date.now() < waitUntil) {
    await new Promise((resolve) => setTimeout(resolve, PENDING_POLL_MS));
    admission = await admit(deps, email, asGiven, address, now, userId);
  }
  if (admission.admitted === 'wait') {
    throw new AppError('RATE_LIMITED', 'too many logins of this account at once; try again in a moment', { retryAfterSeconds: 1 });
  }
  if (!admission.admitted) {
    throw new AppError('RATE_LIMITED', 'too many failed logins; try again later', { retryAfterSeconds: admission.retryAfterSeconds });
  }
  let { credentials } = admission;
  let passwordRight = false;
  if (credentials) passwordRight = await deps.passwords.verify(credentials.passwordHash, password);
  else await deps.passwords.verifyNothing(password);
  if (!passwordRight && admission.alternative && (await deps.passwords.verify(admission.alternative.passwordHash, password))) {
    credentials = admission.alternative;
    passwordRight = true;
  }
  await settleAttempt(deps.pool, admission.attemptId, credentials !== undefined && passwordRight);
  if (!credentials || !passwordRight) throw new AppError('INVALID_CREDENTIALS');
  return credentials;
}

export async function login(deps: AccountsDeps, body: LoginBody, ip: string | undefined, peer?: string): Promise<AccessToken> {
  const credentials = await checkPassword(deps, body.email, body.password, ip, peer);
  if (credentials.status !== 'active') throw new AppError('ACCOUNT_DISABLED');
  const now = deps.clock.now();
  const roles = await selectRoles(deps.pool, credentials.id);
  // Issued under the password version it checked: a change that commits while this login checks the
  // old password, even one this login's read came too early to see, revokes the token it gets.
  const { token, expiresAt } = await deps.tokens.sign({ userId: credentials.id, roles }, now, credentials.passwordChangedAt);
  // exp is in whole seconds, so the token lives up to one second less than the TTL: never overstate.
  return { accessToken: token, tokenType: 'Bearer', expiresIn: Math.floor((expiresAt.getTime() - now.getTime()) / 1000) };
}
