import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProductsApi } from '../../src/domains/products/index.ts';
import type { Pool } from '../../src/platform/db/pool.ts';
import { newId } from '../../src/platform/ids.ts';
import { importSimpleProduct } from '../../src/seed/index.ts';
import { type TestApp, startTestApp } from '../support/app.ts';

/**
 * A variant's stock item is made by the products event that announces it; a seller stocking a
 * product right after creating it must not meet a 404 while that event is on its way. Event
 * delivery is off here: the event never arrives, as in the first milliseconds after a create.
 */
let t: TestApp;
const products = () => (t.app.modules.find((m) => m.name === 'products') as unknown as { api: ProductsApi }).api;
const inventory = () => t.app.pools.get('inventory') as Pool;

beforeAll(async () => {
  t = await startTestApp({}, { runMessaging: false });
});
afterAll(async () => {
  await t?.close();
});

async function seller(): Promise<{ userId: string; token: string }> {
  const userId = newId();
  return { userId, token: (await t.app.tokens.sign({ userId, roles: ['seller'] })).token };
}

describe('stocking a variant whose products event has not arrived yet', () => {
  it('makes its stock item from the catalog and adjusts it, once; another seller still gets 404', async () => {
    const owner = await seller();
    const { variantIds, skus } = await importSimpleProduct(products(), { sellerId: owner.userId, status: 'draft' });
    const variantId = variantIds[0] as string;
    expect((await inventory().query('SELECT 1 FROM stock_items WHERE variant_id = $1', [variantId])).rows).toHaveLength(0);

    const stranger = await seller();
    const refused = await t.request('POST', `/v1/seller/stock/${variantId}/adjustments`, { token: stranger.token, body: { amount: 5, reason: 'received' } });
    expect([refused.statusCode, refused.json().code]).toEqual([404, 'NOT_FOUND']);
    expect((await t.request('POST', `/v1/seller/stock/${newId()}/adjustments`, { token: owner.token, body: { amount: 5, reason: 'received' } })).statusCode).toBe(404);
    expect((await inventory().query('SELECT 1 FROM stock_items WHERE variant_id = $1', [variantId])).rows).toHaveLength(0);

    const stocked = await t.request('POST', `/v1/seller/stock/${variantId}/adjustments`, { token: owner.token, body: { amount: 5, reason: 'received' } });
    expect(stocked.statusCode, stocked.body).toBe(201);
    expect(stocked.json().stock).toMatchObject({ total: 5, available: 5, reserved: 0 });
    const { rows } = await inventory().query('SELECT sku, seller_id FROM stock_items WHERE variant_id = $1', [variantId]);
    expect(rows).toEqual([{ sku: skus[0], seller_id: owner.userId }]);
    const { rows: created } = await inventory().query(
      "SELECT count(*)::int AS n FROM inventory_outbox_events WHERE event_type = 'inventory.stock_item_created.v1' AND payload->>'variantId' = $1",
      [variantId],
    );
    expect(created[0].n).toBe(1);
    // The products event, arriving later, makes nothing twice.
    expect((await t.request('POST', `/v1/seller/stock/${variantId}/adjustments`, { token: owner.token, body: { amount: 2, reason: 'received' } })).json().stock.total).toBe(7);
  });
});
