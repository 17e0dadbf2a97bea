import type { Trace } from '../../platform/messaging/envelope.ts';

/**
 * What shipping asks the orders domain, as a small interface: the orders api satisfies it
 * structurally and is wired in src/domains.ts. Shipping never reads orders_db.
 */
export interface OrderToShip {
  orderId: string;
  buyerId: string;
  sellerId: string;
  shippingAddress: Record<string, unknown>;
  /** When the order was placed (ISO 8601). */
  placedAt: string;
  /** Whether the order may ship now (paid or fulfilling, or already shipped: another parcel). */
  mayShip: boolean;
  whyNot: string | null;
}

export interface OrdersReader {
  /** Null unless the order exists and is this seller's. */
  getOrderToShip(orderId: string, sellerId: string): Promise<OrderToShip | null>;
  /** The order moves to shipped now, before the shipment commits (no cancellation passes it); 409 when it may not ship. */
  markShippedBySeller(orderId: string, sellerId: string, trace?: Trace | null): Promise<void>;
  /** Null unless the order exists and is this buyer's. */
  getOrderForBuyer(orderId: string, buyerId: string): Promise<{ orderId: string } | null>;
}
