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
import type { Subscription } from '../../platform/messaging/subscription.ts';
import { type StockLevelRow, notifyProductsChanged, setStockUnit, upsertAvailability } from './sql.ts';

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
export function newestLevels(levels: readonly StockLevel[]): StockLevelRow[] {
  const byVariant = new Map<string, StockLevelRow>();
  for (const l of levels) {
    const seen = byVariant.get(l.variantId);
    if (!seen || seen.version < l.version) byVariant.set(l.variantId, { variantId: l.variantId, stockItemId: l.stockItemId, available: l.available, version: l.version });
  }
  return [...byVariant.values()];
}

/**
 * products.availability: the local read copy of inventory's available quantities, so the product
 * page shows availability without calling inventory. A change tells every process's product cache
 * (NOTIFY products_cache, at commit).
 */
export function availabilitySubscription(): Subscription {
  return {
    consumer: 'products.availability',
    domain: 'products',
    events: Object.keys(LEVEL_EVENTS),
    async handle(ctx, event) {
      const levelsOf = LEVEL_EVENTS[event.type];
      if (!levelsOf) return;
      const levels = newestLevels(levelsOf(event.data as never));
      if (event.type === StockItemCreatedV1.type) {
        const created = event.data as StockItemCreatedV1;
        await setStockUnit(ctx.tx, created.variantId, created.stockItemId);
      }
      const changed = await upsertAvailability(ctx.tx, levels, new Date(event.time), ctx.now);
      await notifyProductsChanged(ctx.tx, changed);
    },
  };
}
