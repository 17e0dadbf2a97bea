import type { Trace } from '../../platform/messaging/envelope.ts';

/**
 * What checkout needs from the other domains, as small interfaces of its own. src/domains.ts wires
 * them to the real public APIs (products, inventory, cart, coupons, orders, payments); the unit
 * tests wire fakes. Every call below is idempotent on the callee's side (or keyed by the checkout
 * session), which is what lets a retried or recovered step run again safely. Each call that makes
 * the callee write events takes the session's `trace` (null: they start a trace of their own).
 */

export interface Money {
  amount: number;
  currency: string;
}

/** A variant as products sells it at an instant: its snapshot and the unit price in effect. */
export interface PurchasableVariant {
  variantId: string;
  productId: string;
  sellerId: string;
  sku: string;
  title: string;
  attributes: Record<string, string>;
  /** Category of the product, for coupon rules (products does not give it yet: null then). */
  categoryId?: string | null;
  /** The category's ancestors and itself, from the root (a coupon for a category covers those under it). */
  categoryPath?: string[];
  /** Only a published product's variants may be bought. */
  published: boolean;
  /** The variant's list price: its currency is the one a cart holding it first is priced in. */
  listPrice: Money;
  /** Unit price in effect (base minus the window's discount) in the currency asked, by default the list currency; null when no price applies. */
  price: Money | null;
}

export interface ProductsPort {
  /** Keyed by variant id; unknown variants are absent. `fresh`: from the source, not a cache; `currency`: prices in it. */
  getVariantsForPurchase(variantIds: readonly string[], at: Date, options?: { fresh?: boolean; currency?: string }): Promise<ReadonlyMap<string, PurchasableVariant>>;
}

export interface ReservationLine {
  variantId: string;
  quantity: number;
}

export interface InventoryPort {
  /** All lines or none (OUT_OF_STOCK); the same idempotency key answers the same reservation. */
  reserve(input: {
    idempotencyKey: string;
    ownerId: string;
    referenceId: string;
    items: readonly ReservationLine[];
    ttlSeconds: number;
    trace?: Trace | null;
  }): Promise<{ id: string; expiresAt: string }>;
  /** Idempotent; RESERVATION_NOT_ACTIVE when it was released or expired. */
  confirm(reservationId: string, options: { orders: readonly { sellerId: string; orderId: string }[]; trace?: Trace | null }): Promise<unknown>;
  /** Releasing again (or after expiry) changes nothing; RESERVATION_NOT_ACTIVE once confirmed. */
  release(reservationId: string, reason: string, trace?: Trace | null): Promise<unknown>;
  /** The reservation made under the key for this owner, if any; reads only. */
  getReservationByKey(idempotencyKey: string, ownerId: string): Promise<{ id: string } | undefined>;
}

export interface ActiveCart {
  cartId: string;
  items: { itemId: string; productId: string; variantId: string; quantity: number }[];
  couponCodes: string[];
}

export interface CartPort {
  getActiveCart(buyerId: string): Promise<ActiveCart | null>;
  /** Idempotent for the same session; CONFLICT for another. */
  /** `bought`: units per variant and cart line; what the cart holds beyond them stays with the buyer (in a new cart). */
  markCheckedOut(
    cartId: string,
    checkoutSessionId: string,
    options?: { trace?: Trace | null; bought?: readonly { variantId: string; quantity: number; itemId: string }[]; redeemedCodes?: readonly string[] },
  ): Promise<unknown>;
}

export interface CouponLine {
  lineId: string;
  productId: string;
  variantId: string;
  sellerId: string;
  categoryId: string | null;
  categoryPath?: string[];
  unitPrice: number;
  quantity: number;
}

export interface CouponsPort {
  /**
   * Atomic and idempotent per (coupon, checkout session); refuses with an AppError (exhausted,
   * already used, not applicable). Answers every line with the discount of all codes together.
   */
  redeem(input: {
    checkoutSessionId: string;
    buyerId: string;
    currency: string;
    codes: readonly string[];
    lines: readonly CouponLine[];
    trace?: Trace | null;
  }): Promise<{ lines: { lineId: string; discountAmount: number }[] }>;
  /** Idempotent. */
  releaseForCheckout(checkoutSessionId: string, reason: string, trace?: Trace | null): Promise<unknown>;
}

export interface OrderToCreate {
  sellerId: string;
  discountAmount: number;
  shippingAmount: number;
  items: {
    productId: string;
    variantId: string;
    sku: string;
    productSnapshot: { title: string; variantAttributes: Record<string, string> };
    unitPrice: number;
    discountAmount: number;
    quantity: number;
  }[];
}

export interface CreatedOrder {
  orderId: string;
  orderNumber: string;
  sellerId: string;
  totalAmount: number;
  currency: string;
}

export interface OrdersPort {
  /** Idempotent per (checkout session, seller). */
  createOrdersForCheckout(input: {
    checkoutSessionId: string;
    buyerId: string;
    currency: string;
    shippingAddress: Record<string, unknown>;
    orders: OrderToCreate[];
    trace?: Trace | null;
  }): Promise<CreatedOrder[]>;
  /**
   * Idempotent; leaves alone what can no longer be cancelled (shipped), or not now (held while its
   * parcel is recorded), reported as not cancelled with the order's status.
   */
  cancelOrdersForCheckout(checkoutSessionId: string, reason: string, trace?: Trace | null): Promise<readonly { orderId: string; status: string; cancelled: boolean }[]>;
  /** The payment step is done: the session's orders with a total of 0 are paid, with no payment. Idempotent. */
  settleFreeOrders(checkoutSessionId: string, trace?: Trace | null): Promise<unknown>;
}

export interface PaymentOutcome {
  intentId: string;
  /** authorized, failed, processing (outcome unknown), captured, partially_refunded, refunded, voided… */
  status: string;
  declineCode?: string | null;
}

export interface PaymentIntentState extends PaymentOutcome {
  allocations: { orderId: string; sellerId: string; amount: number; capturedAmount: number; refundedAmount: number }[];
}

export interface PaymentsPort {
  /** Idempotent by idempotencyKey: the same key answers the same intent (and its outcome once known), never a second charge. */
  authorize(
    input: {
      idempotencyKey: string;
      checkoutSessionId: string;
      buyerId: string;
      amount: number;
      currency: string;
      paymentMethod: { token: string };
      allocations: { orderId: string; sellerId: string; amount: number }[];
    },
    trace?: Trace | null,
  ): Promise<PaymentOutcome>;
  capture(intentId: string, trace?: Trace | null): Promise<PaymentOutcome>;
  /** Releases an authorization (a captured payment is refunded instead); idempotent. */
  voidPayment(intentId: string, trace?: Trace | null): Promise<PaymentOutcome>;
  getIntent(intentId: string): Promise<PaymentIntentState | null | undefined>;
  /** Refunds part of an order's captured payment, once per idempotency key. */
  refund(
    input: { idempotencyKey: string; orderId: string; sellerId: string; amount: number; reason: string; requestedBy: null },
    trace?: Trace | null,
  ): Promise<unknown>;
}

/** A buyer's saved address, as accounts keeps it in the profile. */
export interface SavedAddress {
  label?: string;
  name: string;
  lines: string[];
  city: string;
  region?: string;
  postalCode: string;
  country: string;
  phone?: string;
  isDefault?: boolean;
}

export interface AccountsPort {
  /** The user's saved addresses (the profile's), or undefined when there is no such user. */
  getUser(userId: string): Promise<{ profile: { addresses: readonly SavedAddress[] } } | undefined>;
}

export interface CheckoutPorts {
  accounts: AccountsPort;
  products: ProductsPort;
  inventory: InventoryPort;
  cart: CartPort;
  coupons: CouponsPort;
  orders: OrdersPort;
  payments: PaymentsPort;
}
