import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { TokenError, createSigner, createVerifier } from 'fast-jwt';
import { type Clock, systemClock } from '../clock.ts';
import { AppError } from './errors.ts';
import { isUuid } from '../ids.ts';
import { makeRoom } from '../bounded-map.ts';

export const ROLES = ['buyer', 'seller', 'admin'] as const;
export type Role = (typeof ROLES)[number];

export interface Principal {
  userId: string;
  roles: Role[];
}

export interface SigningKey {
  kid: string;
  secret: Uint8Array;
}

/** One fixed algorithm: a token that names any other is refused before its signature is checked. */
const ALGORITHM = 'HS256';

/**
 * Parses `JWT_KEYS` = "kid1:base64urlSecret,kid2:base64urlSecret". The first key signs; every key
 * verifies, so a key can be rotated by putting a new one first and dropping the old one later.
 */
export function parseKeyring(value: string): SigningKey[] {
  const keys = value.split(',').map((part) => {
    const [kid, secret] = part.trim().split(':');
    if (!kid || !secret || !/^[A-Za-z0-9_-]{1,64}$/.test(kid)) throw new Error('JWT_KEYS must be kid:secret[,kid:secret…]');
    const bytes = Buffer.from(secret, 'base64url');
    if (bytes.length < 32) throw new Error(`JWT_KEYS key ${kid} must hold at least 32 bytes (base64url)`);
    return { kid, secret: new Uint8Array(bytes) };
  });
  if (keys.length === 0) throw new Error('JWT_KEYS holds no key');
  // Tokens name their key by kid: two keys under one kid would make every token of one of them fail.
  const kids = keys.map((k) => k.kid);
  const twice = kids.find((kid, i) => kids.indexOf(kid) !== i);
  if (twice) throw new Error(`JWT_KEYS names key ${twice} twice`);
  return keys;
}

export function generateKeyring(): string {
  return `k${Date.now().toString(36)}:${randomBytes(32).toString('base64url')}`;
}

/** Without JWT_KEYS, a key is made on first start and kept in DATA_DIR so tokens survive restarts. */
export async function loadOrCreateKeyring(configured: string | undefined, dataDir: string): Promise<SigningKey[]> {
  if (configured) return parseKeyring(configured);
  const file = path.join(dataDir, 'jwt-keys');
  if (existsSync(file)) return parseKeyring((await readFile(file, 'utf8')).trim());
  await mkdir(dataDir, { recursive: true });
  const keyring = generateKeyring();
  await writeFile(file, keyring, { mode: 0o600 });
  return parseKeyring(keyring);
}

/** Verified tokens remembered per process, so a hot path does not re-check the same signature. */
const VERIFIED_CACHE_MAX = 10_000;

interface Verified {
  principal: Principal;
  expiresAtMs: number;
  /**
   * What revocations compare with: the password version the token was issued under (`pwv`, a
   * login's), else its issue time (`iat_ms`, else the start of its `iat` second).
   */
  countsFromMs: number;
}

type Verify = (token: string) => Record<string, unknown>;
type Sign = (payload: Record<string, unknown>) => string;

/**
 * The protected header alone (alg, kid), to pick the key: a few dozen bytes, where a full decode
 * would parse the claims too, and the verifier parses them again.
 */
function readHeader(token: string): { alg?: unknown; kid?: unknown } {
  const end = token.indexOf('.');
  if (end <= 0 || end > 512) throw new Error('no header');
  const header: unknown = JSON.parse(Buffer.from(token.slice(0, end), 'base64url').toString('utf8'));
  if (typeof header !== 'object' || header === null) throw new Error('header is not an object');
  return header as { alg?: unknown; kid?: unknown };
}

/** How far ahead of this clock a token's iat may be (another process's clock may run a little ahead). */
const ISSUED_AT_SKEW_MS = 60_000;
/**
 * How much longer than a token's lifetime a revocation is kept: a token of the old password may be
 * signed after the change, by a login that checked it before (waiting for its turn up to 3 s, then
 * hashing), on a clock up to ISSUED_AT_SKEW_MS ahead.
 */
const REVOCATION_MARGIN_MS = ISSUED_AT_SKEW_MS + 60_000;

export class TokenService {
  /** One verifier per key id, each bound to its secret, the one algorithm, issuer and audience. */
  readonly #verifiers: Map<string, Verify>;
  readonly #verified = new Map<string, Verified>();
  /** User id → the second from which the user's tokens count: those issued before were revoked. */
  readonly #revoked = new Map<string, number>();
  readonly #sign: Sign;
  constructor(
    keys: SigningKey[],
    readonly issuer: string,
    readonly audience: string,
    readonly ttlSeconds: number,
    readonly clock: Clock = systemClock,
  ) {
    const first = keys[0];
    if (!first) throw new Error('a token service needs at least one key');
    // Times come from this service's clock (it may be a test clock): iat and exp are set here and
    // expiry is checked in #verifySignature, so the library's own clock is not used for them.
    this.#sign = createSigner({ key: Buffer.from(first.secret), algorithm: ALGORITHM, kid: first.kid });
    this.#verifiers = new Map(
      keys.map((k) => [
        k.kid,
        createVerifier({
          key: Buffer.from(k.secret),
          algorithms: [ALGORITHM],
          allowedIss: issuer,
          allowedAud: audience,
          requiredClaims: ['sub', 'exp', 'iat'],
          ignoreExpiration: true,
        }) as Verify,
      ]),
    );
  }

  /**
   * `passwordVersion`: for a login, the user's password_changed_at as the login read it with the
   * password it checked (null: never changed). A revocation refuses the tokens issued under an
   * older version: a login that read the old password, however close to the change, is revoked;
   * the one that read the new password is not. Without it, a token counts from its issue time.
   */
  async sign(principal: Principal, now = this.clock.now(), passwordVersion?: Date | null): Promise<{ token: string; expiresAt: Date }> {
    const iat = Math.floor(now.getTime() / 1000);
    const exp = iat + this.ttlSeconds;
    // iat_ms: the issue time to the millisecond (iat has whole seconds); pwv: the password version
    // (0 when the password was never changed).
    const claims: Record<string, unknown> = { roles: principal.roles, sub: principal.userId, iss: this.issuer, aud: this.audience, iat, iat_ms: now.getTime(), exp };
    if (passwordVersion !== undefined) claims.pwv = passwordVersion?.getTime() ?? 0;
    const token = this.#sign(claims);
    return { token, expiresAt: new Date(exp * 1000) };
  }

  /**
   * Checks signature, algorithm, issuer, audience and expiry. A token already verified by this
   * process is answered from a bounded cache until it expires (a token is immutable: same string,
   * same claims), which takes the signature check off the hot path of repeated requests.
   */
  async verify(token: string): Promise<Principal> {
    return this.verifyNow(token);
  }

  /** `verify` without the promise, for the request hook that runs on every request. */
  verifyNow(token: string): Principal {
    let verified = this.#verified.get(token);
    if (verified && verified.expiresAtMs <= this.clock.now().getTime()) {
      this.#verified.delete(token);
      verified = undefined;
    }
    if (!verified) {
      verified = this.#verifySignature(token);
      makeRoom(this.#verified, VERIFIED_CACHE_MAX);
      this.#verified.set(token, verified);
    }
    if (this.#revoked.size > 0) {
      const from = this.#revoked.get(verified.principal.userId);
      if (from !== undefined && verified.countsFromMs < from) {
        throw new AppError('INVALID_TOKEN', 'the token was issued before the password was changed: sign in again');
      }
    }
    return verified.principal;
  }

  /** How long after a password change tokens of the old password may still be presented, so the change matters. */
  get revocationKeptSeconds(): number {
    return this.ttlSeconds + REVOCATION_MARGIN_MS / 1000;
  }

  /**
   * Refuses the user's tokens issued before `at` (a password change), here and in no other process:
   * each process is told by its own reader of the changes. A revocation is kept while a token
   * issued before it could still be unexpired.
   */
  revokeIssuedBefore(userId: string, at: Date): void {
    const fromMs = at.getTime();
    const nowMs = this.clock.now().getTime();
    // A token of the old password may be signed a little after the change (a login that checked it
    // just before, then hashed and read the roles) by a clock a little ahead, and live a full
    // lifetime from then: the revocation is kept that much longer.
    const keptMs = this.revocationKeptSeconds * 1000;
    if (fromMs + keptMs <= nowMs) return;
    if (fromMs <= (this.#revoked.get(userId) ?? -Infinity)) return;
    for (const [id, from] of this.#revoked) if (from + keptMs <= nowMs) this.#revoked.delete(id);
    this.#revoked.set(userId, fromMs);
  }

  /** Synchronous: an HS256 check with node:crypto costs a few microseconds, less than a promise hop. */
  #verifySignature(token: string): Verified {
    let verify: Verify | undefined;
    try {
      const header = readHeader(token);
      if (header.alg !== ALGORITHM) throw new AppError('INVALID_TOKEN', 'unsupported token algorithm');
      verify = typeof header.kid === 'string' ? this.#verifiers.get(header.kid) : undefined;
    } catch (error) {
      if (error instanceof AppError) throw error;
      throw new AppError('INVALID_TOKEN', 'the token cannot be read');
    }
    if (!verify) throw new AppError('INVALID_TOKEN', 'the token was signed with an unknown key');
    let payload: Record<string, unknown>;
    try {
      payload = verify(token);
    } catch (error) {
      if (error instanceof TokenError) throw new AppError('INVALID_TOKEN', 'the token is not valid');
      throw error;
    }
    const nowMs = this.clock.now().getTime();
    const expiresAtMs = Number(payload.exp) * 1000;
    if (!Number.isFinite(expiresAtMs) || expiresAtMs <= nowMs) throw new AppError('INVALID_TOKEN', 'the token has expired');
    // Only this service signs its tokens, so these hold for every token it made; one that breaks
    // them was made elsewhere with the key (a user id that is no UUID was a 500 further on).
    const iatSecondMs = Number(payload.iat) * 1000;
    if (!Number.isFinite(iatSecondMs) || iatSecondMs > nowMs + ISSUED_AT_SKEW_MS) throw new AppError('INVALID_TOKEN', 'the token is issued in the future');
    // What revocations compare with: the password version signed by a login, else the issue time.
    const { pwv, iat_ms: iatMs } = payload;
    const countsFromMs = Number.isSafeInteger(pwv) ? (pwv as number) : Number.isSafeInteger(iatMs) ? (iatMs as number) : iatSecondMs;
    if (typeof payload.sub !== 'string' || !isUuid(payload.sub)) throw new AppError('INVALID_TOKEN', 'the token does not name a user');
    const roles = Array.isArray(payload.roles) ? payload.roles.filter((r): r is Role => (ROLES as readonly unknown[]).includes(r)) : [];
    return { principal: { userId: payload.sub.toLowerCase(), roles }, expiresAtMs, countsFromMs };
  }
}
