import { normalizeEmail } from './email.ts';
import { UserRegisteredV1 } from '../../contracts/accounts.ts';
import { type Tx, isUniqueViolation, withTransaction } from '../../platform/db/pool.ts';
import { AppError } from '../../platform/http/errors.ts';
import type { Role } from '../../platform/http/tokens.ts';
import { newId } from '../../platform/ids.ts';
import type { Trace } from '../../platform/messaging/envelope.ts';
import { appendEvents } from '../../platform/messaging/outbox.ts';
import type { AccountsDeps } from './deps.ts';
import { readUser } from './read-user.ts';
import type { RegisterBody, User } from './schemas.ts';
import { decideRegistrationLimit, windowStart } from './login-limits.ts';
import { newPasswordProblem } from './passwords.ts';
import { EMAIL_UNIQUE_CONSTRAINT, addressKey, insertProfile, insertRegistrationAttempt, insertRole, insertUser, lockRecentRegistrations } from './sql.ts';

interface PgError {
  code: string;
  constraint?: string;
}

function isPgError(error: unknown): error is PgError {
  return typeof error === 'object' && error !== null && typeof (error as { code?: unknown }).code === 'string';
}

/**
 * The database decides email uniqueness (so concurrent registrations make one account). Any other
 * failure is rethrown without the server's detail, which would quote the row and its password hash.
 */
function insertFailure(error: unknown): Error {
  if (!isPgError(error)) return error as Error;
  if (isUniqueViolation(error, EMAIL_UNIQUE_CONSTRAINT)) {
    return new AppError('EMAIL_TAKEN', 'an account with this email exists');
  }
  return new Error(`inserting a user failed with SQLSTATE ${error.code}${error.constraint ? ` (${error.constraint})` : ''}`);
}

/** Creates a user with a profile and roles, and records accounts.user_registered.v1, in `tx`. */
export async function createUser(
  tx: Tx,
  input: { email: string; passwordHash: string; roles: Role[]; now: Date; trace: Trace | null },
): Promise<string> {
  const userId = newId();
  try {
    await insertUser(tx, { id: userId, email: input.email, passwordHash: input.passwordHash, now: input.now });
  } catch (error) {
    throw insertFailure(error);
  }
  await insertProfile(tx, { id: newId(), userId, now: input.now });
  for (const role of input.roles) {
    await insertRole(tx, { id: newId(), userId, role, assignedBy: null, now: input.now });
  }
  const data: UserRegisteredV1 = { userId, email: input.email, roles: input.roles, registeredAt: input.now.toISOString() };
  await appendEvents(tx, 'accounts', [{ type: UserRegisteredV1.type, aggregateId: userId, aggregateType: 'user', data }], input.trace, input.now);
  return userId;
}

/**
 * Counts and records a registration request of `address` (as clientAddress gives it), refusing it
 * with 429 when the address has reached the limit. Before the password is hashed: a refused
 * request costs one small transaction.
 */
async function admitRegistration(deps: AccountsDeps, address: string, now: Date): Promise<void> {
  const policy = deps.registrationLimits;
  const decision = await withTransaction(deps.pool, async (tx) => {
    // An IPv6 client counts by its /48 here: a /64 each would give one home 256 limits.
    const key = await addressKey(tx, address, 48);
    const attempts = await lockRecentRegistrations(tx, key, windowStart(policy, now), policy.registrationsPerAddressMax);
    const decided = decideRegistrationLimit(policy, now, attempts);
    if (decided.allowed) await insertRegistrationAttempt(tx, { id: newId(), address: key, now });
    return decided;
  });
  if (!decision.allowed) {
    throw new AppError('RATE_LIMITED', 'too many registrations from this address; try again later', { retryAfterSeconds: decision.retryAfterSeconds });
  }
}

/**
 * `address` is the client's (clientAddress): its registrations are limited per hour. Without one
 * (seeding, the first admin, tests of the domain itself) nothing is counted.
 */
export async function register(deps: AccountsDeps, body: RegisterBody, trace: Trace | null, address?: string): Promise<User> {
  // Counted (and refused past the limit) before the password or the email is looked at, accepted or
  // not (ADR 0017); a body the schema refuses is not a registration and is not counted.
  if (address !== undefined) await admitRegistration(deps, address, deps.clock.now());
  const problem = newPasswordProblem(body.password);
  if (problem) throw new AppError('VALIDATION_FAILED', problem);
  const email = normalizeEmail(body.email);
  // A compatibility character (a fullwidth ｂ, a ligature ﬁ) reads as the ordinary one: such an
  // address would pass for another account's (found by a review: ｂob@ beside bob@).
  if (email.normalize('NFKC') !== email) {
    throw new AppError('VALIDATION_FAILED', 'email holds compatibility characters (such as fullwidth letters or ligatures): write it in ordinary letters');
  }
  // Hashed before the transaction: no connection is held for the ~50 ms argon2 takes.
  const passwordHash = await deps.passwords.hash(body.password);
  const now = deps.clock.now();
  return withTransaction(deps.pool, async (tx) => {
    const userId = await createUser(tx, { email, passwordHash, roles: [body.role ?? 'buyer'], now, trace });
    return (await readUser(tx, userId)) as User;
  });
}
