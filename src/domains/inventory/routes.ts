import { withTransaction } from '../../platform/db/pool.ts';
import { refuseCardData } from '../../platform/card-data.ts';
import { principalOf } from '../../platform/http/access.ts';
import { AppError, notFound, problemOf } from '../../platform/http/errors.ts';
import { ProblemResponse, authProblems } from '../../platform/http/schemas.ts';
import type { HttpApp } from '../../platform/http/server.ts';
import { isUuid } from '../../platform/ids.ts';
import type { Trace } from '../../platform/messaging/envelope.ts';
import { appendEvents } from '../../platform/messaging/outbox.ts';
import { adjustStock } from './adjust-stock.ts';
import type { InventoryDeps } from './deps.ts';
import type { InventoryCatalog } from './ports.ts';
import { createStockItems } from './receive-stock.ts';
import type { Reservation, ReserveResult } from './reservation-view.ts';
import { findReservation, toReservation } from './reservation-view.ts';
import { type ReserveInput, buyerKey } from './reserve-input.ts';
import { earlierReservation } from './reserve.ts';
import {
  AdjustmentBody,
  AdjustmentHeaders,
  AdjustmentResponse,
  PurchaseLimitBody,
  ReservationParams,
  ReservationSchema,
  ReserveBody,
  ReserveHeaders,
  StockItemSchema,
  StockListQuery,
  StockMovementPage,
  StockPage,
  VariantParams,
} from './schemas.ts';
import { releaseReservation } from './close-reservation.ts';
import { isOutOfStock } from './stock-item.ts';
import { listSellerStock, listStockMovements } from './stock-queries.ts';
import { setPurchaseLimit } from './purchase-limit.ts';

const tags = ['inventory'];

function buyerView(r: Reservation) {
  return {
    id: r.id,
    status: r.status,
    referenceId: r.referenceId,
    expiresAt: r.expiresAt,
    createdAt: r.createdAt,
    closedAt: r.closedAt,
    releaseReason: r.releaseReason,
    items: r.items,
  };
}

/**
 * A buyer holds stock only of what is for sale, as the cart asks: a variant the catalog does not
 * know is 404, one of a product not published (a draft, unlisted) or without a price in effect in any
 * currency (its sale has not started, or its prices ended) is 409 VARIANT_NOT_AVAILABLE. Asked of the products
 * domain's public API (its purchase cache), before anything is reserved.
 */
function checkForSale(catalog: InventoryCatalog, items: readonly { variantId: string }[], now: Date): Promise<void> | undefined {
  const ids = [...new Set(items.map((i) => i.variantId.toLowerCase()))];
  const check = (states: ReadonlyMap<string, 'for_sale' | 'not_published' | 'no_price'>) => {
    for (const variantId of ids) {
      const state = states.get(variantId);
      if (state === undefined) throw new AppError('NOT_FOUND', `variant ${variantId} not found`);
      if (state === 'not_published') throw new AppError('VARIANT_NOT_AVAILABLE', `variant ${variantId} is not for sale (its product is not published)`, { variantId });
      if (state === 'no_price') throw new AppError('VARIANT_NOT_AVAILABLE', `variant ${variantId} is not for sale now (it has no price in effect)`, { variantId });
    }
  };
  // A flash sale's buyers all ask for one cached variant: answered without a wait, the request joins
  // the variant's batch in the same turn as before the check.
  const cached = catalog.saleStateNow(ids);
  if (cached) {
    check(cached);
    return undefined;
  }
  return catalog
    .getVariantsForPurchase(ids, now)
    .then((variants) => check(new Map([...variants].map(([id, v]) => [id, !v.published ? 'not_published' : v.pricedNow ? 'for_sale' : 'no_price'] as const))));
}

/**
 * Makes the stock item of a variant the catalog knows as this seller's (idempotent: the products
 * event that makes it too changes nothing after). False when the catalog does not know it as theirs.
 */
async function stockItemFromCatalog(deps: InventoryDeps, catalog: InventoryCatalog, sellerId: string, variantId: string, trace: Trace | null): Promise<boolean> {
  if (!isUuid(variantId)) return false;
  const id = variantId.toLowerCase();
  const now = deps.clock.now();
  const variant = (await catalog.getVariantsForPurchase([id], now)).get(id);
  if (!variant || variant.sellerId !== sellerId.toLowerCase()) return false;
  await withTransaction(deps.pool, async (tx) => {
    const events = await createStockItems(tx, [{ variantId: id, productId: variant.productId, sellerId: variant.sellerId, sku: variant.sku }], now);
    await appendEvents(tx, 'inventory', events, trace, now);
  });
  return true;
}

/**
 * Runs a seller's change of an own variant's stock item. A variant created a moment ago has its
 * stock item only once the products event arrives: on NOT_FOUND, the seller's own variant gets its
 * item from the catalog now, and the change runs again.
 */
async function onOwnStockItem<T>(deps: InventoryDeps, catalog: InventoryCatalog, sellerId: string, variantId: string, trace: Trace | null, change: () => Promise<T>): Promise<T> {
  try {
    return await change();
  } catch (error) {
    if (!(error instanceof AppError && error.code === 'NOT_FOUND') || !(await stockItemFromCatalog(deps, catalog, sellerId, variantId, trace))) throw error;
    return change();
  }
}

export function registerInventoryRoutes(app: HttpApp, deps: InventoryDeps, reserve: (input: ReserveInput) => Promise<ReserveResult>, catalog: InventoryCatalog): void {
  app.get(
    '/v1/seller/stock',
    {
      config: { access: ['seller'] },
      schema: {
        tags,
        summary: 'Own stock items with total, available and reserved',
        description: 'Ordered by SKU; cursor paged.',
        querystring: StockListQuery,
        response: { 200: StockPage, ...authProblems },
      },
    },
    async (request) => listSellerStock(deps.pool, principalOf(request).userId, request.query.limit, request.query.cursor),
  );

  app.get(
    '/v1/seller/stock/:variantId/movements',
    {
      config: { access: ['seller'] },
      schema: {
        tags,
        summary: 'The stock movements of an own variant, newest first',
        description:
          'Every change of the total: the seller\'s adjustments, sales (confirmed reservations) and restocks (orders cancelled after their sale); they add up to the total. Cursor paged; another seller\'s variant, or one without stock yet, is 404.',
        params: VariantParams,
        querystring: StockListQuery,
        response: { 200: StockMovementPage, ...authProblems, 404: ProblemResponse },
      },
    },
    async (request) => listStockMovements(deps.pool, principalOf(request).userId, request.params.variantId, request.query.limit, request.query.cursor),
  );

  app.post(
    '/v1/seller/stock/:variantId/adjustments',
    {
      config: { access: ['seller'] },
      schema: {
        tags,
        summary: 'Change the stock of an own variant by a signed amount with a reason',
        description:
          'Total and available change together and a stock movement is recorded. Removing more units than are available (reserved units belong to buyers) is 409 OUT_OF_STOCK; adding past 2,147,483,647 units is 409 CONFLICT; another seller\'s variant is 404. With an Idempotency-Key header (the seller\'s own keys), the same key and body replay the first answer (201 with Idempotent-Replayed: true) and change nothing; the same key with another body is 422 IDEMPOTENCY_KEY_REUSED.',
        headers: AdjustmentHeaders,
        params: VariantParams,
        body: AdjustmentBody,
        response: { 201: AdjustmentResponse, ...authProblems, 404: ProblemResponse, 409: ProblemResponse, 422: ProblemResponse },
      },
    },
    async (request, reply) => {
      const sellerId = principalOf(request).userId;
      // The note is kept for good (movements are append-only) and shown back: never card data.
      refuseCardData(request.body);
      const result = await onOwnStockItem(deps, catalog, sellerId, request.params.variantId, request.trace, () =>
        adjustStock(deps, sellerId, request.params.variantId, request.body, { idempotencyKey: request.headers['idempotency-key'], trace: request.trace }),
      );
      if (result.replayed) reply.header('idempotent-replayed', 'true');
      return reply.status(201).send({ movement: result.movement, stock: result.stock });
    },
  );

  app.patch(
    '/v1/seller/stock/:variantId',
    {
      config: { access: ['seller'] },
      schema: {
        tags,
        summary: 'Limit how many units of an own variant one buyer may have',
        description:
          'maxPerBuyer (1 to 1,000,000) caps the units one buyer may hold (active reservations, those of checkouts included) and have bought of the variant, counted over reservations made from now: setting a limit starts a fresh count, setting the value it already has changes nothing, null removes it. Past it, a reservation or checkout is refused with 409 PURCHASE_LIMIT_EXCEEDED and takes nothing; holds and sales made before are kept. Another seller\'s variant is 404. Announced as inventory.purchase_limit_changed.v1.',
        params: VariantParams,
        body: PurchaseLimitBody,
        response: { 200: StockItemSchema, ...authProblems, 404: ProblemResponse },
      },
    },
    async (request) => {
      const sellerId = principalOf(request).userId;
      return onOwnStockItem(deps, catalog, sellerId, request.params.variantId, request.trace, () =>
        setPurchaseLimit(deps, sellerId, request.params.variantId, request.body, request.trace),
      );
    },
  );

  app.post(
    '/v1/reservations',
    {
      config: { access: ['buyer'] },
      schema: {
        tags,
        summary: 'Reserve stock (all items or none) for a limited time',
        description:
          'Requires an Idempotency-Key header: the same key and body return the same reservation (201 with Idempotent-Replayed: true); the same key with another body is 422. Only variants for sale can be held: an unknown variant is 404, one of a product not published, or without a price in effect now, is 409 VARIANT_NOT_AVAILABLE (a retry of a request granted before then still gets its reservation back). Not enough stock is 409 OUT_OF_STOCK and stores nothing, so a retry with the same key tries again. The hold lasts RESERVATION_TTL_SECONDS.',
        headers: ReserveHeaders,
        body: ReserveBody,
        response: { 201: ReservationSchema, ...authProblems, 404: ProblemResponse, 409: ProblemResponse, 422: ProblemResponse, 429: ProblemResponse },
      },
    },
    async (request, reply) => {
      // Required by the header schema: a request without it is answered 400 IDEMPOTENCY_KEY_REQUIRED.
      const key = request.headers['idempotency-key'];
      const buyerId = principalOf(request).userId;
      const input = { idempotencyKey: buyerKey(buyerId, key), ownerId: buyerId, referenceId: request.body.referenceId ?? null, items: request.body.items, trace: request.trace };
      let result: ReserveResult;
      try {
        const checking = checkForSale(catalog, request.body.items, deps.clock.now());
        if (checking) await checking;
      } catch (error) {
        // A retry of a reservation made before the variant stopped being for sale (unlisted, its
        // price ended, the variant removed) gets that reservation back, as the first request did.
        const refusedForSale = error instanceof AppError && (error.code === 'VARIANT_NOT_AVAILABLE' || error.code === 'NOT_FOUND');
        const earlier = refusedForSale ? await earlierReservation(deps, input) : undefined;
        if (!earlier) throw error;
        reply.header('idempotent-replayed', 'true');
        return reply.status(201).send(buyerView(earlier));
      }
      try {
        result = await reserve(input);
      } catch (error) {
        // The answer most buyers of a flash sale get: sent here rather than through the error
        // handler (same problem document, a good part cheaper per request).
        if (!isOutOfStock(error)) throw error;
        return reply
          .status(409)
          .type('application/problem+json')
          .send(problemOf(error.code, error.detail, error.extensions, request.url.split('?')[0]));
      }
      if (result.replayed) reply.header('idempotent-replayed', 'true');
      return reply.status(201).send(buyerView(result));
    },
  );

  app.get(
    '/v1/reservations/:reservationId',
    {
      config: { access: ['buyer'] },
      schema: {
        tags,
        summary: 'One own reservation',
        params: ReservationParams,
        response: { 200: ReservationSchema, ...authProblems, 404: ProblemResponse },
      },
    },
    async (request) => {
      const row = await findReservation(deps.pool, request.params.reservationId);
      if (!row || row.owner_id !== principalOf(request).userId) throw notFound('reservation');
      return buyerView(toReservation(row));
    },
  );

  app.post(
    '/v1/reservations/:reservationId/release',
    {
      config: { access: ['buyer'] },
      schema: {
        tags,
        summary: 'Let an own hold go before it expires',
        description:
          'The units come back on sale at once (inventory.reservation_released.v1). Releasing again, or a hold that expired, changes nothing and answers it as it is. A hold that was confirmed (sold) is 409 RESERVATION_NOT_ACTIVE; one a checkout made is 409 INVALID_STATE_TRANSITION (it ends with its checkout); another buyer\'s is 404.',
        params: ReservationParams,
        response: { 200: ReservationSchema, ...authProblems, 404: ProblemResponse, 409: ProblemResponse },
      },
    },
    async (request) => {
      const buyerId = principalOf(request).userId;
      const row = await findReservation(deps.pool, request.params.reservationId);
      if (!row || row.owner_id !== buyerId) throw notFound('reservation');
      // Only the buyer's own holds (made under their keys): a checkout's ends with its checkout.
      if (!row.idempotency_key.startsWith(buyerKey(buyerId, ''))) {
        throw new AppError('INVALID_STATE_TRANSITION', 'this hold belongs to a checkout: it is released or sold with it');
      }
      return buyerView(await releaseReservation(deps, row.id, 'released by the buyer', request.trace));
    },
  );
}
