import { expect, it } from 'vitest';
import { normalizeEmail } from '../../src/domains/accounts/email.ts';
import { newId } from '../../src/platform/ids.ts';
import { migrationScratch } from '../support/migration-scratch.ts';

/**
 * Accounts migration 0005 on accounts stored before final sigma and long s were folded: they are
 * folded as normalizeEmail now folds them, unless that makes them another account's. Its own
 * scratch database, dropped after.
 */
const scratch = migrationScratch('accounts', 'accounts/0005_final_sigma_and_long_s');

it('folds stored final sigmas and long s, and leaves an address whose folded form another account has', async () => {
  const { db } = scratch;
  const hash = '$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA';
  const accounts = {
    greek: 'αλεξις@example.gr',
    long: 'ſeller9@example.com',
    dotted: '\u1e9bam@example.com',
    micro: 'µarie@example.com',
    symbols: 'ϕϑϵ@example.gr',
    twin: 'νικος@example.gr',
    taken: 'νικοσ@example.gr',
    plain: 'ada@example.com',
    iota: 'ιωαννα@example.gr',
    cyrillic: '\u1c83ергей@example.ru',
  };
  const ids: Record<string, string> = {};
  for (const [name, email] of Object.entries(accounts)) {
    ids[name] = newId();
    await db.query('INSERT INTO users (id, email, password_hash) VALUES ($1, $2, $3)', [ids[name], email, hash]);
  }
  await scratch.apply();
  const { rows } = await db.query<{ id: string; email: string }>('SELECT id, email::text AS email FROM users');
  const emailOf = (name: string) => rows.find((r) => r.id === ids[name])?.email;
  expect(emailOf('greek')).toBe('αλεξισ@example.gr');
  expect(emailOf('greek')).toBe(normalizeEmail('ΑΛΕΞΙΣ@EXAMPLE.GR'));
  expect(emailOf('long')).toBe('seller9@example.com');
  // Each folded as normalizeEmail folds it now.
  for (const name of ['dotted', 'micro', 'symbols', 'cyrillic'] as const) expect(emailOf(name), name).toBe(normalizeEmail(accounts[name]));
  expect(emailOf('cyrillic')).toBe('сергей@example.ru');
  expect(emailOf('dotted')).toBe('\u1e61am@example.com');
  expect(emailOf('micro')).toBe('μarie@example.com');
  expect(emailOf('symbols')).toBe('φθε@example.gr');
  expect(emailOf('iota')).toBe('ιωαννα@example.gr');
  expect(emailOf('twin')).toBe('νικος@example.gr');
  expect(emailOf('taken')).toBe('νικοσ@example.gr');
  expect(emailOf('plain')).toBe('ada@example.com');
});
