import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Webhook signatures, shared by the payment gateway's webhooks and the carriers' tracking webhooks
 * (each with its own secret): `<header>: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">`.
 * The timestamp is inside the signed text, so a captured webhook cannot be replayed with a fresh
 * timestamp, and an old one is refused after the tolerance.
 */
export const SIGNATURE_HEADER = 'bazaar-signature';
/** What the signature header holds, as the API's descriptions say it. */
export const SIGNATURE_FORMAT = 't=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">';
export const SIGNATURE_TOLERANCE_SECONDS = 300;
const HEADER_LENGTH_MAX = 1000;

export function computeSignature(secret: string, timestamp: number, rawBody: Buffer | string): string {
  return createHmac('sha256', secret).update(`${timestamp}.`).update(rawBody).digest('hex');
}

export function signatureHeader(secret: string, timestamp: number, rawBody: Buffer | string): string {
  return `t=${timestamp},v1=${computeSignature(secret, timestamp, rawBody)}`;
}

export type SignatureCheck = { ok: true; timestamp: number } | { ok: false; reason: string };

/** Checks a signature header against the raw body; any v1 signature may match (secret rotation). */
export function verifySignature(
  secret: string,
  header: string | undefined,
  rawBody: Buffer,
  now: Date,
  toleranceSeconds = SIGNATURE_TOLERANCE_SECONDS,
): SignatureCheck {
  if (!header) return { ok: false, reason: `the ${SIGNATURE_HEADER} header is missing` };
  if (header.length > HEADER_LENGTH_MAX) return { ok: false, reason: 'the signature header is too long' };
  let timestamp: number | undefined;
  const signatures: string[] = [];
  for (const part of header.split(',')) {
    const [key, value] = part.trim().split('=', 2);
    if (key === 't' && value && /^\d{1,12}$/.test(value)) timestamp = Number(value);
    else if (key === 'v1' && value && /^[0-9a-f]{64}$/.test(value)) signatures.push(value);
  }
  if (timestamp === undefined || signatures.length === 0) return { ok: false, reason: 'the signature header is malformed' };
  const ageSeconds = Math.abs(now.getTime() / 1000 - timestamp);
  if (ageSeconds > toleranceSeconds) return { ok: false, reason: 'the signature timestamp is outside the tolerance' };
  const expected = Buffer.from(computeSignature(secret, timestamp, rawBody), 'hex');
  // Constant-time comparison: the time taken says nothing about how much of a guess was right.
  const matches = signatures.some((s) => timingSafeEqual(Buffer.from(s, 'hex'), expected));
  return matches ? { ok: true, timestamp } : { ok: false, reason: 'the signature does not match' };
}
