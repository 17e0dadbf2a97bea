import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';

/**
 * Secrets kept at rest (a carrier's credentials, say), sealed with AES-256-GCM under a key ring
 * "kid:base64url32Bytes[,kid:…]": the first key seals, every key opens, so a key is rotated by
 * putting a new one first and re-sealing (re-setting) what the old one sealed before dropping it.
 *
 * A sealed value is `0x01 | kid length | kid | 12-byte nonce | 16-byte tag | ciphertext`. The
 * caller's context (e.g. the row's carrier name) is authenticated with it, so a sealed value copied
 * into another row does not open there.
 */
export interface SealingKey {
  kid: string;
  key: Buffer;
}

const FORMAT_VERSION = 1;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const KEY_BYTES = 32;
const KEYS_MAX = 10;

export function parseSealingKeys(value: string, variable: string): SealingKey[] {
  const parts = value.split(',').map((p) => p.trim());
  if (parts.length > KEYS_MAX) throw new Error(`${variable} holds more than ${KEYS_MAX} keys`);
  const keys = parts.map((part) => {
    const [kid, secret, extra] = part.split(':');
    if (!kid || !secret || extra !== undefined || !/^[A-Za-z0-9_-]{1,32}$/.test(kid)) throw new Error(`${variable} must be kid:base64urlKey[,kid:key…]`);
    const key = Buffer.from(secret, 'base64url');
    if (key.length !== KEY_BYTES) throw new Error(`${variable} key ${kid} must be ${KEY_BYTES} bytes (base64url), got ${key.length}`);
    return { kid, key };
  });
  const kids = keys.map((k) => k.kid);
  const twice = kids.find((kid, i) => kids.indexOf(kid) !== i);
  if (twice) throw new Error(`${variable} names key ${twice} twice`);
  return keys;
}

export function generateSealingKeys(): string {
  return `k${Date.now().toString(36)}:${randomBytes(KEY_BYTES).toString('base64url')}`;
}

/** The configured keys, or (unset) a key made on first start and kept in `dataDir/fileName` (mode 0600). */
export async function loadOrCreateSealingKeys(configured: string | undefined, dataDir: string, fileName: string, variable: string): Promise<SealingKey[]> {
  if (configured) return parseSealingKeys(configured, variable);
  const file = path.join(dataDir, fileName);
  if (existsSync(file)) return parseSealingKeys((await readFile(file, 'utf8')).trim(), `${variable} (${file})`);
  await mkdir(dataDir, { recursive: true });
  const keys = generateSealingKeys();
  // wx: two processes starting together must not each write a key of their own.
  await writeFile(file, keys, { mode: 0o600, flag: 'wx' }).catch(async (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EEXIST') throw error;
  });
  return parseSealingKeys((await readFile(file, 'utf8')).trim(), `${variable} (${file})`);
}

export function seal(keys: readonly SealingKey[], plaintext: string, context: string): Buffer {
  const first = keys[0];
  if (!first) throw new Error('no sealing key');
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', first.key, nonce);
  cipher.setAAD(Buffer.from(context, 'utf8'));
  const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  const kid = Buffer.from(first.kid, 'utf8');
  return Buffer.concat([Buffer.from([FORMAT_VERSION, kid.length]), kid, nonce, cipher.getAuthTag(), ciphertext]);
}

/** Opens a sealed value; throws when no key of the ring sealed it, or it was changed or moved to another context. */
export function open(keys: readonly SealingKey[], sealed: Buffer, context: string): string {
  if (sealed.length < 2 || sealed[0] !== FORMAT_VERSION) throw new Error('not a sealed value of a known format');
  const kidLength = sealed[1] as number;
  const kid = sealed.subarray(2, 2 + kidLength).toString('utf8');
  const key = keys.find((k) => k.kid === kid);
  if (!key) throw new Error(`the value was sealed with key ${kid}, which is not in the key ring`);
  const at = 2 + kidLength;
  const nonce = sealed.subarray(at, at + NONCE_BYTES);
  const tag = sealed.subarray(at + NONCE_BYTES, at + NONCE_BYTES + TAG_BYTES);
  const decipher = createDecipheriv('aes-256-gcm', key.key, nonce);
  decipher.setAAD(Buffer.from(context, 'utf8'));
  decipher.setAuthTag(tag);
  return Buffer.concat([decipher.update(sealed.subarray(at + NONCE_BYTES + TAG_BYTES)), decipher.final()]).toString('utf8');
}
