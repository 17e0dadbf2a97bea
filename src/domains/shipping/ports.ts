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
  /** Holds the order against cancelling until `until`, before the shipment is recorded; 409 when it may not ship. Answers the hold's id. */
  holdForShipment(orderId: string, sellerId: string, until: Date): Promise<string>;
  /** Ends that hold when the shipment was not recorded after all. */
  releaseShipmentHold(orderId: string, sellerId: string, holdId: string): Promise<void>;
  /** The order moves to shipped now, once the shipment is recorded (shipment_created does it too). */
  markShippedBySeller(orderId: string, sellerId: string, trace?: Trace | null): Promise<void>;
  /** Null unless the order exists and is this buyer's. */
  getOrderForBuyer(orderId: string, buyerId: string): Promise<{ orderId: string } | null>;
}
