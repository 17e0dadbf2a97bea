/**
 * checkout: full checkouts through the HTTP API, `buyers` at once, each until its order is paid.
 *
 * A whole marketplace (all domains, event delivery running) listens on 127.0.0.1. One seller lists
 * `products` products (created, priced, published and stocked over HTTP) and `coupons` 10 % coupons
 * (one by default: every checkout then redeems the same coupon, a hot row). Each of
 * `buyers` buyers runs `rounds` checkouts one after another: three POST /v1/cart/items (three
 * products picked at random), POST /v1/cart/coupons, POST /v1/checkout with a fresh Idempotency-Key
 * (prices fixed, stock reserved, coupon redeemed, the order created, payment authorized and
 * captured, stock confirmed, cart closed), then it waits until orders says the order is paid
 * (orders.order_paid.v1, seen by a probe consumer of the bench). A latency is one such checkout,
 * from its first cart request to its order paid. Warm-up rounds come first and are not measured
 * (`--warmup-rounds`, one by default: ten gave the same rate within the machine's noise).
 *
 * SQL statements are counted in this process by wrapping pg's Client#query, so every statement any
 * domain sends (BEGIN and COMMIT included, the event relays' and consumers' included) counts, in
 * the measured phase only; a message of several statements (a statement sent with its COMMIT, a
 * consumer's BEGIN and settings with its claim) counts each of them. The search domain's work counts
 * like any other's; only the probe's own consumer rounds (statements naming its consumer) are left
 * out. sqlStatementsPerOrder is that count divided by the orders paid.
 *
 * The reference, on the same server in the same run and at the same concurrency: a bare transaction
 * inserting one order, its three items and one outbox row into scratch tables of the orders database.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { type Marketplace, createMarketplace } from '../src/app.ts';
import { KeepAliveConnection } from './keep-alive-connection.ts';
import type { ProductsApi } from '../src/domains/products/index.ts';
import type { OrderPaidV1 } from '../src/contracts/orders.ts';
import { loadConfig } from '../src/platform/config.ts';
import { createPool } from '../src/platform/db/pool.ts';
import { DOMAIN_NAMES } from '../src/platform/domains.ts';
import { generateKeyring } from '../src/platform/http/tokens.ts';
import { newId } from '../src/platform/ids.ts';
import type { Subscription } from '../src/platform/messaging/subscription.ts';
import { appPoolSize, type Flags, type Scenario, benchDatabases, numberFlag, percentile, profiled, progress, round, settleDelivery, benchLog } from './support.ts';

interface Options {
  buyers: number;
  rounds: number;
  products: number;
  coupons: number;
  poolSize: number;
  warmupRounds: number;
}

function options(flags: Flags): Options {
  return {
    buyers: numberFlag(flags, 'buyers', 32, 1, 256),
    rounds: numberFlag(flags, 'rounds', 5, 1, 1000),
    products: numberFlag(flags, 'products', 30, 3, 1000),
    coupons: numberFlag(flags, 'coupons', 1, 1, 256),
    poolSize: numberFlag(flags, 'pool-size', appPoolSize(), 2, 100),
    warmupRounds: numberFlag(flags, 'warmup-rounds', 1, 0, 100),
  };
}

const ITEMS_PER_ORDER = 3;
const PROBE_DATABASE_DOMAIN = 'search';
const PROBE_CONSUMER = 'bench.order-paid';

/**
 * Counts the statements every pg client of this process sends, per database, while `on`; with
 * `byText`, per database and statement text too (its first 160 characters, spaces folded).
 */
class StatementCounter {
  on = false;
  readonly perDatabase = new Map<string, number>();
  readonly perText = new Map<string, number>();
  /** Statements of the bench's own probe consumer, not counted. */
  probe = 0;
  constructor(
    readonly byText = false,
    readonly probeConsumer = '',
  ) {}
  #original: pg.Client['query'] | undefined;

  install(): void {
    const original = pg.Client.prototype.query;
    this.#original = original;
    const counter = this;
    pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
      if (counter.on) {
        const database = this.database ?? '?';
        const text = typeof args[0] === 'string' ? args[0] : ((args[0] as { text?: string } | undefined)?.text ?? '');
        const values = Array.isArray(args[1]) ? args[1] : ((args[0] as { values?: unknown[] } | undefined)?.values ?? []);
        // A parameterised query is one statement (the extended protocol takes no more); only a
        // text sent whole may hold several.
        const n = values.length > 0 ? 1 : statementsIn(text);
        if (counter.probeConsumer && (text.includes(counter.probeConsumer) || values.includes(counter.probeConsumer))) counter.probe += n;
        else {
          counter.perDatabase.set(database, (counter.perDatabase.get(database) ?? 0) + n);
          if (counter.byText) counter.countText(database, args[0], n);
        }
      }
      return (original as (...a: unknown[]) => unknown).apply(this, args);
    } as pg.Client['query'];
  }

  countText(database: string, query: unknown, n: number): void {
    const text = typeof query === 'string' ? query : ((query as { text?: string } | undefined)?.text ?? '?');
    const key = `${database} | ${text.replace(/\s+/g, ' ').trim().slice(0, 160)}`;
    this.perText.set(key, (this.perText.get(key) ?? 0) + n);
  }

  uninstall(): void {
    if (this.#original) pg.Client.prototype.query = this.#original;
  }

  total(): number {
    let n = 0;
    for (const count of this.perDatabase.values()) n += count;
    return n;
  }
}

/**
 * Statements in one message: 1, plus one per `;` with more text after it, outside quoted literals
 * (the pool inlines values as '…' literals into the messages it sends whole).
 */
function statementsIn(text: string): number {
  if (!text.includes(';')) return 1;
  const end = text.trimEnd().length;
  let n = 1;
  let quoted = false;
  for (let i = 0; i < end - 1; i++) {
    const c = text.charCodeAt(i);
    if (c === 39) quoted = !quoted; // ' ('' inside a literal toggles twice)
    else if (c === 59 && !quoted) n++; // ;
  }
  return n;
}

/** Resolves when orders says an order is paid (the probe consumer sees orders.order_paid.v1). */
class PaidOrders {
  readonly #paid = new Set<string>();
  readonly #waiting = new Map<string, () => void>();

  subscription(): Subscription {
    return {
      consumer: PROBE_CONSUMER,
      domain: PROBE_DATABASE_DOMAIN,
      events: ['orders.order_paid.v1'],
      handle: async (_ctx, envelope) => {
        const { orderId } = envelope.data as OrderPaidV1;
        this.#paid.add(orderId);
        this.#waiting.get(orderId)?.();
      },
    };
  }

  wait(orderId: string, timeoutMs: number): Promise<void> {
    if (this.#paid.has(orderId)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`order ${orderId} not paid within ${timeoutMs} ms`)), timeoutMs);
      this.#waiting.set(orderId, () => {
        clearTimeout(timer);
        this.#waiting.delete(orderId);
        resolve();
      });
    });
  }
}

/** Per checkout step, p50 and p99 of its last attempt's duration, as checkout recorded it. */
async function stepLatencies(app: Marketplace): Promise<Record<string, string>> {
  const pool = app.pools.get('checkout');
  if (!pool) return {};
  const { rows } = await pool.query<{ step: string; p50: number; p99: number }>(
    `SELECT step_type AS step,
            round(percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM completed_at - attempted_at) * 1000)::numeric, 1)::float8 AS p50,
            round(percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM completed_at - attempted_at) * 1000)::numeric, 1)::float8 AS p99
       FROM checkout_steps WHERE completed_at IS NOT NULL GROUP BY step_type ORDER BY min(attempted_at)`,
  );
  return Object.fromEntries(rows.map((r) => [r.step, `${r.p50}/${r.p99}`]));
}

type Answer = { status: number; json: unknown };
type Http = (method: string, url: string, token: string, body?: unknown, headers?: Record<string, string>) => Promise<Answer>;

function httpTo(base: string): Http {
  return async (method, url, token, body, headers = {}) => {
    const response = await fetch(`${base}${url}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    return { status: response.status, json: text ? JSON.parse(text) : undefined };
  };
}

/**
 * A buyer's own keep-alive connection as an Http: requests are written as prepared strings and
 * answers read by Content-Length (keep-alive-connection.ts). The buyers share the server's event
 * loop, so the load generator spends as little of it as it can (fetch cost about a twentieth of it).
 */
function httpOver(connection: KeepAliveConnection, host: string): Http {
  return async (method, url, token, body, headers = {}) => {
    const payload = body === undefined ? '' : JSON.stringify(body);
    let head = `${method} ${url} HTTP/1.1\r\nHost: ${host}\r\nAuthorization: Bearer ${token}\r\nContent-Length: ${Buffer.byteLength(payload)}\r\n`;
    if (body !== undefined) head += 'Content-Type: application/json\r\n';
    for (const [name, value] of Object.entries(headers)) head += `${name}: ${value}\r\n`;
    const answer = await connection.send(`${head}\r\n${payload}`);
    const text = answer.body.toString('utf8');
    return { status: answer.status, json: text ? JSON.parse(text) : undefined };
  };
}

async function must<T = unknown>(what: string, answer: Promise<Answer>, ...ok: number[]): Promise<T> {
  const a = await answer;
  if (!ok.includes(a.status)) throw new Error(`${what}: HTTP ${a.status} ${JSON.stringify(a.json).slice(0, 400)}`);
  return a.json as T;
}

async function listProducts(app: Marketplace, http: Http, sellerToken: string, o: Options): Promise<string[]> {
  const products = (app.modules.find((m) => m.name === 'products') as unknown as { api: ProductsApi }).api;
  const categoryId = newId();
  await products.importCategories([{ id: categoryId, parentId: null, name: 'Bench', slug: `bench-${categoryId.slice(-12)}`, position: 0 }]);
  const stock = o.buyers * (o.rounds + o.warmupRounds) * ITEMS_PER_ORDER;
  const variants: string[] = [];
  for (let i = 0; i < o.products; i++) {
    const sku = `BENCH-${i}-${newId().slice(-6)}`;
    const body = { sku, title: `Bench product ${i}`, categoryId, variants: [{ sku: `${sku}-V`, price: { amount: 1000 + 100 * i, currency: 'USD' } }] };
    const created = await must<{ id: string; variants: { id: string }[] }>('create product', http('POST', '/v1/seller/products', sellerToken, body), 201);
    await must('publish', http('POST', `/v1/seller/products/${created.id}/publish`, sellerToken), 200);
    variants.push((created.variants[0] as { id: string }).id);
  }
  for (const variantId of variants) {
    // The stock item appears once inventory has the product's event.
    for (let attempt = 0; ; attempt++) {
      const a = await http('POST', `/v1/seller/stock/${variantId}/adjustments`, sellerToken, { amount: stock, reason: 'received' });
      if (a.status === 200 || a.status === 201) break;
      if (attempt > 200) throw new Error(`no stock item for ${variantId}: ${JSON.stringify(a.json)}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }
  return variants;
}

interface Round {
  latencyMs: number;
  checkoutMs: number;
}

/** One buyer's full checkout: cart, coupon, checkout, then its order paid. */
async function oneCheckout(http: Http, paid: PaidOrders, token: string, variants: string[], code: string): Promise<Round> {
  const picked = new Set<string>();
  while (picked.size < ITEMS_PER_ORDER) picked.add(variants[Math.floor(Math.random() * variants.length)] as string);
  const started = performance.now();
  for (const variantId of picked) await must('add item', http('POST', '/v1/cart/items', token, { variantId, quantity: 1 }), 200, 201);
  await must('apply coupon', http('POST', '/v1/cart/coupons', token, { code }), 200, 201);
  const before = performance.now();
  const session = await must<{ status: string; orderIds: string[]; failure: unknown }>(
    'checkout',
    http('POST', '/v1/checkout', token, checkoutBody, { 'idempotency-key': newId() }),
    201,
  );
  const checkoutMs = performance.now() - before;
  if (session.status !== 'completed') throw new Error(`checkout ended ${session.status}: ${JSON.stringify(session.failure)}`);
  await Promise.all(session.orderIds.map((id: string) => paid.wait(id, 30_000)));
  return { latencyMs: performance.now() - started, checkoutMs };
}

const checkoutBody = {
  shippingAddress: { name: 'Bench Buyer', line1: '1 Load Street', city: 'Benchville', postalCode: '10000', country: 'US' },
  paymentMethod: { token: 'tok_visa' },
};

async function referencePhase(url: string, concurrency: number, transactions: number): Promise<number> {
  const pool = createPool(url, concurrency, 'bench-order-reference');
  try {
    await pool.query(`CREATE TABLE bench_ref_orders (
      id uuid PRIMARY KEY, buyer_id uuid NOT NULL, seller_id uuid NOT NULL, order_number text NOT NULL UNIQUE, status text NOT NULL,
      currency char(3) NOT NULL, total_amount bigint NOT NULL, created_at timestamptz NOT NULL)`);
    await pool.query(`CREATE TABLE bench_ref_order_items (
      id uuid PRIMARY KEY, order_id uuid NOT NULL REFERENCES bench_ref_orders (id), product_snapshot_json jsonb NOT NULL,
      unit_price bigint NOT NULL, quantity integer NOT NULL, created_at timestamptz NOT NULL)`);
    await pool.query(`CREATE TABLE bench_ref_outbox (
      id uuid PRIMARY KEY, aggregate_id uuid NOT NULL, event_type text NOT NULL, payload jsonb NOT NULL, created_at timestamptz NOT NULL)`);
    await Promise.all(Array.from({ length: concurrency }, () => pool.query('SELECT 1')));
    const once = async (): Promise<void> => {
      const client = await pool.connect();
      try {
        const orderId = newId();
        const now = new Date();
        await client.query('BEGIN');
        await client.query(
          `INSERT INTO bench_ref_orders (id, buyer_id, seller_id, order_number, status, currency, total_amount, created_at)
           VALUES ($1, $2, $3, $4, 'pending_payment', 'USD', 3300, $5)`,
          [orderId, newId(), newId(), `B-${orderId}`, now],
        );
        await client.query(
          `INSERT INTO bench_ref_order_items (id, order_id, product_snapshot_json, unit_price, quantity, created_at)
           SELECT unnest($1::uuid[]), $2, '{"title":"Bench product"}'::jsonb, 1100, 1, $3`,
          [[newId(), newId(), newId()], orderId, now],
        );
        await client.query(
          `INSERT INTO bench_ref_outbox (id, aggregate_id, event_type, payload, created_at) VALUES ($1, $2, 'orders.order_placed.v1', $3, $4)`,
          [newId(), orderId, JSON.stringify({ orderId, totalAmount: 3300 }), now],
        );
        await client.query('COMMIT');
      } finally {
        client.release();
      }
    };
    let next = 0;
    const loop = async (count: number) => {
      next = 0;
      await Promise.all(
        Array.from({ length: concurrency }, async () => {
          while (next++ < count) await once();
        }),
      );
    };
    await loop(Math.min(200, transactions));
    const started = performance.now();
    await loop(transactions);
    return round((transactions * 1000) / (performance.now() - started), 0);
  } finally {
    for (const t of ['bench_ref_order_items', 'bench_ref_orders', 'bench_ref_outbox']) await pool.query(`DROP TABLE IF EXISTS ${t}`).catch(() => undefined);
    await pool.end();
  }
}

async function run(flags: Flags): Promise<Record<string, unknown>> {
  const o = options(flags);
  const dbs = await benchDatabases(DOMAIN_NAMES);
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'bazaar-bench-data-'));
  const statementsFile = process.env.BENCH_SQL_STATEMENTS;
  const counter = new StatementCounter(Boolean(statementsFile), PROBE_CONSUMER);
  const paid = new PaidOrders();
  let app: Marketplace | undefined;
  let connections: KeepAliveConnection[] = [];
  try {
    const config = loadConfig({
      PORT: '0',
      HOST: '127.0.0.1',
      LOG_LEVEL: 'warn',
      JWT_KEYS: generateKeyring(),
      SEED_DEMO: 'false',
      DATA_DIR: dataDir,
      DATABASE_POOL_SIZE_MAX: String(o.poolSize),
      PAYMENTS_TEST_GATEWAY_LATENCY_MS: '0',
    });
    counter.install();
    app = await createMarketplace(config, { targets: [...dbs.targets.values()], embedded: undefined }, { log: benchLog(), extraSubscriptions: [paid.subscription()] });
    const address = await app.listen();
    const http = httpTo(address);
    const sellerToken = (await app.tokens.sign({ userId: newId(), roles: ['seller'] })).token;
    const variants = await listProducts(app, http, sellerToken, o);
    const codes: string[] = [];
    for (let i = 0; i < o.coupons; i++) {
      const body = { code: `BENCH-TEN-${i}`, type: 'percentage', discount: 1000 };
      codes.push((await must<{ code: string }>('coupon', http('POST', '/v1/seller/coupons', sellerToken, body), 201)).code);
    }
    const buyers = await Promise.all(Array.from({ length: o.buyers }, async () => (await app!.tokens.sign({ userId: newId(), roles: ['buyer'] })).token));
    const { host, hostname, port } = new URL(address);
    connections = await Promise.all(buyers.map(() => KeepAliveConnection.open(hostname, Number(port))));
    const buyerHttp = connections.map((c) => httpOver(c, host));
    progress(`marketplace on ${address}; ${o.buyers} buyers × ${o.rounds} checkouts of ${ITEMS_PER_ORDER} of ${o.products} products, ${o.coupons} coupon(s) shared`);

    const codeOf = (buyer: number) => codes[buyer % codes.length] as string;
    for (let r = 0; r < o.warmupRounds; r++) await Promise.all(buyers.map((token, b) => oneCheckout(buyerHttp[b]!, paid, token, variants, codeOf(b))));
    progress(`${o.warmupRounds} warm-up round(s) done; their events delivered ${round(await settleDelivery(app.pools), 0)} ms later`);

    const rounds: Round[] = [];
    counter.on = true;
    const cpuBefore = process.cpuUsage();
    const started = performance.now();
    await profiled(() =>
      Promise.all(
        buyers.map(async (token, b) => {
          for (let r = 0; r < o.rounds; r++) rounds.push(await oneCheckout(buyerHttp[b]!, paid, token, variants, codeOf(b)));
        }),
      ),
    );
    const elapsedMs = performance.now() - started;
    const cpu = process.cpuUsage(cpuBefore);
    counter.on = false;
    progress(`this process used ${round((cpu.user + cpu.system) / 1000 / elapsedMs, 2)} CPU cores on average while measuring`);
    const orders = rounds.length;
    const statements = counter.total();
    const perDomain = Object.fromEntries(
      [...dbs.targets.values()].map((t) => [t.domain, round((counter.perDatabase.get(t.database) ?? 0) / orders, 1)]).filter(([, n]) => (n as number) > 0),
    );
    progress(`SQL statements per order by database: ${JSON.stringify(perDomain)} (the probe's own consumer rounds, ${round(counter.probe / orders, 1)} per order, not counted)`);
    if (statementsFile) {
      const lines = [...counter.perText].sort(([a], [b]) => (a < b ? -1 : 1)).map(([text, n]) => `${round(n / orders, 2)}\t${text}`);
      await writeFile(statementsFile, `${lines.join('\n')}\n`);
      progress(`statements per order by database and text written to ${statementsFile}`);
    }
    progress(`checkout step latencies (ms, p50/p99 from the session's own records): ${JSON.stringify(await stepLatencies(app))}`);

    await app.stop();
    app = undefined;
    counter.uninstall();
    const ordersDb = dbs.targets.get('orders');
    if (!ordersDb) throw new Error('no orders database');
    const reference = await referencePhase(ordersDb.url, o.buyers, Math.max(orders, 500));
    progress(`reference: ${reference} order transactions per second`);

    const latencies = rounds.map((r) => r.latencyMs).sort((a, b) => a - b);
    const checkouts = rounds.map((r) => r.checkoutMs).sort((a, b) => a - b);
    const ordersPerSecond = round((orders * 1000) / elapsedMs, 1);
    return {
      buyers: o.buyers,
      ordersPerSecond,
      p50Ms: round(percentile(latencies, 50)),
      p99Ms: round(percentile(latencies, 99)),
      sqlStatementsPerOrder: round(statements / orders, 1),
      referenceOrderTxPerSecond: reference,
      ratio: round(ordersPerSecond / reference, 3),
      orders,
      rounds: o.rounds,
      coupons: o.coupons,
      checkoutPostP50Ms: round(percentile(checkouts, 50)),
      checkoutPostP99Ms: round(percentile(checkouts, 99)),
      elapsedMs: round(elapsedMs, 0),
      server: dbs.server,
    };
  } finally {
    for (const c of connections) c.close();
    counter.uninstall();
    await app?.stop().catch(() => undefined);
    await dbs.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}

export const scenario: Scenario = {
  description: 'full checkouts over HTTP (cart, coupon, checkout, payment) until each order is paid, beside a bare order-insert transaction',
  flags: {
    buyers: 'buyers checking out at once, and connections of the reference loop (32)',
    rounds: 'checkouts per buyer, one after another (5)',
    products: 'products of the seller; each order takes 3 of them at random (30)',
    coupons: 'distinct coupons, buyer i applying coupon i mod n; 1 makes every checkout redeem the same coupon (1)',
    'pool-size': 'connections per domain database pool (DATABASE_POOL_SIZE_MAX, as the app: 5)',
    'warmup-rounds': 'unmeasured rounds of checkouts first (1)',
  },
  run,
};
