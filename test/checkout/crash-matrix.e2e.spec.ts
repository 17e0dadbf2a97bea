import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FaultPoint } from '../../src/domains/checkout/index.ts';
import { STEP_NAMES, type StepName } from '../../src/domains/checkout/saga.ts';
import { type Pool, createPool } from '../../src/platform/db/pool.ts';
import type { DomainName } from '../../src/platform/domains.ts';
import { newId } from '../../src/platform/ids.ts';
import { type FreshDatabases, TEST_JWT_KEYS, TEST_SHIPPING_CREDENTIALS_KEY, freshDatabases, serverUrl } from '../support/databases.ts';
import { eventually } from '../support/eventually.ts';
import { expectLedgerBalanced } from '../support/ledger.ts';
import { type Account, type Http, type Listed, checkout, createCoupon, expectStatus, fetchHttp, fillCart, listProduct, signUp, stockOf } from './fixtures/market.ts';

/**
 * The crash matrix: for every checkout step, a marketplace process is killed with SIGKILL right
 * after the step took effect and before it was recorded (the worst moment: the step will run
 * again), plus after a recorded capture and in the middle of a compensation. Each crash is
 * followed by a restart. The crashed sessions hold a long lease, so the next crashing processes
 * leave them alone; the last restart runs its injected clock past the leases, and its recovery
 * worker takes every session over. At the end every session is completed or fully compensated,
 * no reservation is left active, and nothing was made twice: one order per seller, one payment
 * intent and one coupon use per session.
 */
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const fixture = path.join(root, 'test/checkout/fixtures/crash-checkout.ts');

interface Case {
  step: StepName;
  point: FaultPoint;
  token: 'tok_visa' | 'tok_decline';
  /** How the session may end. */
  ends: ('completed' | 'compensated')[];
}

const CASES: Case[] = [
  ...STEP_NAMES.map(
    (step): Case => ({
      step,
      point: 'ran',
      token: 'tok_visa',
      // The test gateway keeps its charges in the payments database, as a real processor keeps them:
      // an authorization made by the killed process is found again by its idempotency key and captured.
      ends: ['completed'],
    }),
  ),
  { step: 'capture_payment', point: 'recorded', token: 'tok_visa', ends: ['completed'] },
  { step: 'create_orders', point: 'compensated', token: 'tok_decline', ends: ['compensated'] },
];
const STOCK = 100;
const LEASE_MS = 60_000;

let dbs: FreshDatabases;
const pools = new Map<DomainName, Pool>();
const db = (d: DomainName) => pools.get(d)!;
let child: ChildProcess | undefined;
let childOutput = '';

beforeAll(async () => {
  dbs = await freshDatabases();
  for (const t of dbs.targets) {
    if (['payments', 'inventory', 'orders', 'checkout'].includes(t.domain)) pools.set(t.domain, createPool(t.url, 2, `crash-${t.domain}`));
  }
});

afterAll(async () => {
  if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await Promise.all([...pools.values()].map((p) => p.end()));
  await dbs?.drop();
});

/** Starts a marketplace process (crashing at `crash`, if given); resolves with its HTTP client once it listens. */
async function startProcess(env: Record<string, string> = {}): Promise<{ proc: ChildProcess; http: Http }> {
  const proc = spawn(process.execPath, ['--import', 'tsx', fixture], {
    cwd: root,
    stdio: ['pipe', 'pipe', 'pipe'],
    env: {
      ...process.env,
      DATABASE_URL: serverUrl(),
      DATABASE_NAME_PREFIX: dbs.config.databaseNamePrefix,
      DATABASE_POOL_SIZE_MAX: '4',
      JWT_KEYS: TEST_JWT_KEYS,
      SHIPPING_CREDENTIALS_KEY: TEST_SHIPPING_CREDENTIALS_KEY,
      PORT: '0',
      LOG_LEVEL: 'error',
      SEED_DEMO: 'false',
      RELAY_POLL_MS: '100',
      REGISTRATIONS_PER_ADDRESS_PER_HOUR: '1000000',
      RETRY_DELAY_BASE_MS: '20',
      RETRY_DELAY_MAX_MS: '200',
      RESERVATION_TTL_SECONDS: '300',
      CHECKOUT_LEASE_MS: String(LEASE_MS),
      CHECKOUT_RECOVERY_POLL_MS: '100',
      CHECKOUT_WAIT_MS: '10000',
      PAYMENTS_TEST_WEBHOOK_DELAY_MS: '20',
      ...env,
    },
  });
  child = proc;
  proc.stderr?.on('data', (chunk: Buffer) => {
    childOutput = (childOutput + chunk.toString('utf8')).slice(-8000);
  });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`marketplace not ready within 30 s: ${childOutput}`)), 30_000);
    let out = '';
    proc.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString('utf8');
      const m = /ready (\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1] as string);
      }
    });
    proc.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`marketplace exited before it was ready (${code ?? signal}): ${childOutput}`));
    });
  });
  return { proc, http: fetchHttp(url) };
}

function exited(proc: ChildProcess): Promise<NodeJS.Signals | number | null> {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve(proc.signalCode ?? proc.exitCode);
  return new Promise((resolve) => proc.once('exit', (code, signal) => resolve(signal ?? code)));
}

async function count(domain: DomainName, sql: string, params: unknown[] = []): Promise<number> {
  const { rows } = await db(domain).query<{ n: number }>(sql, params);
  return rows[0]!.n;
}

describe('checkout crash matrix', () => {
  it(
    'ends every session completed or fully compensated after a SIGKILL at each step and a restart, with nothing made twice',
    // A process start per case: about 35 s on the 2-core machine, 70 s on a slower one, more beside other tests.
    { timeout: 300_000 },
    async () => {
      // Setup through a process that does not crash: two sellers, a coupon, one buyer and cart per case.
      const categoryId = newId();
      let { proc, http } = await startProcess({ CATEGORY_ID: categoryId });
      const waitFor = <T>(check: () => Promise<T>) => eventually(check, { timeoutMs: 10_000, intervalMs: 50 });
      const [sellerA, sellerB] = await Promise.all([signUp(http, 'seller', 'crash-a'), signUp(http, 'seller', 'crash-b')]);
      const mug: Listed = await listProduct(http, sellerA, { categoryId, title: 'Crash mug', price: 2500, stock: STOCK }, waitFor);
      const poster: Listed = await listProduct(http, sellerB, { categoryId, title: 'Crash poster', price: 1000, stock: STOCK }, waitFor);
      const { code } = await createCoupon(http, sellerA, { code: 'CRASH-TEN', type: 'percentage', discount: 1000, maxUses: 100 });
      const buyers: Account[] = [];
      for (const [i] of CASES.entries()) {
        const buyer = await signUp(http, 'buyer', `crash-buyer-${i}`);
        await fillCart(
          http,
          buyer,
          [
            { variantId: mug.variantId, quantity: 1 },
            { variantId: poster.variantId, quantity: 2 },
          ],
          [code],
        );
        buyers.push(buyer);
      }
      proc.kill('SIGTERM');
      await exited(proc);

      // One process per case, killed by its own checkout at the chosen point; the next one recovers it.
      const keys = CASES.map(() => newId());
      for (const [i, c] of CASES.entries()) {
        ({ proc, http } = await startProcess({ CRASH_KEY: keys[i]!, CRASH_STEP: c.step, CRASH_POINT: c.point }));
        const answer = await checkout(http, buyers[i]!, keys[i], c.token).catch((error: Error) => error);
        expect(answer, `${c.step}/${c.point}: the process should have died mid-checkout`).toBeInstanceOf(Error);
        expect(await exited(proc), `${c.step}/${c.point}`).toBe('SIGKILL');
      }

      // The restart, "later": its recovery worker finishes or compensates every session left behind.
      ({ proc, http } = await startProcess({ CLOCK_OFFSET_MS: String(LEASE_MS + 1000) }));
      const sessions = [];
      for (const [i, c] of CASES.entries()) {
        // The same key and body answer the recovered session (and never start a second one).
        const s = await eventually(
          async () => {
            const a = await expectStatus(`replay ${c.step}`, checkout(http, buyers[i]!, keys[i], c.token), 201, 202);
            expect(a.headers['idempotent-replayed'], `${c.step}/${c.point}`).toBe('true');
            const session = a.json();
            expect(c.ends, `${c.step}/${c.point} ended ${session.status}: ${JSON.stringify(session.failure)}`).toContain(session.status);
            return session;
          },
          { timeoutMs: 20_000, intervalMs: 200 },
        );
        sessions.push(s);
      }

      const completed = sessions.filter((s) => s.status === 'completed').length;
      for (const [i, c] of CASES.entries()) {
        const s = sessions[i];
        const done = s.status === 'completed';
        expect(s.orderIds, `${c.step}/${c.point}`).toHaveLength(2);
        if (done) expect(s.steps.every((st: { status: string }) => st.status === 'succeeded'), `${c.step}/${c.point}`).toBe(true);
        // One order per seller, never a second set.
        expect(await count('orders', 'SELECT count(*)::int AS n FROM orders WHERE checkout_session_id = $1', [s.id])).toBe(2);
        // One payment intent per session: never a second charge.
        expect(await count('payments', 'SELECT count(*)::int AS n FROM payment_intents WHERE checkout_session_id = $1', [s.id])).toBe(1);
        const orders = (await expectStatus('orders', http('GET', '/v1/orders?limit=10', { token: buyers[i]!.token }), 200)).json().items;
        await eventually(async () => {
          const now = (await expectStatus('orders', http('GET', '/v1/orders?limit=10', { token: buyers[i]!.token }), 200)).json().items;
          expect(now.map((o: { status: string }) => o.status)).toEqual(done ? ['paid', 'paid'] : ['cancelled', 'cancelled']);
        });
        expect(orders).toHaveLength(2);
      }

      // Stock: every reservation was confirmed (sold) or released; none is left holding units.
      expect(await count('inventory', `SELECT count(*)::int AS n FROM reservations WHERE status = 'active'`)).toBe(0);
      expect(await count('inventory', 'SELECT count(*)::int AS n FROM reservations')).toBe(CASES.length);
      expect(await stockOf(http, sellerA, mug.variantId)).toEqual({ total: STOCK - completed, available: STOCK - completed, reserved: 0 });
      expect(await stockOf(http, sellerB, poster.variantId)).toEqual({ total: STOCK - 2 * completed, available: STOCK - 2 * completed, reserved: 0 });
      // The coupon is used once per completed checkout, and given back by the compensated one.
      const coupons = (await expectStatus('coupons', http('GET', '/v1/seller/coupons?limit=10', { token: sellerA.token }), 200)).json().items;
      expect(coupons.find((x: { code: string }) => x.code === code).usesCount).toBe(completed);
      expect(await count('payments', `SELECT count(*)::int AS n FROM payment_intents WHERE status = 'captured'`)).toBe(completed);
      await expectLedgerBalanced(db('payments'));

      proc.kill('SIGTERM');
      expect(await exited(proc)).toBe(0);
    },
  );
});
