import { describe, expect, it } from 'vitest';
import { DEFAULT_LOGIN_LIMITS, clientAddress, decideLoginLimit } from '../../src/domains/accounts/login-limits.ts';
import { applyProfilePatch } from '../../src/domains/accounts/profile.ts';

const policy = DEFAULT_LOGIN_LIMITS;
const now = new Date('2026-03-01T12:00:00.000Z');
const secondsAgo = (s: number) => new Date(now.getTime() - s * 1000);
const failures = (count: number, everySeconds = 10) => Array.from({ length: count }, (_, i) => secondsAgo(i * everySeconds));

describe('login limits', () => {
  const none: Date[] = [];
  const of = (emailAndAddress: Date[], address: Date[] = none, email: Date[] = emailAndAddress) => ({ emailAndAddress, address, email });

  it('allows a login below every limit', () => {
    expect(decideLoginLimit(policy, now, of(failures(4), failures(19), failures(49)))).toEqual({ allowed: true });
  });

  it('blocks an account from one address after five recent failures there, until the fifth newest leaves the window', () => {
    // Failures 0, 10, 20, 30 and 40 seconds ago: the one 40 s ago leaves the window in 900 - 40 s.
    expect(decideLoginLimit(policy, now, of(failures(5)))).toEqual({ allowed: false, by: 'emailAndAddress', retryAfterSeconds: 860 });
  });

  it("does not block the account's owner from another address for another address's failures", () => {
    // Five failures of the account, all from the guesser's address: none from this one.
    expect(decideLoginLimit(policy, now, of(none, none, failures(5)))).toEqual({ allowed: true });
    expect(decideLoginLimit(policy, now, of(none, none, failures(49)))).toEqual({ allowed: true });
  });

  it('blocks an account from everywhere after fifty recent failures spread over addresses', () => {
    expect(decideLoginLimit(policy, now, of(none, none, failures(50, 1)))).toEqual({ allowed: false, by: 'email', retryAfterSeconds: 851 });
  });

  it('blocks the address after twenty recent failures', () => {
    expect(decideLoginLimit(policy, now, of(none, failures(20, 1), none))).toEqual({ allowed: false, by: 'address', retryAfterSeconds: 881 });
  });

  it('ignores failures older than the window', () => {
    const old = [secondsAgo(900), secondsAgo(901), secondsAgo(1000), secondsAgo(2000), secondsAgo(3000)];
    expect(decideLoginLimit(policy, now, of(old, old, old))).toEqual({ allowed: true });
  });

  it('answers with the longest of the waits when several limits are reached', () => {
    const decision = decideLoginLimit(policy, now, of(failures(5, 100), failures(20, 1)));
    expect(decision).toEqual({ allowed: false, by: 'address', retryAfterSeconds: 881 });
  });

  it('never asks to wait less than one second', () => {
    const decision = decideLoginLimit(policy, now, of([...failures(4), new Date(now.getTime() - 899_999)]));
    expect(decision).toEqual({ allowed: false, by: 'emailAndAddress', retryAfterSeconds: 1 });
  });
});

describe('client address', () => {
  it('counts an IPv4 client seen through an IPv6 socket as the IPv4 address', () => {
    expect(clientAddress('::ffff:203.0.113.7')).toBe('203.0.113.7');
  });

  it('drops an IPv6 zone index and keeps other addresses as they are', () => {
    expect(clientAddress('fe80::1%eth0')).toBe('fe80::1');
    expect(clientAddress('2001:db8::1')).toBe('2001:db8::1');
    expect(clientAddress('198.51.100.1')).toBe('198.51.100.1');
  });

  it('uses a placeholder when the address is unknown', () => {
    expect(clientAddress(undefined)).toBe('0.0.0.0');
  });

  it('drops the port a proxy may forward, and counts what is no address as the peer that sent it', () => {
    expect(clientAddress('203.0.113.5:5678')).toBe('203.0.113.5');
    expect(clientAddress('[2001:db8::1]:443')).toBe('2001:db8::1');
    expect(clientAddress('[2001:db8::2]')).toBe('2001:db8::2');
    for (const forwarded of ['unknown', 'abc', '203.0.113.5:port', '999.1.1.1', '', '_hidden']) {
      expect(clientAddress(forwarded, '::ffff:10.0.0.7'), forwarded).toBe('10.0.0.7');
    }
    expect(clientAddress('unknown', undefined)).toBe('0.0.0.0');
  });
});

describe('profile patch', () => {
  const current = { first_name: 'Ada', last_name: 'Lovelace', phone: '+441234567', address_json: [] };

  it('keeps fields that are left out and clears fields set to null', () => {
    const { next, changed } = applyProfilePatch(current, { phone: null });
    expect(next).toEqual({ ...current, phone: null });
    expect(changed).toEqual(['phone']);
  });

  it('reports no change when the values are the same', () => {
    expect(applyProfilePatch(current, { firstName: 'Ada', addresses: [] }).changed).toEqual([]);
  });

  it('replaces the whole address list', () => {
    const address = { name: 'Ada', lines: ['1 Main St'], city: 'London', postalCode: 'N1 1AA', country: 'GB' };
    const { next, changed } = applyProfilePatch({ ...current, address_json: [address, address] }, { addresses: [address] });
    expect(next.address_json).toEqual([address]);
    expect(changed).toEqual(['addresses']);
  });
});
