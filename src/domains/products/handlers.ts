import { AVAILABLE_CHANGES, PurchaseLimitChangedV1, STOCK_LEVELS_OF, type StockLevel, StockItemCreatedV1 } from '../../contracts/inventory.ts';
import type { HandlerContext, Subscription } from '../../platform/messaging/subscription.ts';
import type { EventEnvelope } from '../../platform/messaging/envelope.ts';
import { type PurchaseLimitRow, type StockLevelRow, setPurchaseLimits, setStockUnit, upsertAvailability } from './sql.ts';


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

/** Applies inventory events, in order, to variant_availability: one statement for all their levels, one for their limits per buyer. */
async function applyLevels(ctx: HandlerContext, events: readonly EventEnvelope[]): Promise<void> {
  const levels: (StockLevel & { asOf: Date })[] = [];
  // The last limit per variant (a batch is in order).
  const limits = new Map<string, PurchaseLimitRow>();
  for (const event of events) {
    if (event.type === PurchaseLimitChangedV1.type) {
      const changed = event.data as PurchaseLimitChangedV1;
      limits.set(changed.variantId, { variantId: changed.variantId, maxPerBuyer: changed.maxPerBuyer });
      continue;
    }
    const levelsOf = STOCK_LEVELS_OF[event.type];
    if (!levelsOf) continue;
    if (event.type === StockItemCreatedV1.type) {
      const created = event.data as StockItemCreatedV1;
      await setStockUnit(ctx.tx, created.variantId, created.stockItemId);
    }
    const asOf = new Date(event.time);
    for (const level of levelsOf(event.data as never)) levels.push({ ...level, asOf });
  }
  await upsertAvailability(ctx.tx, newestLevels(levels), ctx.now);
  await setPurchaseLimits(ctx.tx, [...limits.values()], ctx.now);
}

/**
 * products.availability: the local read copy of inventory's available quantities and limits per
 * buyer, so the product page shows them without calling inventory. A change tells every process's product cache
 * (NOTIFY products_cache, at commit). In a flash sale every reservation reports a level, so a
 * batch of them is folded into one write.
 */
export function availabilitySubscription(): Subscription {
  return {
    consumer: 'products.availability',
    domain: 'products',
    // Not the confirmations: a sale leaves the available units as they were (AVAILABLE_CHANGES).
    events: [...AVAILABLE_CHANGES, PurchaseLimitChangedV1.type],
    handle: (ctx, event) => applyLevels(ctx, [event]),
    handleBatch: applyLevels,
  };
}
