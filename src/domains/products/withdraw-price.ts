import { withTransaction } from '../../platform/db/pool.ts';
import { AppError, notFound } from '../../platform/http/errors.ts';
import type { Trace } from '../../platform/messaging/envelope.ts';
import type { ProductsDeps } from './deps.ts';
import { emit, productEvent } from './events.ts';
import { holdCategoryTree, lockOwnProduct, selectProduct, selectWindowForUpdate, updateProductRow, withdrawWindow } from './sql.ts';
import { toPriceWindow, toSnapshot } from './views.ts';

export interface PriceWithdrawal {
  priceId: string;
  withdrawnAt: string;
  /** The window that ended where the withdrawn one started, now running on to where it ended. */
  extendedPriceId: string | null;
  extendedTo: string | null;
  version: number;
}

/**
 * Withdraws a scheduled price window before it starts (a window that has started is history and
 * stays: a new window changes the price from now on). The window it had closed runs on to where it
 * ended, so the variant's prices read as if it had never been added. Announced with
 * products.price_withdrawn.v2, which carries the product's snapshot after the withdrawal.
 */
export async function withdrawPriceWindow(deps: ProductsDeps, sellerId: string, productId: string, priceId: string, trace: Trace | null): Promise<PriceWithdrawal> {
  const withdrawal = await withTransaction(deps.pool, async (tx) => {
    // The event carries the snapshot, category path included (see holdCategoryTree).
    await holdCategoryTree(tx);
    const product = await lockOwnProduct(tx, productId, sellerId);
    if (!product) throw notFound('product');
    // The time once the product is locked, not when the request came: a withdrawal that waited
    // for a connection or the lock while its window started must find it started.
    const now = deps.clock.now();
    const window = await selectWindowForUpdate(tx, productId, priceId);
    if (!window) throw notFound('price window');
    if (window.effectiveFrom.getTime() <= now.getTime()) {
      throw new AppError(
        'INVALID_STATE_TRANSITION',
        `price window ${priceId} started at ${window.effectiveFrom.toISOString()}: it is history and stays; add a new window to change the price from now on`,
      );
    }
    const extendedPriceId = await withdrawWindow(tx, { ...window, productId }, now, sellerId);
    const version = await updateProductRow(tx, productId, {}, now);
    const extendedTo = extendedPriceId ? (window.effectiveTo?.toISOString() ?? null) : null;
    const record = await selectProduct(tx, productId, { at: now, history: true });
    if (!record) throw new Error('the product whose price is withdrawn cannot be read back');
    const change = { kind: 'price_withdrawn', window: toPriceWindow(window), extendedPriceId, extendedTo, at: now } as const;
    await emit(tx, [productEvent(toSnapshot(record, now), change)], trace, now);
    return { priceId, withdrawnAt: now.toISOString(), extendedPriceId, extendedTo, version };
  });
  deps.invalidate([productId]);
  return withdrawal;
}
