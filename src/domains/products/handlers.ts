import {
  StockSoldOutV1,
  ReservationConfirmedV1,
  ReservationExpiredV1,
  ReservationReleasedV1,
  type StockLevel,
  StockAdjustedV1,
  StockItemCreatedV1,
  StockReservedV1,
} from '../../contracts/inventory.ts';
import type { HandlerContext, Subscription } from '../../platform/messaging/subscription.ts';
import type { EventEnvelope } from '../../platform/messaging/envelope.ts';
import { type StockLevelRow, setStockUnit, upsertAvailability } from './sql.ts';

/** Inventory events that report stock levels, each with where its levels are. */
const LEVEL_EVENTS: Record<string, (data: never) => StockLevel[]> = {
  [StockItemCreatedV1.type]: (d: StockItemCreatedV1) => [d],
  [StockAdjustedV1.type]: (d: StockAdjustedV1) => [d],
  [StockSoldOutV1.type]: (d: StockSoldOutV1) => [d],
  [StockReservedV1.type]: (d: StockReservedV1) => d.items,
  [ReservationConfirmedV1.type]: (d: ReservationConfirmedV1) => d.items,
  [ReservationReleasedV1.type]: (d: ReservationReleasedV1) => d.items,
  [ReservationExpiredV1.type]: (d: ReservationExpiredV1) => d.items,
};

/** Keeps the newest level per variant (one statement may not touch a row twice). */
export function newestLevels(levels: readonly (StockLevel & { asOf: Date })[]): StockLevelRow[] {
  const byVariant = new Map<string, StockLevelRow>();
  for (const l of levels) {
    const seen = byVariant.get(l.variantId);
    if (!seen || seen.version < l.version) {
      byVariant.set(l.variantId, { variantId: l.variantId, stockItemId: l.stockItemId, available: l.available, version: l.version, asOf: l.asOf });
    }
  }
  return [...byVariant.values()];
}

/** Applies inventory events, in order, to variant_availability: one statement for all their levels. */
async function applyLevels(ctx: HandlerContext, events: readonly EventEnvelope[]): Promise<void> {
  const levels: (StockLevel & { asOf: Date })[] = [];
  for (const event of events) {
    const levelsOf = LEVEL_EVENTS[event.type];
    if (!levelsOf) continue;
    if (event.type === StockItemCreatedV1.type) {
      const created = event.data as StockItemCreatedV1;
      await setStockUnit(ctx.tx, created.variantId, created.stockItemId);
    }
    const asOf = new Date(event.time);
    for (const level of levelsOf(event.data as never)) levels.push({ ...level, asOf });
  }
  await upsertAvailability(ctx.tx, newestLevels(levels), ctx.now);
}

/**
 * products.availability: the local read copy of inventory's available quantities, so the product
 * page shows availability without calling inventory. A change tells every process's product cache
 * (NOTIFY products_cache, at commit). In a flash sale every reservation reports a level, so a
 * batch of them is folded into one write.
 */
export function availabilitySubscription(): Subscription {
  return {
    consumer: 'products.availability',
    domain: 'products',
    events: Object.keys(LEVEL_EVENTS),
    handle: (ctx, event) => applyLevels(ctx, [event]),
    handleBatch: applyLevels,
  };
}
