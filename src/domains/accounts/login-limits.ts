import { isIP } from 'node:net';
/**
 * Login throttling, decided from the recent failures of one account and of one client address.
 * Pure: the caller reads the failures (newest first, at most the limit) and brings the time.
 */
export interface LoginLimitPolicy {
  failuresPerEmailMax: number;
  failuresPerAddressMax: number;
  windowSeconds: number;
}

export const DEFAULT_LOGIN_LIMITS: LoginLimitPolicy = {
  failuresPerEmailMax: 5,
  failuresPerAddressMax: 20,
  windowSeconds: 15 * 60,
};

export type LoginLimitDecision = { allowed: true } | { allowed: false; by: 'email' | 'address'; retryAfterSeconds: number };

/** The start of the window: failures at or before it no longer count. */
export function windowStart(policy: LoginLimitPolicy, now: Date): Date {
  return new Date(now.getTime() - policy.windowSeconds * 1000);
}

/**
 * When the failure count would drop below the limit: the limit-th newest failure leaves the window.
 * Undefined when the count is already below the limit.
 */
function blockedUntil(failuresNewestFirst: readonly Date[], max: number, policy: LoginLimitPolicy): Date | undefined {
  const pivot = failuresNewestFirst[max - 1];
  return pivot === undefined ? undefined : new Date(pivot.getTime() + policy.windowSeconds * 1000);
}

export function decideLoginLimit(
  policy: LoginLimitPolicy,
  now: Date,
  emailFailures: readonly Date[],
  addressFailures: readonly Date[],
): LoginLimitDecision {
  const start = windowStart(policy, now).getTime();
  const recent = (failures: readonly Date[]) => failures.filter((f) => f.getTime() > start);
  const byEmail = blockedUntil(recent(emailFailures), policy.failuresPerEmailMax, policy);
  const byAddress = blockedUntil(recent(addressFailures), policy.failuresPerAddressMax, policy);
  if (!byEmail && !byAddress) return { allowed: true };
  const by = byEmail && (!byAddress || byEmail >= byAddress) ? 'email' : 'address';
  const until = (by === 'email' ? byEmail : byAddress) as Date;
  return { allowed: false, by, retryAfterSeconds: Math.max(1, Math.ceil((until.getTime() - now.getTime()) / 1000)) };
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
