import { randomBytes } from 'node:crypto';
import { type Algorithm, hash, verify } from '@node-rs/argon2';

/** Length bounds in characters, as hashed (normalised): long passphrases welcome, but no unbounded input into argon2. */
export const PASSWORD_LENGTH_MIN = 12;
export const PASSWORD_LENGTH_MAX = 128;
/**
 * The most characters a password may have as sent: room for one typed with combining accents,
 * which normalisation joins (`e` + U+0301 is one `é`); the bounds above are checked once normalised.
 */
export const PASSWORD_INPUT_LENGTH_MAX = 4 * PASSWORD_LENGTH_MAX;

/** argon2id with the OWASP minimum (19 MiB, 2 passes, 1 lane). */
export const ARGON2_OPTIONS = {
  // The package's Algorithm is an ambient const enum, which verbatimModuleSyntax cannot read; Argon2id = 2.
  algorithm: 2 as Algorithm.Argon2id,
  memoryCost: 19456,
  timeCost: 2,
  parallelism: 1,
} as const;

export interface Passwords {
  hash(password: string): Promise<string>;
  /** Constant-time comparison inside argon2; a malformed hash is a mismatch, never an exception. */
  verify(passwordHash: string, password: string): Promise<boolean>;
  /**
   * Spends the same work as `verify` against a hash of no account, so a login for an unknown email
   * takes as long as one with a wrong password.
   */
  verifyNothing(password: string): Promise<void>;
}

/** The same password typed on two keyboards (composed or decomposed accents) is one password. */
function normalize(password: string): string {
  return password.normalize('NFKC');
}

/**
 * Why a new password cannot be taken, or undefined. The length counts the characters of the password
 * as it is hashed (normalised): six accented letters typed as letter + combining accent are twelve
 * characters as sent but six as hashed. A password of spaces only is refused too.
 */
export function newPasswordProblem(password: string): string | undefined {
  const normalized = normalize(password);
  let characters = 0;
  for (const _ of normalized) characters++;
  if (characters < PASSWORD_LENGTH_MIN) return `password must hold at least ${PASSWORD_LENGTH_MIN} characters (counted once normalised: an accent typed apart is one character with its letter)`;
  if (characters > PASSWORD_LENGTH_MAX) return `password must hold at most ${PASSWORD_LENGTH_MAX} characters (counted once normalised: a ligature such as ﬃ is three)`;
  if (!/[^\s\p{Cc}\p{Cf}\p{Default_Ignorable_Code_Point}\u2800\u3164\uffa0\u115f\u1160]/u.test(normalized)) return 'password must not be only spaces, control or invisible characters';
  return undefined;
}

export function createPasswords(): Passwords {
  // Made up front, so that even the first unknown-email login costs one verification, not a hash too.
  const decoy = hash(randomBytes(24).toString('base64url'), ARGON2_OPTIONS);
  decoy.catch(() => undefined);
  const passwords: Passwords = {
    hash: (password) => hash(normalize(password), ARGON2_OPTIONS),
    async verify(passwordHash, password) {
      try {
        return await verify(passwordHash, normalize(password));
      } catch {
        return false;
      }
    },
    async verifyNothing(password) {
      await passwords.verify(await decoy, password);
    },
  };
  return passwords;
}
