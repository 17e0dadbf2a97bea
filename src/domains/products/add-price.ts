import { withTransaction } from '../../platform/db/pool.ts';
import { AppError, notFound } from '../../platform/http/errors.ts';
import { newId } from '../../platform/ids.ts';
import type { Trace } from '../../platform/messaging/envelope.ts';
import { mappingDatabaseErrors } from './db-errors.ts';
import type { ProductsDeps } from './deps.ts';
import { emit, productEvent } from './events.ts';
import { type PriceWindowRow, planWindow } from './pricing.ts';
import type { AddPriceBody } from './schemas.ts';
import {
  closeWindow,
  holdCategoryTree,
  insertPrices,
  lockOwnProduct,
  mustKeepLiveWindowsBounded,
  selectLiveWindowsForUpdate,
  selectProduct,
  selectVariantOf,
  updateProductRow,
} from './sql.ts';
import { type PriceWindowView, toPriceWindow, toPriceWindowView, toSnapshot } from './views.ts';

export interface PriceChange {
  window: PriceWindowView;
  closedPriceId: string | null;
  version: number;
}

/**
 * Adds a price window for one variant and currency. An open-ended window closes the open window it
 * follows at its own start; any other overlap is refused with PRICE_WINDOW_OVERLAP (checked here for
 * a clear answer, and held by the exclusion constraint against concurrent writers). A window never
 * starts in the past, so history is never rewritten. Announced with products.price_changed.v2,
 * which carries the product's snapshot after the change.
 */
export async function addPriceWindow(deps: ProductsDeps, sellerId: string, productId: string, body: AddPriceBody, trace: Trace | null): Promise<PriceChange> {
  const currency = body.price.currency;
  if (body.discount && body.discount.currency !== currency) throw new AppError('VALIDATION_FAILED', 'discount must be in the currency of price');
  const change = await mappingDatabaseErrors(() =>
    withTransaction(deps.pool, async (tx) => {
      // The event carries the snapshot, category path included (see holdCategoryTree).
      await holdCategoryTree(tx);
      const product = await lockOwnProduct(tx, productId, sellerId);
      if (!product) throw notFound('product');
      // The time once the product is locked, not when the request came: a window that waited for
      // a connection or the lock must not start (or close the open one) at an instant already
      // priced by the window before it.
      const now = deps.clock.now();
      const window: PriceWindowRow = {
        id: newId(),
        variantId: body.variantId,
        currency,
        basePrice: body.price.amount,
        discount: body.discount?.amount ?? 0,
        effectiveFrom: body.effectiveFrom ? new Date(body.effectiveFrom) : now,
        effectiveTo: body.effectiveTo ? new Date(body.effectiveTo) : null,
      };
      const variant = await selectVariantOf(tx, productId, body.variantId);
      if (!variant) throw new AppError('UNPROCESSABLE', 'variantId is not a variant of this product');
      const live = await selectLiveWindowsForUpdate(tx, body.variantId, currency, now);
      const plan = planWindow(live, window, now);
      if (!plan.ok) throw new AppError(plan.code, plan.reason);
      if (plan.closeWindowId) await closeWindow(tx, plan.closeWindowId, window.effectiveFrom, window.id);
      await insertPrices(tx, [{ ...window, productId, createdBy: sellerId, createdAt: now }]);
      await mustKeepLiveWindowsBounded(tx, productId, now);
      const version = await updateProductRow(tx, productId, {}, now);
      const record = await selectProduct(tx, productId, { at: now, history: true });
      if (!record) throw new Error('the product being priced cannot be read back');
      const change = { kind: 'price_changed', window: toPriceWindow(window), closedPriceId: plan.closeWindowId, at: now } as const;
      await emit(tx, [productEvent(toSnapshot(record, now), change)], trace, now);
      return { window: toPriceWindowView(window, now), closedPriceId: plan.closeWindowId, version };
    }),
  );
  deps.invalidate([productId]);
  return change;
}
