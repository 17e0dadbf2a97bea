import { type Static, Type } from '@sinclair/typebox';
import { ADJUSTMENT_REASONS, MAX_PER_BUYER_LIMIT, RESERVATION_ITEMS_MAX } from '../../contracts/inventory.ts';
import { IdempotencyKeyHeader, MultilineText, PageQuerySchema, pageOf } from '../../platform/http/schemas.ts';
import { ADJUSTMENT_AMOUNT_MAX, NOTE_LENGTH_MAX } from './adjust-stock.ts';
import { RESERVATION_STATUSES } from './lifecycle.ts';

/** Request and response shapes of the inventory routes; every object closed, every string bounded. */

const closed = { additionalProperties: false } as const;
const Uuid = Type.String({ format: 'uuid' });
const Instant = Type.String({ format: 'date-time' });

/** Units a buyer may hold of one variant through the buyer route. */
export const BUYER_QUANTITY_MAX = 100;

export const StockItemSchema = Type.Object(
  {
    stockItemId: Uuid,
    variantId: Uuid,
    productId: Uuid,
    sku: Type.String(),
    total: Type.Integer({ description: 'Units held for sale: available + reserved; equals the sum of the item\'s stock movements' }),
    available: Type.Integer({ description: 'Units that can be reserved now; never below 0' }),
    reserved: Type.Integer({ description: 'Units held by active reservations' }),
    version: Type.Integer({ description: 'Grows with every change of the quantities' }),
    updatedAt: Instant,
    maxPerBuyer: Type.Union([Type.Integer({ minimum: 1, maximum: MAX_PER_BUYER_LIMIT }), Type.Null()], {
      description: 'The most units one buyer may hold and have bought, counted over reservations made since purchaseLimitSince; null when there is no limit',
    }),
    purchaseLimitSince: Type.Union([Instant, Type.Null()], { description: 'When the current limit was set; null when there is no limit' }),
  },
  { description: 'The stock of one variant' },
);

export const PurchaseLimitBody = Type.Object(
  {
    maxPerBuyer: Type.Union([Type.Integer({ minimum: 1, maximum: MAX_PER_BUYER_LIMIT }), Type.Null()], {
      description: 'The most units one buyer may hold (active reservations, checkouts\' included) and have bought, counted from now; null removes the limit',
    }),
  },
  closed,
);

export const StockListQuery = Type.Object({ ...PageQuerySchema }, closed);
export const StockPage = pageOf(StockItemSchema);

export const VariantParams = Type.Object({ variantId: Uuid }, closed);

export const StockMovementSchema = Type.Object(
  {
    id: Uuid,
    kind: Type.Union([Type.Literal('adjustment'), Type.Literal('sale'), Type.Literal('restock')], {
      description: 'adjustment: by the seller (or a receipt of stock, createdBy null); sale: a confirmed reservation left for good; restock: sold units came back (an order cancelled after its sale)',
    }),
    change: Type.Integer({ description: 'Signed change of the total (never 0); the movements of an item add up to its total' }),
    reason: Type.String({ description: 'The adjustment reason, or the system\'s (reservation confirmed for a sale, order_cancelled for a restock)' }),
    note: Type.Union([Type.String(), Type.Null()], { description: 'The seller\'s note on an adjustment' }),
    referenceId: Type.Union([Uuid, Type.Null()], { description: 'What caused it: the reservation of a sale, the order of a restock, the receipt of received stock; usually null for a seller\'s adjustment' }),
    createdBy: Type.Union([Uuid, Type.Null()], { description: 'The seller who made an adjustment; null for the system\'s movements' }),
    createdAt: Instant,
  },
  { description: 'One change of a stock item\'s total (stock_movements, append-only)' },
);
export const StockMovementPage = pageOf(StockMovementSchema);

export const AdjustmentBody = Type.Object(
  {
    amount: Type.Integer({
      minimum: -ADJUSTMENT_AMOUNT_MAX,
      maximum: ADJUSTMENT_AMOUNT_MAX,
      not: { const: 0 },
      description: 'Signed change of the total (and of available); never 0. Removing more than is available is refused.',
    }),
    reason: Type.Union(
      ADJUSTMENT_REASONS.map((r) => Type.Literal(r)),
      { description: 'received and returned_by_customer only add; damaged and lost only remove; cycle_count, correction and other go either way' },
    ),
    note: Type.Optional(MultilineText(NOTE_LENGTH_MAX)),
  },
  closed,
);
export type AdjustmentBody = Static<typeof AdjustmentBody>;

export const AdjustmentResponse = Type.Object({
  movement: Type.Object({
    id: Uuid,
    change: Type.Integer(),
    reason: Type.String(),
    note: Type.Union([Type.String(), Type.Null()]),
    createdAt: Instant,
  }),
  stock: StockItemSchema,
});

export const AdjustmentHeaders = Type.Object({
  'idempotency-key': Type.Optional(
    IdempotencyKeyHeader('Optional. The same key and body replay the first answer (Idempotent-Replayed: true) and change nothing; the same key with another body is 422'),
  ),
});

export const ReserveHeaders = Type.Object({
  'idempotency-key': IdempotencyKeyHeader('Required. The same key and body return the same reservation; the same key with another body is 422'),
});

export const ReserveBody = Type.Object(
  {
    items: Type.Array(
      Type.Object({ variantId: Uuid, quantity: Type.Integer({ minimum: 1, maximum: BUYER_QUANTITY_MAX }) }, closed),
      { minItems: 1, maxItems: RESERVATION_ITEMS_MAX },
    ),
    referenceId: Type.Optional(Uuid),
  },
  closed,
);
export type ReserveBody = Static<typeof ReserveBody>;

export const ReservationParams = Type.Object({ reservationId: Uuid }, closed);

export const ReservationSchema = Type.Object(
  {
    id: Uuid,
    status: Type.Union(RESERVATION_STATUSES.map((s) => Type.Literal(s))),
    referenceId: Type.Union([Uuid, Type.Null()]),
    expiresAt: Instant,
    createdAt: Instant,
    closedAt: Type.Union([Instant, Type.Null()]),
    releaseReason: Type.Union([Type.String(), Type.Null()]),
    items: Type.Array(Type.Object({ variantId: Uuid, stockItemId: Uuid, quantity: Type.Integer() })),
  },
  { description: 'Units held for a buyer until expiresAt, all items or none' },
);
