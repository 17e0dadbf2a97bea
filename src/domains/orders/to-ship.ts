import { type Pool, type Queryable, withTransaction } from '../../platform/db/pool.ts';
import { AppError } from '../../platform/http/errors.ts';
import { isUuid, newId } from '../../platform/ids.ts';
import { type OrderRow, lockOrders, orderById } from './sql.ts';
import { type FulfilmentStatus, type OrderStatus, decide } from './status-machine.ts';
import { orderState } from './transitions.ts';

/** An order as the shipping domain needs it to create a shipment (read through the orders api, never its database). */
export interface OrderToShip {
  orderId: string;
  orderNumber: string;
  buyerId: string;
  sellerId: string;
  status: OrderStatus;
  fulfilmentStatus: FulfilmentStatus | null;
  shippingAddress: Record<string, unknown>;
  /** When the order was placed: nothing of it can have shipped before. */
  placedAt: string;
  /**
   * Whether a parcel may be sent now: the status machine would move the order to shipped (paid,
   * fulfilling, or partially refunded at one of those), or it was shipped already and this is one
   * more parcel. Never for a pending, cancelled, fully refunded or delivered order.
   */
  mayShip: boolean;
  /** Why not, when mayShip is false. */
  whyNot: string | null;
}

/** Whether a parcel of the order may be sent now, and why not (see OrderToShip). */
function mayShipNow(order: OrderRow): { mayShip: boolean; whyNot: string | null } {
  const decision = decide(orderState(order), { type: 'mark_shipped' }, 'seller');
  const anotherParcel = decision.outcome === 'unchanged' && order.fulfilment_status === 'shipped';
  const mayShip = decision.outcome === 'transition' || anotherParcel;
  return { mayShip, whyNot: mayShip ? null : decision.outcome === 'refused' ? decision.why : `the order is already ${order.fulfilment_status ?? order.status}` };
}

const isOwnOrder = (order: OrderRow | undefined, sellerId: string): order is OrderRow => order !== undefined && order.seller_id === sellerId.toLowerCase();

export async function orderToShip(db: Queryable, orderId: string, sellerId: string): Promise<OrderToShip | null> {
  if (!isUuid(orderId)) return null;
  const order = await orderById(db, orderId);
  if (!isOwnOrder(order, sellerId)) return null;
  const { mayShip, whyNot } = mayShipNow(order);
  return {
    orderId: order.id,
    orderNumber: order.order_number,
    buyerId: order.buyer_id,
    sellerId: order.seller_id,
    status: order.status,
    fulfilmentStatus: order.fulfilment_status,
    shippingAddress: order.shipping_address_json,
    placedAt: order.created_at.toISOString(),
    mayShip,
    whyNot,
  };
}

/**
 * Holds the seller's order against cancelling until `until`, while shipping records a parcel of
 * it in its own database (the order is marked shipped once that is done, which ends every hold of
 * it). NOT_FOUND unless the order is the seller's; INVALID_STATE_TRANSITION when no parcel may be
 * sent now (it was cancelled, say). Each request has a hold of its own (two parcels at once, two
 * holds), released by it alone. Answers the hold's id.
 */
export async function holdForShipment(pool: Pool, orderId: string, sellerId: string, until: Date): Promise<string> {
  if (!isUuid(orderId)) throw new AppError('NOT_FOUND', 'order not found');
  const holdId = newId();
  await withTransaction(pool, async (tx) => {
    const [order] = await lockOrders(tx, [orderId]);
    if (!isOwnOrder(order, sellerId)) throw new AppError('NOT_FOUND', 'order not found');
    const { mayShip, whyNot } = mayShipNow(order);
    if (!mayShip) throw new AppError('INVALID_STATE_TRANSITION', `the order cannot ship: ${whyNot ?? 'not now'}`, { orderStatus: order.status });
    await tx.query('INSERT INTO order_shipment_holds (hold_id, order_id, held_until) VALUES ($1, $2, $3)', [holdId, order.id, until]);
  });
  return holdId;
}

/** Ends one hold whose parcel was not recorded after all (another request's hold of the order stays). */
export async function releaseShipmentHold(db: Queryable, orderId: string, sellerId: string, holdId: string): Promise<void> {
  if (!isUuid(orderId) || !isUuid(holdId)) return;
  await db.query(
    `DELETE FROM order_shipment_holds h WHERE h.hold_id = $1 AND h.order_id = $2
        AND EXISTS (SELECT 1 FROM orders o WHERE o.id = h.order_id AND o.seller_id = $3)`,
    [holdId, orderId, sellerId.toLowerCase()],
  );
}
