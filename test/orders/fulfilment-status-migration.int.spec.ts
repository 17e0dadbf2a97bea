import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scratchDatabase } from '../support/scratch-database.ts';
import { allMigrations } from '../../src/platform/db/migrate.ts';
import { newId } from '../../src/platform/ids.ts';
import type { OrderStatus } from '../../src/domains/orders/status-machine.ts';

/**
 * Orders migration 0002 on orders made before it: an orders database migrated up to 0001, orders written
 * as the old status machine left them, then 0002. Its own scratch database, dropped after. It lives
 * under test/, not in the domain's folder, because it opens its own connections (pg), which the
 * architecture test allows no domain file.
 */
let scratch: Awaited<ReturnType<typeof scratchDatabase>>;
let db: pg.Client;

beforeAll(async () => {
  scratch = await scratchDatabase('orders_0002');
  db = scratch.db;
  const migrations = await allMigrations('orders');
  const upTo0001 = migrations.findIndex((m) => m.id === 'orders/0001_init');
  for (const m of migrations.slice(0, upTo0001 + 1)) await db.query(m.sql);
});

afterAll(async () => {
  await scratch?.drop();
});

/** An order of 1000 with one item, in `status`, whose history went through `path`. */
async function oldOrder(status: OrderStatus, path: readonly OrderStatus[]): Promise<string> {
  const id = newId();
  const sellerId = newId();
  await db.query('BEGIN');
  await db.query(
    `INSERT INTO orders (id, buyer_id, seller_id, order_number, status, currency, subtotal_amount, total_amount, refunded_amount,
                         checkout_session_id, shipping_address_json)
     VALUES ($1, $2, $3, $4, $5, 'EUR', 1000, 1000, $6, $7, '{}')`,
    [id, newId(), sellerId, `BZ-${id.slice(-12)}`, status, status === 'refunded' ? 1000 : status === 'partially_refunded' ? 300 : 0, newId()],
  );
  await db.query(
    `INSERT INTO order_items (id, order_id, product_id, variant_id, seller_id, sku, product_snapshot_json, price_snapshot, quantity, currency, line_total)
     VALUES ($1, $2, $3, $4, $5, 'SKU-1', '{"title": "Cup"}', 1000, 1, 'EUR', 1000)`,
    [newId(), id, newId(), newId(), sellerId],
  );
  let from: OrderStatus | null = null;
  for (const [i, to] of path.entries()) {
    await db.query(
      `INSERT INTO order_status_history (id, order_id, from_status, to_status, reason, actor_type, changed_at)
       VALUES ($1, $2, $3, $4, 'before 0002', 'system', now() + make_interval(secs => $5))`,
      [newId(), id, from, to, i],
    );
    from = to;
  }
  await db.query('COMMIT');
  return id;
}

describe('migration 0002 (fulfilment_status)', () => {
  const expected = new Map<string, string | null>();
  let shipped = '';

  beforeAll(async () => {
    const cases: [OrderStatus, OrderStatus[], string | null][] = [
      ['pending_payment', ['pending_payment'], null],
      ['paid', ['pending_payment', 'paid'], 'paid'],
      ['shipped', ['pending_payment', 'paid', 'fulfilling', 'shipped'], 'shipped'],
      ['partially_refunded', ['pending_payment', 'paid', 'fulfilling', 'partially_refunded'], 'fulfilling'],
      ['partially_refunded', ['pending_payment', 'paid', 'shipped', 'partially_refunded'], 'shipped'],
      ['shipped', ['pending_payment', 'paid', 'partially_refunded', 'shipped'], 'shipped'],
      ['refunded', ['pending_payment', 'paid', 'shipped', 'delivered', 'partially_refunded', 'refunded'], 'delivered'],
      ['cancelled', ['pending_payment', 'cancelled'], null],
      ['cancelled', ['pending_payment', 'paid', 'fulfilling', 'cancelled'], 'fulfilling'],
      // No history at all (none should be without): a refund means it was paid at least.
      ['partially_refunded', [], 'paid'],
    ];
    for (const [status, path, fulfilment] of cases) expected.set(await oldOrder(status, path), fulfilment);
    shipped = [...expected.keys()][2] as string;
    const migration = (await allMigrations('orders')).find((m) => m.id === 'orders/0002_fulfilment_status');
    if (!migration) throw new Error('migration orders/0002_fulfilment_status not found');
    await db.query(migration.sql);
  });

  it('gives existing orders the furthest step their status or history reached', async () => {
    const { rows } = await db.query<{ id: string; fulfilment_status: string | null }>('SELECT id, fulfilment_status FROM orders');
    expect(new Map(rows.map((r) => [r.id, r.fulfilment_status]))).toEqual(expected);
  });

  it('refuses a fulfilment status that disagrees with the status, or that moves back', async () => {
    await expect(db.query(`UPDATE orders SET fulfilment_status = 'delivered' WHERE id = $1`, [shipped])).rejects.toThrow(/orders_fulfilment_status_agrees/);
    await expect(db.query(`UPDATE orders SET status = 'cancelled' WHERE id = $1`, [shipped])).rejects.toThrow(/orders_fulfilment_status_agrees/);
    const back = db.query(`UPDATE orders SET status = 'partially_refunded', fulfilment_status = 'paid' WHERE id = $1`, [shipped]);
    await expect(back).rejects.toThrow(/never moves back/);
    await expect(db.query('UPDATE orders SET total_amount = 1 WHERE id = $1', [shipped])).rejects.toThrow(/only status/);
  });

  it('lets a process still on the code from before the column (status alone) move orders during a rolling deploy', async () => {
    const previousCode = `UPDATE orders o SET status = c.status, refunded_amount = c.refunded, version = o.version + 1, updated_at = now()
                            FROM unnest($1::uuid[], $2::text[], $3::bigint[]) AS c(id, status, refunded) WHERE o.id = c.id`;
    const pending = await oldOrder('pending_payment', ['pending_payment']);
    await db.query(previousCode, [[pending], ['paid'], [0]]);
    const partly = [...expected.keys()][3] as string; // partially_refunded at fulfilling
    await db.query(previousCode, [[partly], ['shipped'], [300]]);
    const { rows } = await db.query<{ id: string; status: string; fulfilment_status: string }>('SELECT id, status, fulfilment_status FROM orders WHERE id = ANY($1)', [
      [pending, partly],
    ]);
    expect(new Map(rows.map((r) => [r.id, [r.status, r.fulfilment_status]]))).toEqual(
      new Map([
        [pending, ['paid', 'paid']],
        [partly, ['shipped', 'shipped']],
      ]),
    );
  });
});
