import { AppError, notFound } from '../../platform/http/errors.ts';
import type { AccountsDeps } from './deps.ts';
import { checkPassword } from './login.ts';
import { newPasswordProblem } from './passwords.ts';
import type { PasswordChangeBody } from './schemas.ts';
import { setPasswordHash, userEmail } from './sql.ts';

/**
 * The signed-in user changes their password, giving the current one. The current password is
 * checked as a login is, under the same limits (a stolen token cannot be used to guess it faster
 * than a login could), and a wrong one is 403 PASSWORD_MISMATCH, not 401: the token is fine.
 * The user's access tokens issued before the change are refused from then on (this one too): in
 * this process at once, in the others within PASSWORD_CHANGE_POLL_MS (token-revocations.ts).
 */
export async function changePassword(deps: AccountsDeps, userId: string, body: PasswordChangeBody, ip: string | undefined, peer?: string): Promise<void> {
  const problem = newPasswordProblem(body.newPassword);
  if (problem) throw new AppError('VALIDATION_FAILED', problem.replace(/^password/, 'newPassword'));
  if (body.newPassword.normalize('NFKC') === body.currentPassword.normalize('NFKC')) {
    throw new AppError('VALIDATION_FAILED', 'newPassword must differ from currentPassword');
  }
  const email = await userEmail(deps.pool, userId);
  if (email === undefined) throw notFound('user');
  let checked: string;
  try {
    // This user's own row: another account stored before emails were made one form may read alike.
    checked = (await checkPassword(deps, email, body.currentPassword, ip, peer, userId)).passwordHash;
  } catch (error) {
    if (error instanceof AppError && error.code === 'INVALID_CREDENTIALS') throw new AppError('PASSWORD_MISMATCH');
    throw error;
  }
  const passwordHash = await deps.passwords.hash(body.newPassword);
  // Only over the password just checked: of two changes sent at once with the same current
  // password, the second finds it changed and is refused, instead of answering 204 for a password
  // the first one replaced.
  const changedAt = await setPasswordHash(deps.pool, userId, passwordHash, deps.clock.now(), checked);
  if (changedAt === undefined) throw notFound('user');
  if (changedAt === null) throw new AppError('PASSWORD_MISMATCH', 'the current password was changed meanwhile (another change came first): sign in with the new one');
  // This process refuses the older tokens at once; the others when they next read the changes.
  deps.tokens.revokeIssuedBefore(userId, changedAt);
}
