import type { Queryable } from '../../platform/db/pool.ts';
import { isUuid } from '../../platform/ids.ts';
import { orderById } from './sql.ts';
import { type FulfilmentStatus, type OrderStatus, decide } from './status-machine.ts';

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

export async function orderToShip(db: Queryable, orderId: string, sellerId: string): Promise<OrderToShip | null> {
  if (!isUuid(orderId)) return null;
  const order = await orderById(db, orderId);
  if (!order || order.seller_id !== sellerId.toLowerCase()) return null;
  const state = { status: order.status, fulfilmentStatus: order.fulfilment_status, totalAmount: order.total_amount, refundedAmount: order.refunded_amount };
  const decision = decide(state, { type: 'mark_shipped' }, 'seller');
  const anotherParcel = decision.outcome === 'unchanged' && order.fulfilment_status === 'shipped';
  const mayShip = decision.outcome === 'transition' || anotherParcel;
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
    whyNot: mayShip ? null : decision.outcome === 'refused' ? decision.why : `the order is already ${order.fulfilment_status ?? order.status}`,
  };
}
