import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newId } from '../../src/platform/ids.ts';
import type { ProductsApi } from '../../src/domains/products/index.ts';
import { appendEvents } from '../../src/platform/messaging/outbox.ts';
import { importSimpleProduct } from '../../src/seed/index.ts';
import type { Role } from '../../src/platform/http/tokens.ts';
import { type TestApp, startTestApp } from '../support/app.ts';
import { eventually } from '../support/eventually.ts';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => {
  await t?.close();
});

async function signIn(role: Role): Promise<{ userId: string; token: string }> {
  const userId = newId();
  const { token } = await t.app.tokens.sign({ userId, roles: [role] });
  return { userId, token };
}

/** What the products domain announces when a seller creates a product (written to its outbox). */
async function announceProduct(sellerId: string, variantCount = 2): Promise<{ productId: string; variantIds: string[] }> {
  const productId = newId();
  const variantIds = Array.from({ length: variantCount }, () => newId());
  const now = new Date().toISOString();
  const pool = t.app.pools.get('products');
  if (!pool) throw new Error('no products pool');
  await appendEvents(pool, 'products', [
    {
      type: 'products.product_created.v1',
      aggregateType: 'product',
      aggregateId: productId,
      data: {
        productId,
        sellerId,
        sku: `P-${productId.slice(-8)}`,
        title: 'Trail shoe',
        description: '',
        categoryId: newId(),
        categoryPath: [{ id: newId(), name: 'Shoes', slug: 'shoes' }],
        status: 'draft',
        version: 1,
        variants: variantIds.map((variantId, i) => ({
          variantId,
          sku: `P-${productId.slice(-8)}-${i}`,
          attributes: { size: String(40 + i) },
          listPrice: { amount: 8900, currency: 'EUR' },
          position: i,
        })),
        images: [],
        attributes: [],
        prices: [],
        createdAt: now,
        updatedAt: now,
      },
    },
  ], null);
  return { productId, variantIds };
}

const productsApi = () => (t.app.modules.find((m) => m.name === 'products') as unknown as { api: ProductsApi }).api;

/** A seller's real product (published unless said otherwise) with `units` in stock. */
async function sellerWithStock(units: number, status: 'published' | 'draft' = 'published'): Promise<{ seller: { userId: string; token: string }; variantId: string }> {
  const seller = await signIn('seller');
  const { variantIds } = await importSimpleProduct(productsApi(), { sellerId: seller.userId, status });
  const variantId = variantIds[0] as string;
  await eventually(async () => {
    const res = await t.request('POST', `/v1/seller/stock/${variantId}/adjustments`, { token: seller.token, body: { amount: units, reason: 'received' } });
    expect(res.statusCode).toBe(201);
  });
  return { seller, variantId };
}

async function productOf(variantId: string): Promise<string> {
  const { rows } = await t.app.pools.get('products')!.query<{ product_id: string }>('SELECT product_id FROM product_variants WHERE id = $1', [variantId]);
  return rows[0]!.product_id;
}

describe('seller stock', () => {
  it('creates a stock item for every variant the products domain announces, listed to its seller only', async () => {
    const seller = await signIn('seller');
    const { variantIds } = await announceProduct(seller.userId, 3);
    const page = await eventually(async () => {
      const res = await t.request('GET', '/v1/seller/stock?limit=2', { token: seller.token });
      expect(res.statusCode).toBe(200);
      const body = res.json() as { items: { variantId: string; total: number; available: number; reserved: number }[]; nextCursor: string | null };
      expect(body.items).toHaveLength(2);
      return body;
    });
    expect(page.items[0]).toMatchObject({ total: 0, available: 0, reserved: 0 });
    const rest = (await t.request('GET', `/v1/seller/stock?limit=2&cursor=${page.nextCursor}`, { token: seller.token })).json() as { items: { variantId: string }[]; nextCursor: null };
    expect(new Set([...page.items, ...rest.items].map((i) => i.variantId))).toEqual(new Set(variantIds));
    expect(rest.nextCursor).toBeNull();

    const stranger = await signIn('seller');
    expect((await t.request('GET', '/v1/seller/stock', { token: stranger.token })).json()).toEqual({ items: [], nextCursor: null });
  });

  it('adjusts own stock with a movement and an event, and refuses to remove more than is available', async () => {
    const { seller, variantId } = await sellerWithStock(5);
    const removed = await t.request('POST', `/v1/seller/stock/${variantId}/adjustments`, {
      token: seller.token,
      body: { amount: -2, reason: 'damaged', note: 'water damage in aisle 4' },
    });
    expect(removed.statusCode).toBe(201);
    expect(removed.json()).toMatchObject({ movement: { change: -2, reason: 'damaged', note: 'water damage in aisle 4' }, stock: { total: 3, available: 3, reserved: 0 } });

    const tooMany = await t.request('POST', `/v1/seller/stock/${variantId}/adjustments`, { token: seller.token, body: { amount: -4, reason: 'lost' } });
    expect(tooMany.statusCode).toBe(409);
    expect(tooMany.json()).toMatchObject({ code: 'OUT_OF_STOCK', detail: expect.stringMatching(/cannot remove 4 units: 3 available/) });

    const inventory = t.app.pools.get('inventory');
    const { rows } = await inventory!.query<{ sum: number; n: number }>(
      `SELECT sum(m.change)::int AS sum, count(*)::int AS n FROM stock_movements m JOIN stock_items s ON s.id = m.stock_item_id WHERE s.variant_id = $1`,
      [variantId],
    );
    expect(rows[0]).toEqual({ sum: 3, n: 2 });
    const events = await inventory!.query(`SELECT 1 FROM inventory_outbox_events WHERE event_type = 'inventory.stock_adjusted.v1' AND payload->>'variantId' = $1`, [variantId]);
    expect(events.rowCount).toBe(2);
  });

  it('replays an adjustment sent again with the same Idempotency-Key, and answers 422 for the key with another body', async () => {
    const { seller, variantId } = await sellerWithStock(5);
    const url = `/v1/seller/stock/${variantId}/adjustments`;
    const key = 'recount-2026-03-01';
    const body = { amount: -1, reason: 'damaged', note: 'cracked' };
    const first = await t.request('POST', url, { token: seller.token, headers: { 'idempotency-key': key }, body });
    expect(first.statusCode).toBe(201);
    expect(first.headers['idempotent-replayed']).toBeUndefined();
    // Stock moves on meanwhile; the replay is still the first answer, and changes nothing.
    expect((await t.request('POST', url, { token: seller.token, body: { amount: 3, reason: 'received' } })).statusCode).toBe(201);
    const again = await t.request('POST', url, { token: seller.token, headers: { 'idempotency-key': key }, body });
    expect(again.statusCode).toBe(201);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.json()).toEqual(first.json());
    expect(again.json()).toMatchObject({ movement: { change: -1, reason: 'damaged', note: 'cracked' }, stock: { total: 4, available: 4 } });

    for (const other of [{ ...body, amount: -2 }, { ...body, note: 'chipped' }, { amount: -1, reason: 'lost' }]) {
      const refused = await t.request('POST', url, { token: seller.token, headers: { 'idempotency-key': key }, body: other });
      expect(refused.statusCode).toBe(422);
      expect(refused.json()).toMatchObject({ code: 'IDEMPOTENCY_KEY_REUSED' });
    }
    const inventory = t.app.pools.get('inventory');
    const { rows } = await inventory!.query<{ sum: number; n: number }>(
      `SELECT sum(m.change)::int AS sum, count(*)::int AS n FROM stock_movements m JOIN stock_items s ON s.id = m.stock_item_id WHERE s.variant_id = $1`,
      [variantId],
    );
    expect(rows[0]).toEqual({ sum: 7, n: 3 });
    const [item] = (await inventory!.query('SELECT total_quantity, available_quantity FROM stock_items WHERE variant_id = $1', [variantId])).rows;
    expect(item).toEqual({ total_quantity: 7, available_quantity: 7 });

    // Keys are each seller's own: another seller's same key is a new adjustment.
    const other = await sellerWithStock(2);
    const theirs = await t.request('POST', `/v1/seller/stock/${other.variantId}/adjustments`, { token: other.seller.token, headers: { 'idempotency-key': key }, body });
    expect(theirs.statusCode).toBe(201);
    expect(theirs.headers['idempotent-replayed']).toBeUndefined();
    expect(theirs.json()).toMatchObject({ stock: { total: 1 } });
  });

  it('refuses an Idempotency-Key that looks like a card number, as a body holding one, and keeps nothing of it (found by a review: it was stored as sent)', async () => {
    const { seller, variantId } = await sellerWithStock(5);
    const url = `/v1/seller/stock/${variantId}/adjustments`;
    for (const key of ['4111111111111111', 'recount-4111-1111-1111-1111', '378282246310005']) {
      const refused = await t.request('POST', url, { token: seller.token, headers: { 'idempotency-key': key }, body: { amount: 1, reason: 'received' } });
      expect([refused.statusCode, refused.json().code], key).toEqual([400, 'VALIDATION_FAILED']);
      expect(refused.json().detail).toContain('card number');
      expect(refused.body).not.toContain(key);
    }
    const reservation = await t.request('POST', '/v1/reservations', {
      token: (await signIn('buyer')).token,
      headers: { 'idempotency-key': '4242 4242 4242 4242'.replaceAll(' ', '-') },
      body: { items: [{ variantId, quantity: 1 }] },
    });
    expect([reservation.statusCode, reservation.json().code]).toEqual([400, 'VALIDATION_FAILED']);
    // Keys with long digit runs that are no card numbers are taken: a UUID, a date and a counter.
    // A millisecond timestamp alone and a mistyped card fail the checksum (found by a review: every numeric key was refused).
    for (const key of [newId(), 'recount-2026-12-07-000001', '1765123456788', '4111111111111112']) {
      expect((await t.request('POST', url, { token: seller.token, headers: { 'idempotency-key': key }, body: { amount: 1, reason: 'received' } })).statusCode, key).toBe(201);
    }
    const inventory = t.app.pools.get('inventory');
    const { rows } = await inventory!.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM stock_movements m JOIN stock_items s ON s.id = m.stock_item_id WHERE s.variant_id = $1 AND m.kind = 'adjustment'`,
      [variantId],
    );
    expect(rows[0]?.n).toBe(5);
    const { rows: stored } = await inventory!.query("SELECT 1 FROM stock_movements WHERE idempotency_key LIKE '%4111111111111111%' OR idempotency_key LIKE '%378282246310005%'");
    expect(stored).toEqual([]);
  });

  it("answers 404 for another seller's variant, and changes nothing", async () => {
    const { variantId } = await sellerWithStock(4);
    const other = await signIn('seller');
    const res = await t.request('POST', `/v1/seller/stock/${variantId}/adjustments`, { token: other.token, body: { amount: -1, reason: 'lost' } });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toMatchObject({ code: 'NOT_FOUND' });
    const [item] = (await t.app.pools.get('inventory')!.query('SELECT available_quantity FROM stock_items WHERE variant_id = $1', [variantId])).rows;
    expect(item).toEqual({ available_quantity: 4 });
  });

  it('refuses unknown fields, a zero amount, a reason of the wrong sign and buyers', async () => {
    const { seller, variantId } = await sellerWithStock(1);
    const url = `/v1/seller/stock/${variantId}/adjustments`;
    const unknown = await t.request('POST', url, { token: seller.token, body: { amount: 1, reason: 'received', warehouse: 'x' } });
    expect(unknown.statusCode).toBe(400);
    expect(unknown.json()).toMatchObject({ code: 'VALIDATION_FAILED', detail: expect.stringMatching(/warehouse/) });
    expect((await t.request('POST', url, { token: seller.token, body: { amount: 0, reason: 'correction' } })).statusCode).toBe(400);
    expect((await t.request('POST', url, { token: seller.token, body: { amount: -1, reason: 'received' } })).statusCode).toBe(400);
    expect((await t.request('POST', url, { token: seller.token, body: { amount: 1, reason: 'because' } })).statusCode).toBe(400);
    // A note is kept for good and shown back: a card number in it is refused, and nothing is recorded.
    const card = await t.request('POST', url, { token: seller.token, body: { amount: 1, reason: 'received', note: 'paid with 4242 4242 4242 4242' } });
    expect([card.statusCode, card.json().code]).toEqual([400, 'VALIDATION_FAILED']);
    expect((await t.request('GET', `/v1/seller/stock/${variantId}/movements`, { token: seller.token })).json().items).toHaveLength(1);
    const buyer = await signIn('buyer');
    expect((await t.request('POST', url, { token: buyer.token, body: { amount: 1, reason: 'received' } })).statusCode).toBe(403);
    expect((await t.request('GET', '/v1/seller/stock?limit=1000', { token: seller.token })).statusCode).toBe(400);
  });
});

describe('stock movements', () => {
  it('lists an own variant\'s movements newest first, paged, adding up to its total; another seller\'s variant is 404', async () => {
    const { seller, variantId } = await sellerWithStock(10);
    const adjust = (amount: number, reason: string, note?: string) =>
      t.request('POST', `/v1/seller/stock/${variantId}/adjustments`, { token: seller.token, body: { amount, reason, ...(note ? { note } : {}) } });
    expect((await adjust(-2, 'damaged', 'dropped a box')).statusCode).toBe(201);
    expect((await adjust(5, 'received')).statusCode).toBe(201);
    // A sale: a buyer's hold, confirmed.
    const inventory = t.app.modules.find((m) => m.name === 'inventory') as unknown as { api: { reserve(input: unknown): Promise<{ id: string }>; confirm(id: string, o: object): Promise<unknown> } };
    const buyer = await signIn('buyer');
    const held = await inventory.api.reserve({ idempotencyKey: `checkout:${newId()}`, ownerId: buyer.userId, items: [{ variantId, quantity: 3 }] });
    await inventory.api.confirm(held.id, {});

    const url = `/v1/seller/stock/${variantId}/movements`;
    const all = await t.request('GET', url, { token: seller.token });
    expect(all.statusCode, all.body).toBe(200);
    const items = all.json().items as { kind: string; change: number; reason: string; note: string | null; referenceId: string | null; createdBy: string | null }[];
    expect(items.map((m) => [m.kind, m.change, m.reason])).toEqual([
      ['sale', -3, expect.any(String)],
      ['adjustment', 5, 'received'],
      ['adjustment', -2, 'damaged'],
      ['adjustment', 10, 'received'],
    ]);
    expect(items[0]).toMatchObject({ referenceId: held.id, createdBy: null });
    expect(items[2]).toMatchObject({ note: 'dropped a box', createdBy: seller.userId });
    const total = (await t.request('GET', '/v1/seller/stock?limit=100', { token: seller.token })).json().items.find((i: { variantId: string }) => i.variantId === variantId).total;
    expect(items.reduce((sum, m) => sum + m.change, 0)).toBe(total);

    // Two at a time: the same movements, in the same order, no repeats.
    const paged: unknown[] = [];
    let cursor: string | null = null;
    do {
      const page: { items: unknown[]; nextCursor: string | null } = (await t.request('GET', `${url}?limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, { token: seller.token })).json();
      paged.push(...page.items);
      cursor = page.nextCursor;
    } while (cursor);
    expect(paged).toEqual(items);

    const other = await sellerWithStock(1);
    expect((await t.request('GET', url, { token: other.seller.token })).statusCode).toBe(404);
    expect((await t.request('GET', `/v1/seller/stock/${newId()}/movements`, { token: seller.token })).statusCode).toBe(404);
    // A cursor of another variant's list is refused.
    const firstPage = (await t.request('GET', `${url}?limit=1`, { token: seller.token })).json();
    const foreign = await t.request('GET', `/v1/seller/stock/${other.variantId}/movements?cursor=${encodeURIComponent(firstPage.nextCursor)}`, { token: other.seller.token });
    expect([foreign.statusCode, foreign.json().code]).toEqual([400, 'INVALID_CURSOR']);
    // Another seller's variant is 404 with its owner's cursor too, as without one.
    const owners = await t.request('GET', `${url}?cursor=${encodeURIComponent(firstPage.nextCursor)}`, { token: other.seller.token });
    expect([owners.statusCode, owners.json().code]).toEqual([404, 'NOT_FOUND']);
    expect((await t.request('GET', url, { token: buyer.token })).statusCode).toBe(403);
  });
});

describe('buyer reservations over HTTP', () => {
  it('requires an Idempotency-Key and refuses unknown fields', async () => {
    const { variantId } = await sellerWithStock(3);
    const buyer = await signIn('buyer');
    const noKey = await t.request('POST', '/v1/reservations', { token: buyer.token, body: { items: [{ variantId, quantity: 1 }] } });
    expect(noKey.statusCode).toBe(400);
    expect(noKey.json()).toMatchObject({ code: 'IDEMPOTENCY_KEY_REQUIRED' });
    const unknown = await t.request('POST', '/v1/reservations', {
      token: buyer.token,
      headers: { 'idempotency-key': newId() },
      body: { items: [{ variantId, quantity: 1, price: 1 }] },
    });
    expect(unknown.statusCode).toBe(400);
    expect(unknown.json()).toMatchObject({ code: 'VALIDATION_FAILED' });
  });

  it('returns the same reservation for the same key and body, and 422 for the same key with another body', async () => {
    const { variantId } = await sellerWithStock(3);
    const buyer = await signIn('buyer');
    const key = newId();
    const first = await t.request('POST', '/v1/reservations', { token: buyer.token, headers: { 'idempotency-key': key }, body: { items: [{ variantId, quantity: 2 }] } });
    expect(first.statusCode).toBe(201);
    const again = await t.request('POST', '/v1/reservations', { token: buyer.token, headers: { 'idempotency-key': key }, body: { items: [{ variantId, quantity: 2 }] } });
    expect(again.statusCode).toBe(201);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.json()).toEqual(first.json());
    const other = await t.request('POST', '/v1/reservations', { token: buyer.token, headers: { 'idempotency-key': key }, body: { items: [{ variantId, quantity: 1 }] } });
    expect(other.statusCode).toBe(422);
    expect(other.json()).toMatchObject({ code: 'IDEMPOTENCY_KEY_REUSED' });
    const [item] = (await t.app.pools.get('inventory')!.query('SELECT available_quantity, reserved_quantity FROM stock_items WHERE variant_id = $1', [variantId])).rows;
    expect(item).toEqual({ available_quantity: 1, reserved_quantity: 2 });
  });

  it("keeps one buyer's key apart from another buyer's", async () => {
    const { variantId } = await sellerWithStock(2);
    const [a, b] = [await signIn('buyer'), await signIn('buyer')];
    const key = 'checkout-1';
    const ra = await t.request('POST', '/v1/reservations', { token: a.token, headers: { 'idempotency-key': key }, body: { items: [{ variantId, quantity: 1 }] } });
    const rb = await t.request('POST', '/v1/reservations', { token: b.token, headers: { 'idempotency-key': key }, body: { items: [{ variantId, quantity: 1 }] } });
    expect([ra.statusCode, rb.statusCode]).toEqual([201, 201]);
    expect(ra.json().id).not.toBe(rb.json().id);
  });

  it('shows a buyer their own reservation and nobody else', async () => {
    const { variantId } = await sellerWithStock(1);
    const buyer = await signIn('buyer');
    const made = (await t.request('POST', '/v1/reservations', { token: buyer.token, headers: { 'idempotency-key': newId() }, body: { items: [{ variantId, quantity: 1 }] } })).json() as { id: string };
    const own = await t.request('GET', `/v1/reservations/${made.id}`, { token: buyer.token });
    expect(own.statusCode).toBe(200);
    expect(own.json()).toMatchObject({ id: made.id, status: 'active', items: [{ variantId, quantity: 1 }] });
    const stranger = await signIn('buyer');
    expect((await t.request('GET', `/v1/reservations/${made.id}`, { token: stranger.token })).statusCode).toBe(404);
  });

  it('lets a buyer release their own hold: the units are back at once, a second release changes nothing, and nobody else may', async () => {
    const { seller, variantId } = await sellerWithStock(3);
    const buyer = await signIn('buyer');
    const stock = async () =>
      (await t.app.pools.get('inventory')!.query('SELECT available_quantity AS available, reserved_quantity AS reserved FROM stock_items WHERE variant_id = $1', [variantId])).rows[0];
    const made = (await t.request('POST', '/v1/reservations', { token: buyer.token, headers: { 'idempotency-key': newId() }, body: { items: [{ variantId, quantity: 2 }] } })).json() as { id: string };
    expect(await stock()).toEqual({ available: 1, reserved: 2 });

    const stranger = await signIn('buyer');
    expect((await t.request('POST', `/v1/reservations/${made.id}/release`, { token: stranger.token })).statusCode).toBe(404);
    expect((await t.request('POST', `/v1/reservations/${made.id}/release`, { token: seller.token })).statusCode).toBe(403);
    expect(await stock()).toEqual({ available: 1, reserved: 2 });

    const released = await t.request('POST', `/v1/reservations/${made.id}/release`, { token: buyer.token });
    expect(released.statusCode, released.body).toBe(200);
    expect(released.json()).toMatchObject({ id: made.id, status: 'released', releaseReason: 'released by the buyer' });
    expect(await stock()).toEqual({ available: 3, reserved: 0 });
    const again = await t.request('POST', `/v1/reservations/${made.id}/release`, { token: buyer.token });
    expect(again.json()).toMatchObject({ id: made.id, status: 'released' });
    expect(await stock()).toEqual({ available: 3, reserved: 0 });
    const { rows } = await t.app.pools
      .get('inventory')!
      .query<{ n: number }>("SELECT count(*)::int AS n FROM inventory_outbox_events WHERE event_type = 'inventory.reservation_released.v1' AND aggregate_id = $1", [made.id]);
    expect(rows).toEqual([{ n: 1 }]);

    // A hold a checkout made for this buyer ends with that checkout, not by the buyer's hand.
    const inventory = t.app.modules.find((m) => m.name === 'inventory') as unknown as { api: { reserve(input: unknown): Promise<{ id: string }> } };
    const checkoutHold = await inventory.api.reserve({ idempotencyKey: `checkout:${newId()}`, ownerId: buyer.userId, items: [{ variantId, quantity: 1 }] });
    const refused = await t.request('POST', `/v1/reservations/${checkoutHold.id}/release`, { token: buyer.token });
    expect([refused.statusCode, refused.json().code]).toEqual([409, 'INVALID_STATE_TRANSITION']);
    expect(await stock()).toEqual({ available: 2, reserved: 1 });

    // A hold that was sold is not released.
    const sold = (await t.request('POST', '/v1/reservations', { token: buyer.token, headers: { 'idempotency-key': newId() }, body: { items: [{ variantId, quantity: 1 }] } })).json() as { id: string };
    await (inventory.api as unknown as { confirm(id: string, options: object): Promise<unknown> }).confirm(sold.id, {});
    const late = await t.request('POST', `/v1/reservations/${sold.id}/release`, { token: buyer.token });
    expect([late.statusCode, late.json().code]).toEqual([409, 'RESERVATION_NOT_ACTIVE']);
  });

  it('holds only what is for sale: a draft product’s variant is 409 VARIANT_NOT_AVAILABLE, an unknown one 404, and neither holds a unit', async () => {
    const { seller, variantId: draft } = await sellerWithStock(5, 'draft');
    const buyer = await signIn('buyer');
    const reserve = (variantId: string) =>
      t.request('POST', '/v1/reservations', { token: buyer.token, headers: { 'idempotency-key': newId() }, body: { items: [{ variantId, quantity: 2 }] } });
    const refused = await reserve(draft);
    expect([refused.statusCode, refused.json().code]).toEqual([409, 'VARIANT_NOT_AVAILABLE']);
    const unknown = await reserve(newId());
    expect([unknown.statusCode, unknown.json().code]).toEqual([404, 'NOT_FOUND']);
    // Several items: all or none, so one draft among them refuses the whole request.
    const { variantId: onSale } = await sellerWithStock(5);
    const mixed = await t.request('POST', '/v1/reservations', {
      token: buyer.token,
      headers: { 'idempotency-key': newId() },
      body: { items: [{ variantId: onSale, quantity: 1 }, { variantId: draft, quantity: 1 }] },
    });
    expect([mixed.statusCode, mixed.json().code]).toEqual([409, 'VARIANT_NOT_AVAILABLE']);
    const { rows } = await t.app.pools.get('inventory')!.query<{ available_quantity: number; reserved_quantity: number }>(
      'SELECT available_quantity, reserved_quantity FROM stock_items WHERE variant_id = ANY($1::uuid[]) ORDER BY variant_id',
      [[draft, onSale]],
    );
    expect(rows).toEqual([
      { available_quantity: 5, reserved_quantity: 0 },
      { available_quantity: 5, reserved_quantity: 0 },
    ]);
    // Published, the same variant can be held.
    expect((await t.request('POST', `/v1/seller/products/${(await productOf(draft))}/publish`, { token: seller.token })).statusCode).toBe(200);
    await eventually(async () => expect((await reserve(draft)).statusCode).toBe(201));

    // Held, then unlisted: a retry of that request gets its reservation back (the first answer may
    // have been lost), another request under its key is 422, and a new key is refused.
    const key = newId();
    const held = async (quantity: number, idempotencyKey = key) =>
      t.request('POST', '/v1/reservations', { token: buyer.token, headers: { 'idempotency-key': idempotencyKey }, body: { items: [{ variantId: draft, quantity }] } });
    const first = await held(1);
    expect(first.statusCode, first.body).toBe(201);
    expect((await t.request('POST', `/v1/seller/products/${await productOf(draft)}/unlist`, { token: seller.token })).statusCode).toBe(200);
    await eventually(async () => expect((await held(1, newId())).json().code).toBe('VARIANT_NOT_AVAILABLE'));
    const retry = await held(1);
    expect([retry.statusCode, retry.headers['idempotent-replayed']], retry.body).toEqual([201, 'true']);
    expect(retry.json()).toMatchObject({ id: first.json().id, status: 'active' });
    const other = await held(2);
    expect([other.statusCode, other.json().code]).toEqual([422, 'IDEMPOTENCY_KEY_REUSED']);
  });

  it('holds nothing of a published variant whose sale has not started (no price in effect), as the cart refuses it', async () => {
    const seller = await signIn('seller');
    // Its only price window starts in an hour.
    const { productId, variantIds } = await importSimpleProduct(productsApi(), { sellerId: seller.userId, now: new Date(Date.now() + 3_600_000) });
    const variantId = variantIds[0] as string;
    await eventually(async () => {
      const res = await t.request('POST', `/v1/seller/stock/${variantId}/adjustments`, { token: seller.token, body: { amount: 50, reason: 'received' } });
      expect(res.statusCode).toBe(201);
    });
    const buyer = await signIn('buyer');
    // Twice: the first may be answered from the database, the second from the products' cache.
    for (let i = 0; i < 2; i++) {
      const res = await t.request('POST', '/v1/reservations', { token: buyer.token, headers: { 'idempotency-key': newId() }, body: { items: [{ variantId, quantity: 50 }] } });
      expect([res.statusCode, res.json().code, res.json().detail]).toEqual([409, 'VARIANT_NOT_AVAILABLE', `variant ${variantId} is not for sale now (it has no price in effect)`]);
    }
    const cart = await t.request('POST', '/v1/cart/items', { token: buyer.token, body: { variantId, quantity: 1 } });
    expect([cart.statusCode, cart.json().code]).toEqual([409, 'VARIANT_NOT_AVAILABLE']);
    const { rows } = await t.app.pools.get('inventory')!.query('SELECT available_quantity, reserved_quantity FROM stock_items WHERE variant_id = $1', [variantId]);
    expect(rows).toEqual([{ available_quantity: 50, reserved_quantity: 0 }]);

    // Priced now in another currency (its list price still to start), it is for sale and can be
    // held (found in a review of the cart's currencies: only a list-currency price counted).
    const eur = await t.request('POST', `/v1/seller/products/${productId}/prices`, { token: seller.token, body: { variantId, price: { amount: 800, currency: 'EUR' } } });
    expect(eur.statusCode, eur.body).toBe(201);
    for (let i = 0; i < 2; i++) {
      await eventually(async () => {
        const res = await t.request('POST', '/v1/reservations', { token: buyer.token, headers: { 'idempotency-key': newId() }, body: { items: [{ variantId, quantity: 1 }] } });
        expect(res.statusCode, res.body).toBe(201);
      });
    }
  });

  it('sells exactly the stock to 300 simultaneous HTTP buyers and answers the rest 409 OUT_OF_STOCK', async () => {
    const { variantId } = await sellerWithStock(30);
    const buyers = await Promise.all(Array.from({ length: 300 }, () => signIn('buyer')));
    const responses = await Promise.all(
      buyers.map((b) => t.request('POST', '/v1/reservations', { token: b.token, headers: { 'idempotency-key': newId() }, body: { items: [{ variantId, quantity: 1 }] } })),
    );
    expect(responses.filter((r) => r.statusCode === 201)).toHaveLength(30);
    const refused = responses.filter((r) => r.statusCode === 409);
    expect(refused).toHaveLength(270);
    expect(refused[0]?.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(refused[0]?.json()).toMatchObject({
      code: 'OUT_OF_STOCK',
      status: 409,
      title: 'Not enough stock',
      instance: '/v1/reservations',
      unavailable: [{ variantId, requested: 1, available: 0 }],
    });
    const [item] = (await t.app.pools.get('inventory')!.query('SELECT available_quantity, reserved_quantity, total_quantity FROM stock_items WHERE variant_id = $1', [variantId])).rows;
    expect(item).toEqual({ available_quantity: 0, reserved_quantity: 30, total_quantity: 30 });
  });

  it('describes the inventory routes in the OpenAPI document', async () => {
    const doc = (await t.request('GET', '/openapi.json')).json() as { paths: Record<string, unknown> };
    for (const path of ['/v1/seller/stock', '/v1/seller/stock/{variantId}', '/v1/seller/stock/{variantId}/adjustments', '/v1/reservations', '/v1/reservations/{reservationId}']) {
      expect(doc.paths, path).toHaveProperty([path]);
    }
  });
});
