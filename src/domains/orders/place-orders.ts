import { type Static, Type } from '@sinclair/typebox';
import { compileInCharacters } from '../../contracts/define.ts';
import type { OrderPlacedV1 } from '../../contracts/orders.ts';
import type { Clock } from '../../platform/clock.ts';
import { type Pool, abortReason, withTransaction } from '../../platform/db/pool.ts';
import { AppError } from '../../platform/http/errors.ts';
import { newId } from '../../platform/ids.ts';
import type { Trace } from '../../platform/messaging/envelope.ts';
import { type Statement, guarded, runTogether } from '../../platform/db/statements.ts';
import { type NewEvent, outboxStatement } from '../../platform/messaging/outbox.ts';
import { orderFacts } from './facts.ts';
import type { OrderNumberGenerator } from './order-number.ts';
import {
  ITEMS_PER_ORDER_MAX,
  type ItemRow,
  type NewItem,
  type NewOrder,
  ORDERS_PER_CHECKOUT_MAX,
  type OrderRow,
  historyInsert,
  itemsInsert,
  itemsOf,
  insertOrders,
  ordersInsert,
  ordersOfCheckout,
} from './sql.ts';
import type { OrderStatus } from './status-machine.ts';
import { type OrderTotals, orderTotals } from './totals.ts';

const Uuid = Type.String({ pattern: '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$' });
const Amount = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER });

const ProductSnapshotSchema = Type.Object(
  {
    title: Type.String({ minLength: 1, maxLength: 300 }),
    variantAttributes: Type.Optional(Type.Record(Type.String({ maxLength: 100 }), Type.String({ maxLength: 300 }), { maxProperties: 20 })),
  },
  { additionalProperties: true, maxProperties: 30 },
);

const CheckoutOrdersSchema = Type.Object({
  checkoutSessionId: Uuid,
  buyerId: Uuid,
  currency: Type.String({ pattern: '^[A-Z]{3}$' }),
  shippingAddress: Type.Object({}, { additionalProperties: true, maxProperties: 30 }),
  orders: Type.Array(
    Type.Object({
      sellerId: Uuid,
      discountAmount: Amount,
      shippingAmount: Amount,
      items: Type.Array(
        Type.Object({
          productId: Uuid,
          variantId: Uuid,
          sku: Type.String({ minLength: 1, maxLength: 64 }),
          productSnapshot: ProductSnapshotSchema,
          /** Unit price charged: the pricing window's base price minus its discount. */
          unitPrice: Amount,
          /** Coupon discount of this line; all zero with a non-zero order discount means "split it for me". */
          discountAmount: Amount,
          quantity: Type.Integer({ minimum: 1, maximum: 10000 }),
        }),
        { minItems: 1, maxItems: ITEMS_PER_ORDER_MAX },
      ),
    }),
    { minItems: 1, maxItems: ORDERS_PER_CHECKOUT_MAX },
  ),
});

/** What checkout hands over: one order per seller, with the prices it fixed and the discounts it split. */
export type CheckoutOrdersInput = Static<typeof CheckoutOrdersSchema> & {
  /** The caller's trace (its request or handled event), carried by the orders' events; without one they start their own. */
  trace?: Trace | null;
};

export interface PlacedOrder {
  orderId: string;
  orderNumber: string;
  sellerId: string;
  totalAmount: number;
  currency: string;
  status: OrderStatus;
}

const checkInput = compileInCharacters(CheckoutOrdersSchema);
/** Attempts at a fresh order number after a collision; a real collision is a one-in-a-billion event. */
const ORDER_NUMBER_ATTEMPTS_MAX = 5;
/** Largest product snapshot or address kept with an order, as JSON characters. */
const SNAPSHOT_BYTES_MAX = 8192;

/** Checks the input (a bad one is the caller's bug) and lower-cases its ids as uuid columns return them. */
function validate(raw: CheckoutOrdersInput): { input: CheckoutOrdersInput; totals: OrderTotals[] } {
  if (!checkInput.Check(raw)) {
    const problems = [...checkInput.Errors(raw)].slice(0, 5).map((e) => `${e.path || '/'} ${e.message}`);
    throw new TypeError(`createOrdersForCheckout: invalid input: ${problems.join('; ')}`);
  }
  const input: CheckoutOrdersInput = {
    ...raw,
    checkoutSessionId: raw.checkoutSessionId.toLowerCase(),
    buyerId: raw.buyerId.toLowerCase(),
    orders: raw.orders.map((o) => ({
      ...o,
      sellerId: o.sellerId.toLowerCase(),
      items: o.items.map((i) => ({ ...i, productId: i.productId.toLowerCase(), variantId: i.variantId.toLowerCase() })),
    })),
  };
  if (JSON.stringify(input.shippingAddress).length > SNAPSHOT_BYTES_MAX) throw new TypeError('createOrdersForCheckout: shipping address too large');
  for (const i of input.orders.flatMap((o) => o.items)) {
    if (JSON.stringify(i.productSnapshot).length > SNAPSHOT_BYTES_MAX) throw new TypeError(`createOrdersForCheckout: snapshot of ${i.sku} too large`);
  }
  const sellers = new Set(input.orders.map((o) => o.sellerId));
  if (sellers.size !== input.orders.length) throw new TypeError('createOrdersForCheckout: one order per seller');
  for (const o of input.orders) {
    const variants = new Set(o.items.map((i) => i.variantId));
    if (variants.size !== o.items.length) throw new TypeError(`createOrdersForCheckout: seller ${o.sellerId} has a variant on two lines`);
  }
  // Totals that cannot be made (a discount above its lines, sums past 2^53) are a caller bug too.
  const totals = input.orders.map((o) => {
    try {
      return orderTotals(o.items, o.discountAmount, o.shippingAmount);
    } catch (error) {
      if (error instanceof RangeError) throw new TypeError(`createOrdersForCheckout: seller ${o.sellerId}: ${error.message}`);
      throw error;
    }
  });
  return { input, totals };
}

function placed(row: OrderRow): PlacedOrder {
  return { orderId: row.id, orderNumber: row.order_number, sellerId: row.seller_id, totalAmount: row.total_amount, currency: row.currency, status: row.status };
}

/**
 * Creates one order per seller for a checkout session, in status pending_payment, with its items
 * as immutable snapshots, a history row and an orders.order_placed.v1 event — all in one
 * transaction. Idempotent by (checkout session, seller): a retried or recovered checkout step gets
 * the orders made the first time, and nothing is written twice.
 */
export async function createOrdersForCheckout(
  pool: Pool,
  clock: Clock,
  nextOrderNumber: OrderNumberGenerator,
  raw: CheckoutOrdersInput,
): Promise<PlacedOrder[]> {
  const { input, totals } = validate(raw);
  const trace = raw.trace ?? null;
  const now = clock.now();
  const wanted: NewOrder[] = input.orders.map((o, i) => {
    const t = totals[i] as OrderTotals;
    return {
      id: newId(),
      buyerId: input.buyerId,
      sellerId: o.sellerId,
      orderNumber: nextOrderNumber(now),
      currency: input.currency,
      subtotalAmount: t.subtotalAmount,
      discountAmount: t.discountAmount,
      shippingAmount: t.shippingAmount,
      totalAmount: t.totalAmount,
      checkoutSessionId: input.checkoutSessionId,
      shippingAddress: input.shippingAddress,
      createdAt: now,
    };
  });

  // The usual case, a checkout's first attempt, is ONE statement: the orders, their items, history
  // and events, atomic without BEGIN and COMMIT. If any order is not inserted (the step is a retry,
  // or an order number was taken), the statement aborts itself, leaves nothing, and the transaction
  // below sorts the orders out.
  const { statement, rows } = placementOf(input, totals, wanted, now, trace);
  const ordersInserted = await pool
    .query(...guarded(statement, `SELECT CASE WHEN (SELECT count(*) FROM w0) <> ${wanted.length} THEN bazaar_abort('${NOT_ALL_NEW}') END`))
    .then(
      () => true,
      (error: unknown) => {
        if (abortReason(error) === NOT_ALL_NEW) return false;
        throw error;
      },
    );
  if (ordersInserted) return rows.map(placed);

  return withTransaction(pool, async (tx) => {
    const created: NewOrder[] = [];
    const existing = new Map<string, OrderRow>();
    let pending = wanted;
    for (let attempt = 1; pending.length > 0; attempt++) {
      if (attempt > ORDER_NUMBER_ATTEMPTS_MAX) throw new Error(`no free order number after ${ORDER_NUMBER_ATTEMPTS_MAX} attempts`);
      const inserted = await insertOrders(tx, pending);
      created.push(...pending.filter((o) => inserted.has(o.id)));
      const skipped = pending.filter((o) => !inserted.has(o.id));
      if (skipped.length === 0) break;
      // A skipped order either exists already (a retry: keep it) or lost its order number to another.
      const found = await ordersOfCheckout(tx, input.checkoutSessionId, skipped.map((o) => o.sellerId));
      for (const row of found) existing.set(row.seller_id, row);
      pending = skipped
        .filter((o) => !existing.has(o.sellerId))
        .map((o) => ({ ...o, id: newId(), orderNumber: nextOrderNumber(now) }));
    }

    // A replay must carry the terms the order was made with: its parties, its amounts and its lines
    // (found by an audit: other lines and another split of the same total came back as a match).
    const itemsBefore = new Map<string, ItemRow[]>();
    for (const item of await itemsOf(tx, [...existing.values()].map((r) => r.id))) {
      const lines = itemsBefore.get(item.order_id);
      if (lines) lines.push(item);
      else itemsBefore.set(item.order_id, [item]);
    }
    for (const [i, o] of input.orders.entries()) {
      const before = existing.get(o.sellerId);
      if (before && !sameTerms(before, itemsBefore.get(before.id) ?? [], input, o, totals[i] as OrderTotals)) {
        throw new AppError('CONFLICT', `checkout ${input.checkoutSessionId} already made order ${before.order_number} for this seller with other terms`);
      }
    }

    // Items, history and events of the orders made now in one statement (one round trip).
    const made = placementOf(input, totals, created, now, trace);
    await runTogether(tx, made.writes);

    const bySeller = new Map<string, OrderRow>([...existing, ...made.rows.map((r) => [r.seller_id, r] as const)]);
    return input.orders.map((o) => {
      const row = bySeller.get(o.sellerId);
      if (!row) throw new Error(`order of seller ${o.sellerId} neither created nor found`);
      return placed(row);
    });
  });
}

/** The abort reason of the one-statement placement when an order of it was not inserted. */
const NOT_ALL_NEW = 'orders: not every order of the checkout is new';

/** Whether an order made before was made with these terms (a replay of the same checkout and seller). */
function sameTerms(before: OrderRow, items: readonly ItemRow[], input: CheckoutOrdersInput, o: CheckoutOrdersInput['orders'][number], t: OrderTotals): boolean {
  const amounts = [before.subtotal_amount, before.discount_amount, before.shipping_amount, before.total_amount];
  if (before.buyer_id !== input.buyerId || before.currency !== input.currency || amounts.join() !== [t.subtotalAmount, t.discountAmount, t.shippingAmount, t.totalAmount].join()) return false;
  const line = (variantId: string, quantity: number, unitPrice: number, discount: number) => `${variantId}:${quantity}:${unitPrice}:${discount}`;
  const given = o.items.map((item, j) => line(item.variantId, item.quantity, item.unitPrice, t.lines[j]?.discountAmount ?? -1));
  const made = items.map((item) => line(item.variant_id, item.quantity, Number(item.price_snapshot), Number(item.discount_amount)));
  return given.join() === made.join();
}

/**
 * What placing `created` writes besides the orders: their items (snapshots with each line's
 * discount), a history row each and an orders.order_placed.v1 each; `statement` is all of it with
 * the orders' INSERT first (as w0), `writes` all of it but that INSERT.
 */
function placementOf(input: CheckoutOrdersInput, totals: readonly OrderTotals[], created: readonly NewOrder[], now: Date, trace: Trace | null) {
  const createdBySeller = new Map(created.map((o) => [o.sellerId, o]));
  const items: NewItem[] = [];
  for (const [i, o] of input.orders.entries()) {
    const order = createdBySeller.get(o.sellerId);
    if (!order) continue;
    const t = totals[i] as OrderTotals;
    for (const [j, item] of o.items.entries()) {
      const line = t.lines[j];
      if (!line) throw new Error('totals lost a line');
      items.push({
        id: newId(),
        orderId: order.id,
        productId: item.productId,
        variantId: item.variantId,
        sellerId: order.sellerId,
        sku: item.sku,
        productSnapshot: item.productSnapshot,
        unitPrice: item.unitPrice,
        quantity: item.quantity,
        discountAmount: line.discountAmount,
        currency: input.currency,
        lineTotal: line.lineTotal,
        createdAt: now,
      });
    }
  }
  const history = historyInsert(
    created.map((o) => ({
      id: newId(),
      orderId: o.id,
      fromStatus: null,
      toStatus: 'pending_payment',
      reason: 'placed at checkout',
      changedBy: input.buyerId,
      actorType: 'buyer',
      changedAt: now,
    })),
  );
  const rows = created.map(rowOf);
  const itemRows = items.map(itemRowOf);
  const events: NewEvent[] = rows.map((row) => {
    const data: OrderPlacedV1 = orderFacts(row, itemRows);
    return { type: 'orders.order_placed.v1', aggregateId: row.id, aggregateType: 'order', data };
  });
  const writes = [itemsInsert(items), history, outboxStatement('orders', events, trace, now)];
  const statement: [Statement, ...(Statement | undefined)[]] = [ordersInsert(created), ...writes];
  return { rows, writes, statement };
}

/** The row just inserted, as the database holds it. */
function rowOf(o: NewOrder): OrderRow {
  return {
    id: o.id,
    buyer_id: o.buyerId,
    seller_id: o.sellerId,
    order_number: o.orderNumber,
    status: 'pending_payment',
    fulfilment_status: null,
    order_type: 'standard',
    currency: o.currency,
    subtotal_amount: o.subtotalAmount,
    discount_amount: o.discountAmount,
    shipping_amount: o.shippingAmount,
    total_amount: o.totalAmount,
    refunded_amount: 0,
    checkout_session_id: o.checkoutSessionId,
    shipping_address_json: o.shippingAddress,
    version: 1,
    created_at: o.createdAt,
    updated_at: o.createdAt,
  };
}

function itemRowOf(i: NewItem): ItemRow {
  return {
    id: i.id,
    order_id: i.orderId,
    product_id: i.productId,
    variant_id: i.variantId,
    seller_id: i.sellerId,
    sku: i.sku,
    product_snapshot_json: i.productSnapshot,
    price_snapshot: i.unitPrice,
    quantity: i.quantity,
    discount_amount: i.discountAmount,
    currency: i.currency,
    line_total: i.lineTotal,
    created_at: i.createdAt,
  };
}
