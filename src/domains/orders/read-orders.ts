import type { Queryable } from '../../platform/db/pool.ts';
import { decodeCursor, encodeCursor, isCursorInstant } from '../../platform/http/cursor.ts';
import { AppError } from '../../platform/http/errors.ts';
import { isUuid } from '../../platform/ids.ts';
import {
  type OrderRow,
  type PageKey,
  historyOf,
  itemsOf,
  orderById,
  ordersOfBuyer,
  ordersOfSeller,
  paymentsOf,
  refundsOf,
  shipmentsOf,
} from './sql.ts';
import type { OrderStatus } from './status-machine.ts';
import { type OrderRecord, summaryView } from './views.ts';

/** One order with everything recorded about it, or undefined. */
export async function orderRecord(db: Queryable, orderId: string): Promise<OrderRecord | undefined> {
  if (!isUuid(orderId)) return undefined;
  const order = await orderById(db, orderId);
  if (!order) return undefined;
  const [items, history, payments, shipments, refunds] = await Promise.all([
    itemsOf(db, [order.id]),
    historyOf(db, order.id),
    paymentsOf(db, order.id),
    shipmentsOf(db, order.id),
    refundsOf(db, order.id),
  ]);
  return { order, items, history, payments, shipments, refunds };
}

function pageKeyOf(scope: string, cursor: string | undefined): PageKey | undefined {
  const key = decodeCursor<{ t: string; i: string }>(scope, cursor, ['t', 'i']);
  if (!key) return undefined;
  if (!isCursorInstant(key.t) || !isUuid(key.i)) throw new AppError('INVALID_CURSOR');
  return { createdAt: key.t, id: key.i };
}

async function page(db: Queryable, rows: OrderRow[], limit: number, scope: string) {
  const shown = rows.slice(0, limit);
  const items = await itemsOf(db, shown.map((o) => o.id));
  const last = shown[shown.length - 1];
  return {
    items: shown.map((o) => summaryView(o, items)),
    nextCursor: rows.length > limit && last ? encodeCursor(scope, { t: last.created_at.toISOString(), i: last.id }) : null,
  };
}

/** A buyer's own orders, newest first; one row more than asked tells whether there is a next page. */
export async function buyerOrdersPage(db: Queryable, buyerId: string, cursor: string | undefined, limit: number) {
  const scope = `orders:buyer:${buyerId}`;
  return page(db, await ordersOfBuyer(db, buyerId, pageKeyOf(scope, cursor), limit + 1), limit, scope);
}

export async function sellerOrdersPage(db: Queryable, sellerId: string, status: OrderStatus | undefined, cursor: string | undefined, limit: number) {
  const scope = `orders:seller:${sellerId}:${status ?? ''}`;
  return page(db, await ordersOfSeller(db, sellerId, status, pageKeyOf(scope, cursor), limit + 1), limit, scope);
}
