import { domainToUnicode } from 'node:url';
import { AppError } from '../../platform/http/errors.ts';

/**
 * A domain written in its ASCII form (IDNA "punycode": bob@xn--bcher-kva.de) is the same mailbox as
 * the one written in Unicode (bob@bücher.de): such a domain is turned into its Unicode form, so the
 * two are one account. A domain that is no valid IDNA name is kept as written.
 */
function unicodeDomain(email: string): string {
  const at = email.lastIndexOf('@');
  const domain = email.slice(at + 1);
  if (at < 0 || !/(^|\.)xn--/i.test(domain)) return email;
  const unicode = domainToUnicode(domain);
  return unicode ? `${email.slice(0, at + 1)}${unicode}` : email;
}

/** The longest email address (RFC 5321 path limit), as the users table holds it. */
const EMAIL_LENGTH_MAX = 254;

/**
 * Emails are compared ignoring case. The database compares them as citext, whose case folding
 * follows the cluster's locale: the embedded cluster's C locale folds ASCII letters only, so
 * ÉMILE@example.com and émile@example.com were two accounts. An address with a character outside
 * ASCII is therefore stored and looked up in one form, made here: composed (NFC: an accent typed
 * as a combining mark and a precomposed one agree) and in lower case. An ASCII address is kept as
 * written (citext folds its case).
 */
export function normalizeEmail(email: string): string {
  const composed = unicodeDomain(email).normalize('NFC');
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the whole ASCII range
  if (/^[\x00-\x7f]*$/.test(composed)) return composed;
  const folded = composed.toLowerCase().normalize('NFC');
  // Lower case may be longer (İ is i and a combining dot).
  if (folded.length > EMAIL_LENGTH_MAX) throw new AppError('VALIDATION_FAILED', `email must hold at most ${EMAIL_LENGTH_MAX} characters`);
  return folded;
}
