import { describe, expect, it } from 'vitest';
import { computeSignature, signatureHeader, verifySignature } from '../../src/platform/http/webhook-signature.ts';

const secret = 'whsec_unit_test_secret_123';
const body = Buffer.from('{"id":"evt_1","type":"charge.authorized"}');
const now = new Date('2026-01-01T00:00:00Z');
const t = Math.floor(now.getTime() / 1000);

describe('webhook signatures', () => {
  it('accepts the HMAC-SHA256 of "<timestamp>.<raw body>" made with the secret', () => {
    expect(verifySignature(secret, signatureHeader(secret, t, body), body, now)).toEqual({ ok: true, timestamp: t });
  });

  it('accepts a header listing several signatures when one matches (secret rotation)', () => {
    const header = `t=${t},v1=${computeSignature('whsec_old_secret_000000', t, body)},v1=${computeSignature(secret, t, body)}`;
    expect(verifySignature(secret, header, body, now).ok).toBe(true);
  });

  it('refuses a changed body, another secret, a missing or malformed header', () => {
    const header = signatureHeader(secret, t, body);
    expect(verifySignature(secret, header, Buffer.from(`${body.toString()} `), now).ok).toBe(false);
    expect(verifySignature('whsec_another_secret_000', header, body, now).ok).toBe(false);
    expect(verifySignature(secret, undefined, body, now).ok).toBe(false);
    expect(verifySignature(secret, 'v1=abc', body, now).ok).toBe(false);
    expect(verifySignature(secret, `t=${t},v1=${'0'.repeat(64)}`, body, now).ok).toBe(false);
  });

  it('refuses a timestamp more than five minutes away, either side', () => {
    expect(verifySignature(secret, signatureHeader(secret, t - 301, body), body, now)).toMatchObject({ ok: false, reason: /tolerance/ });
    expect(verifySignature(secret, signatureHeader(secret, t + 301, body), body, now).ok).toBe(false);
    expect(verifySignature(secret, signatureHeader(secret, t - 299, body), body, now).ok).toBe(true);
  });

  it('does not let the timestamp be swapped for a fresh one', () => {
    const old = signatureHeader(secret, t - 3600, body);
    const replayed = old.replace(`t=${t - 3600}`, `t=${t}`);
    expect(verifySignature(secret, replayed, body, now).ok).toBe(false);
  });
});
