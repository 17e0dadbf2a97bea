import { type Static, Type } from '@sinclair/typebox';
import { defineEvent } from './define.ts';
import { registerContracts } from './registry.ts';

/**
 * Events of the inventory domain. Every event that changes a stock item's quantities carries, per
 * item, the variant id and the quantities after the change (available, reserved, total) with the
 * item's `version`, which grows by one with each such change: the products domain keeps its
 * availability read copy from these alone and ignores an event whose version is not newer than
 * the one it holds (events of one item can arrive through different aggregates).
 */
const Uuid = Type.String({ pattern: '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$', maxLength: 36 });
const Instant = Type.String({ pattern: '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d+)?Z$', maxLength: 40 });
const Quantity = Type.Integer({ minimum: 0, maximum: 2_147_483_647 });
const Version = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER });
const closed = { additionalProperties: false } as const;

/** Reservation lines are bounded by the reserve API (at most this many items per reservation). */
export const RESERVATION_ITEMS_MAX = 50;

/** A stock item's quantities right after the change an event reports. */
const StockLevelProperties = {
  stockItemId: Uuid,
  variantId: Uuid,
  available: Quantity,
  reserved: Quantity,
  total: Quantity,
  version: Version,
};

export const StockLevel = Type.Object(StockLevelProperties, closed);
export type StockLevel = Static<typeof StockLevel>;

/** One line of a reservation with its item's quantities after this reservation's change. */
export const ReservationLineFacts = Type.Object({ ...StockLevelProperties, quantity: Type.Integer({ minimum: 1, maximum: 2_147_483_647 }) }, closed);
export type ReservationLineFacts = Static<typeof ReservationLineFacts>;

const ReservationFacts = {
  reservationId: Uuid,
  /** The buyer the stock is (or was) held for. */
  ownerId: Uuid,
  /** The caller's reference, normally the checkout session; null when none. */
  referenceId: Type.Union([Uuid, Type.Null()]),
  items: Type.Array(ReservationLineFacts, { minItems: 1, maxItems: RESERVATION_ITEMS_MAX }),
};

export const ADJUSTMENT_REASONS = ['received', 'returned_by_customer', 'cycle_count', 'correction', 'damaged', 'lost', 'other'] as const;
export type AdjustmentReason = (typeof ADJUSTMENT_REASONS)[number];

/** Reasons of changes no seller chose (never accepted from a seller): order_cancelled gives sold units back. */
export const SYSTEM_STOCK_REASONS = ['order_cancelled'] as const;
export type SystemStockReason = (typeof SYSTEM_STOCK_REASONS)[number];

/** A stock item exists for a variant (announced once; products records it as the variant's stock_unit_id). */
export const StockItemCreatedV1 = defineEvent(
  'inventory.stock_item_created.v1',
  Type.Object({ ...StockLevelProperties, productId: Uuid, sellerId: Uuid, sku: Type.String({ minLength: 1, maxLength: 64 }), createdAt: Instant }, closed),
);
export type StockItemCreatedV1 = Static<typeof StockItemCreatedV1.schema>;

/**
 * The total changed by a seller's adjustment, a stock receipt, or a restock of sold units whose
 * order was cancelled (reason order_cancelled, with orderId): one stock_movements row.
 */
export const StockAdjustedV1 = defineEvent(
  'inventory.stock_adjusted.v1',
  Type.Object(
    {
      ...StockLevelProperties,
      productId: Uuid,
      sellerId: Uuid,
      movementId: Uuid,
      /** Signed change of the total (never zero). */
      change: Type.Integer({ minimum: -2_147_483_647, maximum: 2_147_483_647 }),
      reason: Type.Union([...ADJUSTMENT_REASONS, ...SYSTEM_STOCK_REASONS].map((r) => Type.Literal(r))),
      note: Type.Union([Type.String({ maxLength: 500 }), Type.Null()]),
      /** The seller who adjusted; null for a system change (a receipt by the seed or an import, a restock). */
      adjustedBy: Type.Union([Uuid, Type.Null()]),
      adjustedAt: Instant,
      /** The cancelled order whose sold units came back (reason order_cancelled only). */
      orderId: Type.Optional(Uuid),
    },
    closed,
  ),
);
export type StockAdjustedV1 = Static<typeof StockAdjustedV1.schema>;

/** Units were set aside for a buyer until `expiresAt` (all lines or none). */
export const StockReservedV1 = defineEvent(
  'inventory.stock_reserved.v1',
  Type.Object({ ...ReservationFacts, expiresAt: Instant, reservedAt: Instant }, closed),
);
export type StockReservedV1 = Static<typeof StockReservedV1.schema>;

/** The reserved units were sold: they left reserved and total for good (a 'sale' movement per line). */
export const ReservationConfirmedV1 = defineEvent(
  'inventory.reservation_confirmed.v1',
  Type.Object({ ...ReservationFacts, orderId: Type.Union([Uuid, Type.Null()]), confirmedAt: Instant }, closed),
);
export type ReservationConfirmedV1 = Static<typeof ReservationConfirmedV1.schema>;

/** The caller gave the units back (payment declined, checkout abandoned…): they are available again. */
export const ReservationReleasedV1 = defineEvent(
  'inventory.reservation_released.v1',
  Type.Object({ ...ReservationFacts, reason: Type.String({ minLength: 1, maxLength: 500 }), releasedAt: Instant }, closed),
);
export type ReservationReleasedV1 = Static<typeof ReservationReleasedV1.schema>;

/** The reservation lapsed at `expiresAt` and the sweeper gave its units back (exactly once). */
export const ReservationExpiredV1 = defineEvent(
  'inventory.reservation_expired.v1',
  Type.Object({ ...ReservationFacts, expiresAt: Instant, expiredAt: Instant }, closed),
);
export type ReservationExpiredV1 = Static<typeof ReservationExpiredV1.schema>;

/**
 * The levels one transaction that reserved units left its items at, whatever the number of
 * reservations it made (a flash sale's batch makes up to 256): what a copy of the levels takes
 * instead of each inventory.stock_reserved.v1. Not for an item the transaction sold out: its
 * inventory.stock_sold_out.v1 carries the same level.
 */
export const StockLevelsChangedV1 = defineEvent(
  'inventory.stock_levels_changed.v1',
  Type.Object({ items: Type.Array(StockLevel, { minItems: 1, maxItems: RESERVATION_ITEMS_MAX }), at: Instant }, closed),
);
export type StockLevelsChangedV1 = Static<typeof StockLevelsChangedV1.schema>;

/** A stock item's available quantity reached zero (sold out until stock comes back). */
export const StockSoldOutV1 = defineEvent(
  'inventory.stock_sold_out.v1',
  Type.Object({ ...StockLevelProperties, productId: Uuid, sellerId: Uuid, at: Instant }, closed),
);
export type StockSoldOutV1 = Static<typeof StockSoldOutV1.schema>;

/** The most units a seller may allow one buyer (inventory's PATCH /v1/seller/stock/{variantId}). */
export const MAX_PER_BUYER_LIMIT = 1_000_000;

/**
 * A seller set, changed or cleared the limit of units per buyer of a stock item: from `since`, a
 * buyer may hold and buy at most `maxPerBuyer` units of it (null: no limit any more).
 */
export const PurchaseLimitChangedV1 = defineEvent(
  'inventory.purchase_limit_changed.v1',
  Type.Object(
    {
      stockItemId: Uuid,
      variantId: Uuid,
      productId: Uuid,
      sellerId: Uuid,
      maxPerBuyer: Type.Union([Type.Integer({ minimum: 1, maximum: MAX_PER_BUYER_LIMIT }), Type.Null()]),
      since: Type.Union([Instant, Type.Null()]),
      changedAt: Instant,
    },
    closed,
  ),
);
export type PurchaseLimitChangedV1 = Static<typeof PurchaseLimitChangedV1.schema>;

registerContracts(
  StockItemCreatedV1,
  StockAdjustedV1,
  StockReservedV1,
  ReservationConfirmedV1,
  ReservationReleasedV1,
  ReservationExpiredV1,
  StockSoldOutV1,
  StockLevelsChangedV1,
  PurchaseLimitChangedV1,
);

/**
 * The inventory events that report stock levels, each with where its levels are in its payload.
 */
export const STOCK_LEVELS_OF: Readonly<Record<string, (data: never) => StockLevel[]>> = {
  [StockItemCreatedV1.type]: (d: StockItemCreatedV1) => [d],
  [StockAdjustedV1.type]: (d: StockAdjustedV1) => [d],
  [StockSoldOutV1.type]: (d: StockSoldOutV1) => [d],
  [StockLevelsChangedV1.type]: (d: StockLevelsChangedV1) => d.items,
  [StockReservedV1.type]: (d: StockReservedV1) => d.items,
  [ReservationConfirmedV1.type]: (d: ReservationConfirmedV1) => d.items,
  [ReservationReleasedV1.type]: (d: ReservationReleasedV1) => d.items,
  [ReservationExpiredV1.type]: (d: ReservationExpiredV1) => d.items,
};

/**
 * The inventory events after which an item's available units may have changed: what a copy of the
 * available quantities (the products domain's) listens to. A confirmation is not one of them: it
 * sells reserved units, and leaves the available ones as they were (its levels say so too). Nor is
 * each reservation: the transaction that makes reservations reports its items' levels once
 * (inventory.stock_levels_changed.v1, or inventory.stock_sold_out.v1 for an item it sold out), so a
 * flash sale's hundreds of reservations reach such a copy as a few events.
 */
export const AVAILABLE_CHANGES: readonly string[] = Object.keys(STOCK_LEVELS_OF).filter(
  (type) => type !== ReservationConfirmedV1.type && type !== StockReservedV1.type,
);

/**
 * The inventory events after which an item may have turned from no units available to some, or
 * from some to none: what a copy of only whether items are in stock (the search read model's)
 * listens to, instead of every reservation. A reservation never adds units, and one that takes the
 * last unit is followed, in its own transaction, by inventory.stock_sold_out.v1 with the item's
 * level; a confirmation sells reserved units and leaves the available ones as they were.
 */
export const IN_STOCK_TURNS: readonly string[] = [
  StockItemCreatedV1.type,
  StockAdjustedV1.type,
  StockSoldOutV1.type,
  ReservationReleasedV1.type,
  ReservationExpiredV1.type,
];
