import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/platform/config.ts';
import { generateSealingKeys, loadOrCreateSealingKeys, open, parseSealingKeys, seal } from '../../src/platform/sealed-secrets.ts';

const key = (byte: number) => Buffer.alloc(32, byte).toString('base64url');
const ring = (value: string) => parseSealingKeys(value, 'KEYS');

describe('sealed secrets (AES-256-GCM)', () => {
  const keys = ring(`new:${key(1)},old:${key(2)}`);

  it('opens what it sealed, and the sealed bytes do not hold the plaintext', () => {
    const sealed = seal(keys, '{"webhookSecret":"whsec_plain_text_here"}', 'carrier:a');
    expect(sealed.toString('latin1')).not.toContain('whsec_plain');
    expect(open(keys, sealed, 'carrier:a')).toBe('{"webhookSecret":"whsec_plain_text_here"}');
    // A fresh nonce each time: the same secret never seals to the same bytes.
    expect(seal(keys, 'same', 'c').equals(seal(keys, 'same', 'c'))).toBe(false);
  });

  it('refuses a changed value, another context (a copy into another row) and a key ring without its key', () => {
    const sealed = seal(keys, 'secret', 'carrier:a');
    const changed = Buffer.from(sealed);
    changed[changed.length - 1] = (changed[changed.length - 1] as number) ^ 1;
    expect(() => open(keys, changed, 'carrier:a')).toThrow();
    expect(() => open(keys, sealed, 'carrier:b')).toThrow();
    expect(() => open(ring(`other:${key(3)}`), sealed, 'carrier:a')).toThrow(/key new/);
  });

  it('seals with the first key and opens with any key of the ring (rotation)', () => {
    const before = seal(ring(`old:${key(2)}`), 'secret', 'c');
    expect(open(keys, before, 'c')).toBe('secret');
    const after = seal(keys, 'secret', 'c');
    expect(() => open(ring(`old:${key(2)}`), after, 'c')).toThrow();
  });

  it('takes only 32-byte keys with distinct kids', () => {
    expect(() => ring(`a:${Buffer.alloc(16).toString('base64url')}`)).toThrow(/32 bytes/);
    expect(() => ring(`a:${key(1)},a:${key(2)}`)).toThrow(/twice/);
    expect(() => ring('no-colon')).toThrow();
    expect(ring(generateSealingKeys())).toHaveLength(1);
  });

  it('generates a key into the data folder when none is configured, readable by its owner only, and keeps it', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'bazaar-sealed-'));
    try {
      const first = await loadOrCreateSealingKeys(undefined, dir, 'shipping-credentials-key', 'SHIPPING_CREDENTIALS_KEY');
      const file = path.join(dir, 'shipping-credentials-key');
      expect(statSync(file).mode & 0o777).toBe(0o600);
      expect(ring(readFileSync(file, 'utf8'))[0]?.key.equals(first[0]!.key)).toBe(true);
      const again = await loadOrCreateSealingKeys(undefined, dir, 'shipping-credentials-key', 'SHIPPING_CREDENTIALS_KEY');
      expect(again[0]!.key.equals(first[0]!.key)).toBe(true);
      const configured = await loadOrCreateSealingKeys(`cfg:${key(5)}`, dir, 'shipping-credentials-key', 'SHIPPING_CREDENTIALS_KEY');
      expect(configured[0]?.kid).toBe('cfg');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('SHIPPING_CREDENTIALS_KEY', () => {
  it('is optional, and checked before anything starts', () => {
    expect(loadConfig({}).shipping.credentialsKeys).toBeUndefined();
    expect(loadConfig({ SHIPPING_CREDENTIALS_KEY: `a:${key(1)}` }).shipping.credentialsKeys).toBe(`a:${key(1)}`);
    for (const bad of ['garbage', `a:${key(1)},a:${key(1)}`, `a:${Buffer.alloc(31).toString('base64url')}`]) {
      expect(() => loadConfig({ SHIPPING_CREDENTIALS_KEY: bad }), bad).toThrow(ConfigError);
      expect(() => loadConfig({ SHIPPING_CREDENTIALS_KEY: bad }), bad).toThrow('SHIPPING_CREDENTIALS_KEY');
    }
  });
});
