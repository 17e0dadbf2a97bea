import { isIP } from 'node:net';
/**
 * Login throttling, decided from the recent failures of one account from one client address, of
 * one client address, and of one account from anywhere. Pure: the caller reads the failures
 * (newest first, at most the limit) and brings the time.
 *
 * The tight limit is per account AND address: a guesser is stopped after a few tries, while the
 * owner, from an address of their own, can still sign in (a limit per account alone let anyone
 * lock any account out with five requests every 15 minutes). The limit per account from anywhere
 * is much wider: it only slows a guess spread over many addresses.
 */
export interface LoginLimitPolicy {
  failuresPerEmailAndAddressMax: number;
  failuresPerAddressMax: number;
  failuresPerEmailMax: number;
  windowSeconds: number;
}

export const DEFAULT_LOGIN_LIMITS: LoginLimitPolicy = {
  failuresPerEmailAndAddressMax: 5,
  failuresPerAddressMax: 20,
  failuresPerEmailMax: 50,
  windowSeconds: 15 * 60,
};

export type LimitKey = 'emailAndAddress' | 'address' | 'email';

export type LoginLimitDecision = { allowed: true } | { allowed: false; by: LimitKey; retryAfterSeconds: number };

/** Recent failures, newest first, per key. */
export type RecentFailures = Readonly<Record<LimitKey, readonly Date[]>>;

const LIMIT_KEYS: readonly LimitKey[] = ['emailAndAddress', 'address', 'email'];

const MAX_OF: Readonly<Record<LimitKey, keyof LoginLimitPolicy>> = {
  emailAndAddress: 'failuresPerEmailAndAddressMax',
  address: 'failuresPerAddressMax',
  email: 'failuresPerEmailMax',
};

/** Registrations per client address (accepted or not: a taken email counts too). */
export interface RegistrationLimitPolicy {
  registrationsPerAddressMax: number;
  windowSeconds: number;
}

export const DEFAULT_REGISTRATION_LIMITS: RegistrationLimitPolicy = {
  registrationsPerAddressMax: 20,
  windowSeconds: 60 * 60,
};

/** Refused while the address has reached the limit; the wait is until the oldest counted attempt leaves the window. */
export function decideRegistrationLimit(policy: RegistrationLimitPolicy, now: Date, attemptsNewestFirst: readonly Date[]): LoginLimitDecision {
  const until = blockedUntil(recentIn(policy, now, attemptsNewestFirst), policy.registrationsPerAddressMax, policy);
  return until ? { allowed: false, by: 'address', retryAfterSeconds: secondsUntil(until, now) } : { allowed: true };
}

/** The start of the window: failures at or before it no longer count. */
export function windowStart(policy: { windowSeconds: number }, now: Date): Date {
  return new Date(now.getTime() - policy.windowSeconds * 1000);
}

/**
 * When the failure count would drop below the limit: the limit-th newest failure leaves the window.
 * Undefined when the count is already below the limit.
 */
function blockedUntil(failuresNewestFirst: readonly Date[], max: number, policy: { windowSeconds: number }): Date | undefined {
  const pivot = failuresNewestFirst[max - 1];
  return pivot === undefined ? undefined : new Date(pivot.getTime() + policy.windowSeconds * 1000);
}

/** Refused while any limit is reached; the wait is the longest of the limits reached. */
export function decideLoginLimit(policy: LoginLimitPolicy, now: Date, failures: RecentFailures): LoginLimitDecision {
  let refusal: { by: LimitKey; until: Date } | undefined;
  for (const by of LIMIT_KEYS) {
    const until = blockedUntil(recentIn(policy, now, failures[by]), policy[MAX_OF[by]], policy);
    if (until && (!refusal || until > refusal.until)) refusal = { by, until };
  }
  return refusal ? { allowed: false, by: refusal.by, retryAfterSeconds: secondsUntil(refusal.until, now) } : { allowed: true };
}

/** Each limit's most, as the policy sets it: how many recent failures of each key to read. */
export function limitsOf(policy: LoginLimitPolicy): Record<LimitKey, number> {
  return { emailAndAddress: policy[MAX_OF.emailAndAddress], address: policy[MAX_OF.address], email: policy[MAX_OF.email] };
}

function recentIn(policy: { windowSeconds: number }, now: Date, newestFirst: readonly Date[]): Date[] {
  const start = windowStart(policy, now).getTime();
  return newestFirst.filter((d) => d.getTime() > start);
}

/** Never less than one second. */
function secondsUntil(until: Date, now: Date): number {
  return Math.max(1, Math.ceil((until.getTime() - now.getTime()) / 1000));
}

/**
 * The client address as counted: an IPv4 address seen through an IPv6 socket (::ffff:a.b.c.d)
 * counts as the IPv4 address, and a zone index is dropped. IPv6 addresses are further grouped by
 * /64 in SQL, because one client usually holds a whole /64. Behind a trusted proxy the address is
 * what X-Forwarded-For says, which may carry a port (`203.0.113.5:5678`, `[2001:db8::1]:443`) or be
 * no address at all (`unknown`): the port is dropped, and what is still not an address counts as
 * the peer that sent it (`peer`, the TCP peer: the proxy).
 */
export function clientAddress(ip: string | undefined, peer?: string): string {
  const address = plainAddress(ip) ?? plainAddress(peer);
  return address ?? '0.0.0.0';
}

function plainAddress(ip: string | undefined): string | undefined {
  if (!ip) return undefined;
  const trimmed = ip.trim();
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(trimmed);
  const withPort = /^(\d{1,3}(?:\.\d{1,3}){3}):\d+$/.exec(trimmed);
  const bare = bracketed?.[1] ?? withPort?.[1] ?? trimmed;
  const withoutZone = bare.split('%')[0] ?? bare;
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(withoutZone);
  const address = mapped?.[1] ?? withoutZone;
  return isIP(address) === 0 ? undefined : address;
}
