import { expect } from 'vitest';
import { ManualClock } from '../../src/platform/clock.ts';
import { createPool, type Pool, withTransaction } from '../../src/platform/db/pool.ts';
import { TokenService, parseKeyring } from '../../src/platform/http/tokens.ts';
import { newId } from '../../src/platform/ids.ts';
import { createLogger } from '../../src/platform/logger.ts';
import { Metrics } from '../../src/platform/metrics.ts';
import { type EventEnvelope, eventSource, traceOf } from '../../src/platform/messaging/envelope.ts';
import { appendEvents, assertContract } from '../../src/platform/messaging/outbox.ts';
import { createInventoryModule, type InventoryApi, type InventoryOptions } from '../../src/domains/inventory/index.ts';
import { TEST_JWT_KEYS, freshDatabases } from '../support/databases.ts';

export interface InventoryHarness {
  api: InventoryApi;
  pool: Pool;
  clock: ManualClock;
  /** Another module on the same database, like a second process (its own queue, memo and sweeper). */
  other(options?: InventoryOptions): InventoryApi;
  /**
   * Hands an event to the module's own subscription for its type, in one transaction, as the
   * consumer does (the payload must meet its contract); the handler's events go to the outbox.
   */
  deliver(type: string, data: unknown): Promise<void>;
  close(): Promise<void>;
}

/** The inventory module alone, on fresh databases, with a manual clock (no sweeper loop running). */
export async function startInventory(options: InventoryOptions = {}, poolSizeMax = 4): Promise<InventoryHarness> {
  const dbs = await freshDatabases();
  const target = dbs.targets.find((t) => t.domain === 'inventory');
  if (!target) throw new Error('no inventory database');
  const pool = createPool(target.url, poolSizeMax, 'test-inventory');
  const clock = new ManualClock('2026-03-01T10:00:00.000Z');
  const metrics = new Metrics();
  const make = (moduleOptions: InventoryOptions = options) =>
    createInventoryModule(
      {
        domain: 'inventory',
        pool,
        config: dbs.config,
        clock,
        log: createLogger('silent'),
        tokens: new TokenService(parseKeyring(TEST_JWT_KEYS), 'test', 'test', 900),
        metrics,
      },
      moduleOptions,
    );
  const module = make();
  return {
    api: module.api,
    pool,
    clock,
    other: (moduleOptions) => make(moduleOptions).api,
    async deliver(type, data) {
      assertContract(type, data);
      const subscription = module.subscriptions?.find((s) => s.events.includes(type));
      if (!subscription) throw new Error(`the inventory module does not subscribe to ${type}`);
      const id = newId();
      const envelope: EventEnvelope = {
        specversion: '1.0',
        id,
        type,
        source: eventSource('test'),
        subject: id,
        time: clock.now().toISOString(),
        datacontenttype: 'application/json',
        correlationid: id,
        causationid: null,
        aggregatetype: 'test',
        data,
      };
      const now = clock.now();
      await withTransaction(pool, (tx) => subscription.handle({ tx, now, trace: traceOf(envelope), emit: (events) => appendEvents(tx, 'inventory', events, traceOf(envelope), now).then(() => undefined) }, envelope));
    },
    async close() {
      await module.stop?.();
      await pool.end();
      await dbs.drop();
    },
  };
}

export interface Variant {
  variantId: string;
  productId: string;
  sellerId: string;
  sku: string;
}

export function newVariant(sellerId = newId()): Variant {
  return { variantId: newId(), productId: newId(), sellerId, sku: `SKU-${newId().slice(-12)}` };
}

/** A variant with `quantity` units in stock. */
export async function stockedVariant(api: InventoryApi, quantity: number, sellerId?: string): Promise<Variant> {
  const v = newVariant(sellerId);
  await api.receiveStock([{ ...v, quantity }]);
  return v;
}

export interface ItemLedger {
  variantId: string;
  total: number;
  available: number;
  reserved: number;
  activeReserved: number;
  movementsSum: number;
  sold: number;
}

/** Every stock item with what its reservations and movements say it should hold. */
export async function ledger(pool: Pool, variantIds?: readonly string[]): Promise<ItemLedger[]> {
  const { rows } = await pool.query<ItemLedger>(
    `SELECT s.variant_id AS "variantId", s.total_quantity AS total, s.available_quantity AS available, s.reserved_quantity AS reserved,
            coalesce((SELECT sum(l.quantity) FROM stock_reservations l WHERE l.stock_item_id = s.id AND l.status = 'active'), 0)::int AS "activeReserved",
            coalesce((SELECT sum(m.change) FROM stock_movements m WHERE m.stock_item_id = s.id), 0)::int AS "movementsSum",
            coalesce((SELECT -sum(m.change) FROM stock_movements m WHERE m.stock_item_id = s.id AND m.kind = 'sale'), 0)::int AS sold
       FROM stock_items s WHERE $1::uuid[] IS NULL OR s.variant_id = ANY($1::uuid[]) ORDER BY s.variant_id`,
    [variantIds ?? null],
  );
  return rows;
}

/** total = available + active reservations = the sum of the movements, nothing negative; headers agree with lines. */
export async function expectConsistent(pool: Pool, variantIds?: readonly string[]): Promise<void> {
  for (const item of await ledger(pool, variantIds)) {
    expect(item.available, `available of ${item.variantId}`).toBeGreaterThanOrEqual(0);
    expect(item.reserved, `reserved of ${item.variantId}`).toBe(item.activeReserved);
    expect(item.total, `total of ${item.variantId}`).toBe(item.available + item.activeReserved);
    expect(item.total, `movements of ${item.variantId}`).toBe(item.movementsSum);
  }
  const { rows } = await pool.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM stock_reservations l JOIN reservations r ON r.id = l.reservation_id WHERE l.status <> r.status`,
  );
  expect(rows[0]?.n, 'reservation lines whose status differs from their reservation').toBe(0);
}

export async function eventCount(pool: Pool, type: string): Promise<number> {
  const { rows } = await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM inventory_outbox_events WHERE event_type = $1', [type]);
  return rows[0]?.n ?? 0;
}

/** Deadlocks PostgreSQL has detected in the pool's database so far (tests compare before and after). */
export async function deadlockCount(pool: Pool): Promise<number> {
  const { rows } = await pool.query<{ n: number }>('SELECT deadlocks::int AS n FROM pg_stat_database WHERE datname = current_database()');
  return rows[0]?.n ?? 0;
}

/** Sessions waiting for a lock whose statement matches any of the LIKE patterns (tests that stage a wait). */
export async function lockWaiters(pool: Pool, ...patterns: string[]): Promise<number> {
  const { rows } = await pool.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE ANY($1::text[])`,
    [patterns],
  );
  return rows[0]?.n ?? 0;
}
