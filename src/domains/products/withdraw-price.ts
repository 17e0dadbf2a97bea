import { PriceWithdrawnV1 } from '../../contracts/products.ts';
import { withTransaction } from '../../platform/db/pool.ts';
import { AppError, notFound } from '../../platform/http/errors.ts';
import type { Trace } from '../../platform/messaging/envelope.ts';
import type { ProductsDeps } from './deps.ts';
import { AGGREGATE_TYPE, emit } from './events.ts';
import { lockOwnProduct, selectWindowForUpdate, updateProductRow, withdrawWindow } from './sql.ts';

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
 * products.price_withdrawn.v1.
 */
export async function withdrawPriceWindow(deps: ProductsDeps, sellerId: string, productId: string, priceId: string, trace: Trace | null): Promise<PriceWithdrawal> {
  const withdrawal = await withTransaction(deps.pool, async (tx) => {
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
    const data: PriceWithdrawnV1 = {
      productId,
      sellerId,
      version,
      variantId: window.variantId,
      sku: window.sku,
      priceId,
      currency: window.currency,
      basePrice: window.basePrice,
      discount: window.discount,
      effectiveFrom: window.effectiveFrom.toISOString(),
      effectiveTo: window.effectiveTo?.toISOString() ?? null,
      extendedPriceId,
      extendedTo,
      withdrawnAt: now.toISOString(),
    };
    await emit(tx, [{ type: PriceWithdrawnV1.type, aggregateId: productId, aggregateType: AGGREGATE_TYPE, data }], trace, now);
    return { priceId, withdrawnAt: now.toISOString(), extendedPriceId, extendedTo, version };
  });
  deps.invalidate([productId]);
  return withdrawal;
}
