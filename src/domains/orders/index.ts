import type { Trace } from '../../platform/messaging/envelope.ts';
import type { DomainContext, DomainModule } from '../../platform/module.ts';
import type { WorkerLoop } from '../../platform/messaging/worker-loop.ts';
import { type CheckoutCancellation, cancelOrdersForCheckout } from './cancel-orders.ts';
import { createCompletionSweep } from './complete-delivered.ts';
import { type OrderFacts, orderFacts } from './facts.ts';
import { paymentSubscription } from './handlers.ts';
import { shippingSubscription } from './shipment-handlers.ts';
import { type OrderNumberGenerator, orderNumberGenerator } from './order-number.ts';
import { type CheckoutOrdersInput, type PlacedOrder, createOrdersForCheckout } from './place-orders.ts';
import { settleFreeOrders } from './settle-free-orders.ts';
import { orderRecord } from './read-orders.ts';
import { changeStatus } from './transitions.ts';
import { type OrderToShip, holdForShipment, orderToShip, releaseShipmentHold } from './to-ship.ts';
import { registerOrderRoutes } from './routes.ts';

export type { CheckoutCancellation } from './cancel-orders.ts';
export type { OrderFacts, ProductSnapshot } from './facts.ts';
export type { CheckoutOrdersInput, PlacedOrder } from './place-orders.ts';
export type { OrderStatus } from './status-machine.ts';
export type { OrderToShip } from './to-ship.ts';

/** What other domains may ask of orders (wired in src/domains.ts); everything else moves by events. */
export interface OrdersApi {
  /** One order per seller in pending_payment; idempotent per (checkout session, seller). Emits orders.order_placed.v1. */
  createOrdersForCheckout(input: CheckoutOrdersInput): Promise<PlacedOrder[]>;
  /**
   * Checkout's compensation: cancels the session's orders that can still be (orders.order_cancelled.v1 each); idempotent.
   * The events carry `trace` (the caller's request or handled event); without one they start their own.
   */
  cancelOrdersForCheckout(checkoutSessionId: string, reason: string, trace?: Trace | null): Promise<CheckoutCancellation[]>;
  /**
   * Checkout's payment step is done: the session's orders with a total of 0 move to paid with no
   * payment (orders.order_paid.v1, paymentId null); idempotent. Returns their ids.
   */
  settleFreeOrders(checkoutSessionId: string, trace?: Trace | null): Promise<string[]>;
  /** The order if it is this seller's, else null (e.g. for payments to check a seller's refund). */
  getOrderForSeller(orderId: string, sellerId: string): Promise<OrderFacts | null>;
  /** The order if it is this buyer's, else null. */
  getOrderForBuyer(orderId: string, buyerId: string): Promise<OrderFacts | null>;
  /**
   * What shipping needs to ship the order: its parties, delivery address and whether the status
   * machine lets it ship now. Null unless the order exists and is this seller's.
   */
  getOrderToShip(orderId: string, sellerId: string): Promise<OrderToShip | null>;
  /**
   * Before shipping records a parcel of the order: holds it against cancelling until `until`, so
   * that no cancellation passes a parcel being recorded. NOT_FOUND unless the order is this
   * seller's; INVALID_STATE_TRANSITION when it may not ship (cancelled, say). The hold ends when
   * the order is marked shipped, when it is released, or at `until` by itself (the process that
   * took it died before recording the parcel).
   */
  holdForShipment(orderId: string, sellerId: string, until: Date): Promise<string>;
  /** Ends the hold (by the id holdForShipment gave) whose parcel was not recorded after all. */
  releaseShipmentHold(orderId: string, sellerId: string, holdId: string): Promise<void>;
  /**
   * The seller has handed a parcel of the order to a carrier and shipping recorded it: the order
   * moves to shipped now (paid, fulfilling, or partly refunded at one of those) and its hold ends;
   * another parcel of a shipped order changes nothing. shipping.shipment_created.v1 does the same
   * when this call did not happen. NOT_FOUND unless the order is this seller's.
   */
  markShippedBySeller(orderId: string, sellerId: string, trace?: Trace | null): Promise<void>;
}

export interface OrdersDeps {
  /** Order numbers (tests inject one to force a collision). */
  orderNumbers?: OrderNumberGenerator;
  /** How often the completion sweep looks for delivered orders past their return window (ms). */
  completionSweepMs?: number;
}

/** The completion sweep's pace: an order completes within this long after its return window closes. */
export const COMPLETION_SWEEP_MS = 60_000;

const REASON_LENGTH_MAX = 1000;

export function createOrdersModule(ctx: DomainContext, deps: OrdersDeps = {}): DomainModule & { api: OrdersApi } {
  const { pool, clock } = ctx;
  const orderNumbers = deps.orderNumbers ?? orderNumberGenerator();

  async function orderOf(orderId: string, party: 'buyer_id' | 'seller_id', userId: string): Promise<OrderFacts | null> {
    const record = await orderRecord(pool, orderId);
    if (!record || record.order[party] !== userId.toLowerCase()) return null;
    return orderFacts(record.order, record.items);
  }

  const api: OrdersApi = {
    createOrdersForCheckout: (input) => createOrdersForCheckout(pool, clock, orderNumbers, input),
    cancelOrdersForCheckout: (checkoutSessionId, reason, trace) =>
      cancelOrdersForCheckout(pool, clock.now(), trace ?? null, checkoutSessionId, reason.slice(0, REASON_LENGTH_MAX) || 'checkout failed'),
    settleFreeOrders: (checkoutSessionId, trace) => settleFreeOrders(pool, clock.now(), trace ?? null, checkoutSessionId),
    getOrderForSeller: (orderId, sellerId) => orderOf(orderId, 'seller_id', sellerId),
    getOrderForBuyer: (orderId, buyerId) => orderOf(orderId, 'buyer_id', buyerId),
    getOrderToShip: (orderId, sellerId) => orderToShip(pool, orderId, sellerId),
    holdForShipment: (orderId, sellerId, until) => holdForShipment(pool, orderId, sellerId, until),
    releaseShipmentHold: (orderId, sellerId, holdId) => releaseShipmentHold(pool, orderId, sellerId, holdId),
    async markShippedBySeller(orderId, sellerId, trace) {
      const context = { actor: { type: 'seller', id: sellerId } as const, reason: 'the seller shipped it', now: clock.now(), trace: trace ?? null };
      await changeStatus(pool, orderId, { type: 'mark_shipped' }, context, { sellerId });
    },
  };

  let completion: WorkerLoop | undefined;
  return {
    name: 'orders',
    subscriptions: [paymentSubscription(), shippingSubscription(ctx.log)],
    routes: (app) => registerOrderRoutes(app, { pool, clock }),
    api,
    async start() {
      completion ??= createCompletionSweep(pool, clock, ctx.log, ctx.config.orderCompleteAfterDays, deps.completionSweepMs ?? COMPLETION_SWEEP_MS);
      completion.start();
    },
    async stop() {
      await completion?.stop();
    },
  };
}
