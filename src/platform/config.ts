import { isIP } from 'node:net';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { parse as parseDotenv } from 'dotenv';
import { readFileSync } from 'node:fs';
import { DOMAIN_NAMES, type DomainName } from './domains.ts';
import { parseKeyring } from './http/tokens.ts';
import { parseSealingKeys } from './sealed-secrets.ts';

/** How long a request may take to arrive whole by default: a minute past the headers' own limit (60 s). */
export const REQUEST_TIMEOUT_MS = 120_000;

/**
 * Configuration comes from environment variables (and an optional `.env`), validated once at start.
 * A bad value stops start-up with a message naming the variable.
 */
export interface Config {
  port: number;
  host: string;
  dataDir: string;
  /** A PostgreSQL server for every domain database; unset means "start the embedded PostgreSQL". */
  databaseUrl: string | undefined;
  /** Per-domain overrides: the full URL of that domain's database. */
  domainDatabaseUrls: Partial<Record<DomainName, string>>;
  /** Prefix put before every database name (tests use it to get fresh databases). */
  databaseNamePrefix: string;
  poolSizeMax: number;
  /** Named prepared statements on every connection (off behind a pooler that cannot keep them). */
  preparedStatements: boolean;
  transport: 'inprocess' | 'nats';
  natsUrl: string;
  natsStream: string;
  natsSubjectPrefix: string;
  /** How long the JetStream stream keeps an event: a subscriber down for longer misses what expired. */
  natsMaxAgeDays: number;
  logLevel: string;
  bodyLimitBytes: number;
  /** How long a request may take to arrive whole, its body included (408 after). */
  requestTimeoutMs: number;
  /** TRUST_PROXY: 'true', a hop count, or a comma-separated list of proxy addresses/CIDRs. */
  trustProxy: boolean | string;
  jwtKeys: string | undefined;
  jwtIssuer: string;
  jwtAudience: string;
  accessTokenTtlSeconds: number;
  /** Registration requests one client address may make in an hour (a taken email counts too). */
  registrationsPerAddressPerHour: number;
  adminEmail: string | undefined;
  adminPassword: string | undefined;
  seedDemo: boolean;
  relayBatchSizeMax: number;
  relayPollMs: number;
  deliveryAttemptsMax: number;
  retryDelayBaseMs: number;
  retryDelayMaxMs: number;
  shutdownTimeoutMs: number;
  /** How long a stopping server answers 503 to every request before it stops listening. */
  shutdownDrainMs: number;
  reservationTtlSeconds: number;
  /** Orders: a delivered order is completed this many days after its delivery (the return window). */
  orderCompleteAfterDays: number;
  /** Payments: webhook signing secret, platform commission, and the built-in test gateway's timing. */
  payments: PaymentsConfig;
  /** Checkout: how long POST /v1/checkout waits, the saga's lease and the recovery worker's pace. */
  checkout: CheckoutConfig;
  shipping: ShippingConfig;
  /** Notifications: delivery attempts and pace, and the built-in test provider's behaviour. */
  notifications: NotificationsConfig;
}

export interface ShippingConfig {
  /**
   * SHIPPING_CREDENTIALS_KEY: the AES-256-GCM key ring ("kid:base64url32Bytes[,…]", the first
   * seals) that carrier credentials are encrypted with; unset, a key is generated into DATA_DIR.
   */
  credentialsKeys: string | undefined;
  /**
   * SHIPPING_WAITING_WEBHOOK_DAYS: a carrier's update about a tracking number no shipment has is
   * kept this many days for the seller to create that shipment, then dropped.
   */
  waitingWebhookDays: number;
}

export interface NotificationsConfig {
  /** Attempts to send one email or push notification before it is marked failed (NOTIFICATIONS_SEND_ATTEMPTS_MAX). */
  sendAttemptsMax: number;
  /** First retry delay, doubled per attempt up to the maximum (with jitter). */
  retryDelayBaseMs: number;
  retryDelayMaxMs: number;
  /** Safety-net poll of the delivery worker (it is also woken after each commit that made notifications). */
  deliveryPollMs: number;
  /** Simulated latency of every call to the built-in test provider. */
  testProviderLatencyMs: number;
  /** Percentage of test provider calls that fail temporarily (retried with backoff). */
  testProviderFailurePercent: number;
}

export interface CheckoutConfig {
  /** How long POST /v1/checkout waits for the session to finish before it answers 202 (CHECKOUT_WAIT_MS). */
  waitMs: number;
  /** Lease a worker holds on a session it drives, renewed at every step; a crashed worker's sessions are taken over after it. */
  leaseMs: number;
  /** How often the recovery worker looks for sessions that are due. */
  recoveryPollMs: number;
  /** How long a payment may stay processing (outcome unknown) before the checkout voids it and compensates. */
  paymentWaitMaxMs: number;
}

export interface PaymentsConfig {
  /** HMAC-SHA256 secret that gateway webhooks are signed with (PAYMENTS_WEBHOOK_SECRET). */
  webhookSecret: string;
  /** Platform commission on captured payments, in basis points (1000 = 10 %). */
  commissionBps: number;
  /** Simulated latency of every test gateway call. */
  testGatewayLatencyMs: number;
  /** How long after an operation the test gateway sends its webhook. */
  testWebhookDelayMs: number;
  /**
   * How long an authorization or refund may stay without an outcome (its webhook lost, say) before
   * the payments worker asks the gateway for it (PAYMENTS_RECONCILE_AFTER_MS).
   */
  reconcileAfterMs: number;
  /**
   * Longest wait for a gateway's answer to one call (PAYMENTS_GATEWAY_TIMEOUT_MS); after it the
   * outcome is unknown, as after a network error (reconciled later, never sent twice).
   */
  gatewayTimeoutMs: number;
}

/** Used when PAYMENTS_WEBHOOK_SECRET is unset: fine for development and tests, never for production. */
export const TEST_WEBHOOK_SECRET = 'whsec_bazaar_test_only_do_not_use_in_production';

export class ConfigError extends Error {
  constructor(readonly variable: string, reason: string) {
    super(`Invalid configuration: ${variable} ${reason}`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

function readInt(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^-?\d+$/.test(raw.trim())) throw new ConfigError(name, `must be an integer, got "${raw}"`);
  const value = Number(raw);
  if (value < min || value > max) throw new ConfigError(name, `must be between ${min} and ${max}, got ${value}`);
  return value;
}

function readBool(env: Env, name: string, fallback: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const v = raw.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(v)) return true;
  if (['0', 'false', 'no', 'off'].includes(v)) return false;
  throw new ConfigError(name, `must be true or false, got "${raw}"`);
}

function readUrl(env: Env, name: string, protocols: string[]): string | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(name, 'must be a URL');
  }
  if (!protocols.includes(url.protocol)) {
    throw new ConfigError(name, `must use ${protocols.join(' or ')}, got ${url.protocol}`);
  }
  return raw;
}

function readChoice<T extends string>(env: Env, name: string, choices: readonly T[], fallback: T): T {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!(choices as readonly string[]).includes(raw)) {
    throw new ConfigError(name, `must be one of ${choices.join(', ')}, got "${raw}"`);
  }
  return raw as T;
}

/** Reads `.env` from the working directory without overriding variables already set. */
export function loadDotenv(env: Env, cwd = process.cwd()): Env {
  const file = path.join(cwd, '.env');
  if (!existsSync(file)) return env;
  const text = readFileSync(file, 'utf8');
  // dotenv skips a line it cannot read: a variable meant to be set would silently keep its default.
  const unread = unreadableDotenvLine(text);
  if (unread) throw new ConfigError('.env', `line ${unread.line} is not NAME=value: ${JSON.stringify(unread.text.slice(0, 80))}`);
  const parsed = parseDotenv(text);
  return { ...parsed, ...env };
}

/**
 * The first line of a .env text that is neither blank, a comment, nor NAME=value (with an optional
 * `export`); the lines a quoted value spans after its first are part of it.
 */
function unreadableDotenvLine(text: string): { line: number; text: string } | undefined {
  const lines = text.split(/\r\n|\r|\n/);
  let open: string | undefined;
  for (const [i, raw] of lines.entries()) {
    if (open) {
      if (closingQuoteAt(raw, open, 0) !== -1) open = undefined;
      continue;
    }
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = /^(?:export\s+)?[\w.-]+\s*[=:]\s*(.*)$/.exec(line);
    if (!m) return { line: i + 1, text: line };
    const value = m[1] ?? '';
    const quote = value[0];
    // A value that opens a quote it does not close on this line goes on until the quote closes.
    if ((quote === '"' || quote === "'" || quote === '`') && closingQuoteAt(value, quote, 1) === -1) open = quote;
  }
  return undefined;
}

/** Where `quote` closes in `text` from `from`, a backslash-escaped one in a double-quoted value not counting; -1 when it does not. */
function closingQuoteAt(text: string, quote: string, from: number): number {
  for (let i = from; i < text.length; i++) {
    if (quote === '"' && text[i] === '\\') i++;
    else if (text[i] === quote) return i;
  }
  return -1;
}

/** Checked here, with the other variables, before anything starts (a bad key ring stopped start-up later, with a stack trace). */
function readJwtKeys(env: Env): string | undefined {
  const raw = env.JWT_KEYS || undefined;
  if (raw === undefined) return undefined;
  try {
    parseKeyring(raw);
  } catch (error) {
    throw new ConfigError('JWT_KEYS', (error as Error).message.replace(/^JWT_KEYS /, ''));
  }
  return raw;
}

function readShippingConfig(env: Env): ShippingConfig {
  const raw = env.SHIPPING_CREDENTIALS_KEY || undefined;
  if (raw !== undefined) {
    try {
      parseSealingKeys(raw, 'SHIPPING_CREDENTIALS_KEY');
    } catch (error) {
      throw new ConfigError('SHIPPING_CREDENTIALS_KEY', (error as Error).message.replace(/^SHIPPING_CREDENTIALS_KEY /, ''));
    }
  }
  return { credentialsKeys: raw, waitingWebhookDays: readInt(env, 'SHIPPING_WAITING_WEBHOOK_DAYS', 30, 1, 3650) };
}

function readTrustProxy(env: Env): boolean | string {
  const raw = env.TRUST_PROXY;
  if (raw === undefined || raw === '' || raw === 'false') return false;
  if (raw === 'true') return true;
  // A hop count cannot tell the proxy from a client reaching bazaar directly (who could then choose
  // its own address): Fastify trusts nothing for one, so it is refused rather than silently ignored.
  if (/^\d+$/.test(raw)) throw new ConfigError('TRUST_PROXY', 'must name the proxies (addresses or CIDRs), not a hop count');
  if (!/^[0-9a-fA-F.:/, ]{1,500}$/.test(raw)) throw new ConfigError('TRUST_PROXY', 'must be true, false, or a list of proxy addresses');
  for (const entry of raw.split(',').map((e) => e.trim())) {
    if (!isProxyAddress(entry)) throw new ConfigError('TRUST_PROXY', `"${entry}" is not an IP address or CIDR (e.g. 10.0.0.5, 10.0.0.0/8, fd00::/8)`);
  }
  return raw;
}

/** An IPv4 or IPv6 address, alone or with a prefix length that fits it (or an IPv4 netmask). */
function isProxyAddress(entry: string): boolean {
  const [address = '', prefix, ...rest] = entry.split('/');
  const version = isIP(address);
  if (version === 0 || rest.length > 0) return false;
  if (prefix === undefined) return true;
  if (/^\d{1,3}$/.test(prefix)) return Number(prefix) <= (version === 4 ? 32 : 128);
  return version === 4 && isIP(prefix) === 4;
}

function readName(env: Env, name: string, fallback: string): string {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(raw)) throw new ConfigError(name, 'may hold only letters, digits, _ and - (at most 64)');
  return raw;
}

const PG_PROTOCOLS = ['postgres:', 'postgresql:'];

export function loadConfig(env: Env = process.env): Config {
  const domainDatabaseUrls: Partial<Record<DomainName, string>> = {};
  for (const domain of DOMAIN_NAMES) {
    const url = readUrl(env, `${domain.toUpperCase()}_DATABASE_URL`, PG_PROTOCOLS);
    if (url) domainDatabaseUrls[domain] = url;
  }
  const prefix = env.DATABASE_NAME_PREFIX ?? '';
  if (!/^[a-z0-9_]{0,30}$/.test(prefix)) {
    throw new ConfigError('DATABASE_NAME_PREFIX', 'may hold only a-z, 0-9 and _ (at most 30)');
  }
  const adminEmail = env.ADMIN_EMAIL || undefined;
  const adminPassword = env.ADMIN_PASSWORD || undefined;
  if ((adminEmail === undefined) !== (adminPassword === undefined)) {
    throw new ConfigError(adminEmail ? 'ADMIN_PASSWORD' : 'ADMIN_EMAIL', 'must be set together with the other');
  }
  if (adminPassword !== undefined && adminPassword.length < 12) {
    throw new ConfigError('ADMIN_PASSWORD', 'must be at least 12 characters');
  }
  const logLevel = readChoice(env, 'LOG_LEVEL', ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], 'info');
  const databaseUrl = readUrl(env, 'DATABASE_URL', PG_PROTOCOLS);
  // The demo logins' password is published: they are made by default only on the embedded,
  // zero-setup PostgreSQL, never on a server of one's own unless SEED_DEMO=true says so.
  const embedded = databaseUrl === undefined && Object.keys(domainDatabaseUrls).length === 0;
  return {
    port: readInt(env, 'PORT', 3000, 0, 65535),
    host: env.HOST || '127.0.0.1',
    dataDir: path.resolve(env.DATA_DIR || '.data'),
    databaseUrl,
    domainDatabaseUrls,
    databaseNamePrefix: prefix,
    // Two at least: the demo seed holds one for its lock while it queries with another.
    poolSizeMax: readInt(env, 'DATABASE_POOL_SIZE_MAX', 5, 2, 200),
    preparedStatements: readBool(env, 'DATABASE_PREPARED_STATEMENTS', true),
    transport: readChoice(env, 'TRANSPORT', ['inprocess', 'nats'] as const, 'inprocess'),
    natsUrl: readUrl(env, 'NATS_URL', ['nats:', 'tls:']) ?? 'nats://127.0.0.1:4222',
    natsStream: readName(env, 'NATS_STREAM', 'BAZAAR_EVENTS'),
    natsSubjectPrefix: readName(env, 'NATS_SUBJECT_PREFIX', 'bazaar'),
    natsMaxAgeDays: readInt(env, 'NATS_MAX_AGE_DAYS', 7, 1, 3650),
    logLevel,
    bodyLimitBytes: readInt(env, 'BODY_LIMIT_BYTES', 256 * 1024, 1024, 10 * 1024 * 1024),
    requestTimeoutMs: readInt(env, 'HTTP_REQUEST_TIMEOUT_MS', REQUEST_TIMEOUT_MS, 1000, 3_600_000),
    trustProxy: readTrustProxy(env),
    jwtKeys: readJwtKeys(env),
    jwtIssuer: env.JWT_ISSUER || 'bazaar',
    jwtAudience: env.JWT_AUDIENCE || 'bazaar-api',
    accessTokenTtlSeconds: readInt(env, 'ACCESS_TOKEN_TTL_SECONDS', 900, 60, 86400),
    registrationsPerAddressPerHour: readInt(env, 'REGISTRATIONS_PER_ADDRESS_PER_HOUR', 20, 1, 1_000_000),
    adminEmail,
    adminPassword,
    seedDemo: readBool(env, 'SEED_DEMO', embedded),
    relayBatchSizeMax: readInt(env, 'RELAY_BATCH_SIZE_MAX', 500, 1, 5000),
    relayPollMs: readInt(env, 'RELAY_POLL_MS', 500, 10, 60000),
    deliveryAttemptsMax: readInt(env, 'DELIVERY_ATTEMPTS_MAX', 8, 1, 100),
    retryDelayBaseMs: readInt(env, 'RETRY_DELAY_BASE_MS', 200, 1, 600000),
    retryDelayMaxMs: readInt(env, 'RETRY_DELAY_MAX_MS', 60000, 1, 3600000),
    shutdownTimeoutMs: readInt(env, 'SHUTDOWN_TIMEOUT_MS', 25000, 1000, 30000),
    shutdownDrainMs: readInt(env, 'SHUTDOWN_DRAIN_MS', 1000, 0, 10000),
    reservationTtlSeconds: readInt(env, 'RESERVATION_TTL_SECONDS', 900, 5, 86400),
    orderCompleteAfterDays: readInt(env, 'ORDER_COMPLETE_AFTER_DAYS', 14, 0, 365),
    payments: readPaymentsConfig(env),
    checkout: {
      waitMs: readInt(env, 'CHECKOUT_WAIT_MS', 5000, 0, 60000),
      leaseMs: readInt(env, 'CHECKOUT_LEASE_MS', 15000, 200, 600000),
      recoveryPollMs: readInt(env, 'CHECKOUT_RECOVERY_POLL_MS', 500, 10, 60000),
      paymentWaitMaxMs: readInt(env, 'CHECKOUT_PAYMENT_WAIT_MAX_MS', 300000, 1000, 86400000),
    },
    shipping: readShippingConfig(env),
    notifications: {
      sendAttemptsMax: readInt(env, 'NOTIFICATIONS_SEND_ATTEMPTS_MAX', 6, 1, 50),
      retryDelayBaseMs: readInt(env, 'NOTIFICATIONS_RETRY_DELAY_BASE_MS', 2000, 1, 3600000),
      retryDelayMaxMs: readInt(env, 'NOTIFICATIONS_RETRY_DELAY_MAX_MS', 300000, 1, 86400000),
      deliveryPollMs: readInt(env, 'NOTIFICATIONS_DELIVERY_POLL_MS', 1000, 10, 600000),
      testProviderLatencyMs: readInt(env, 'NOTIFICATIONS_TEST_PROVIDER_LATENCY_MS', 20, 0, 60000),
      testProviderFailurePercent: readInt(env, 'NOTIFICATIONS_TEST_PROVIDER_FAILURE_PERCENT', 2, 0, 100),
    },
  };
}

function readPaymentsConfig(env: Env): PaymentsConfig {
  const webhookSecret = env.PAYMENTS_WEBHOOK_SECRET || TEST_WEBHOOK_SECRET;
  if (webhookSecret.length < 16 || webhookSecret.length > 200) {
    throw new ConfigError('PAYMENTS_WEBHOOK_SECRET', 'must hold 16 to 200 characters');
  }
  return {
    webhookSecret,
    commissionBps: readInt(env, 'PAYMENTS_COMMISSION_BPS', 1000, 0, 10000),
    testGatewayLatencyMs: readInt(env, 'PAYMENTS_TEST_GATEWAY_LATENCY_MS', 3, 0, 60000),
    testWebhookDelayMs: readInt(env, 'PAYMENTS_TEST_WEBHOOK_DELAY_MS', 100, 0, 600000),
    // At least a second (a webhook is given time to come first), at most a week (an authorization
    // hold lasts about that long at card processors).
    reconcileAfterMs: readInt(env, 'PAYMENTS_RECONCILE_AFTER_MS', 600000, 1000, 604800000),
    gatewayTimeoutMs: readInt(env, 'PAYMENTS_GATEWAY_TIMEOUT_MS', 30000, 100, 300000),
  };
}
