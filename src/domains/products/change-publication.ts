import { withTransaction } from '../../platform/db/pool.ts';
import { AppError, notFound } from '../../platform/http/errors.ts';
import { newId } from '../../platform/ids.ts';
import type { Trace } from '../../platform/messaging/envelope.ts';
import type { ProductsDeps } from './deps.ts';
import { type ProductChange, emit, productEvent } from './events.ts';
import { type PublicationCommand, decidePublication } from './publication.ts';
import { hasCurrentPrice, holdCategoryTree, insertPublications, lockOwnProduct, selectLastPublishedAt, selectProduct, updateProductRow } from './sql.ts';
import { type SellerProductView, toSellerView, toSnapshot } from './views.ts';

/**
 * Publishes or unlists one of the seller's products: the pure lifecycle decides, a
 * product_publications row records the change, and products.product_published.v1 or
 * products.product_unlisted.v1 announces it with the snapshot.
 */
export async function changePublication(
  deps: ProductsDeps,
  sellerId: string,
  productId: string,
  command: PublicationCommand,
  trace: Trace | null,
): Promise<SellerProductView> {
  const view = await withTransaction(deps.pool, async (tx) => {
    await holdCategoryTree(tx);
    const product = await lockOwnProduct(tx, productId, sellerId);
    if (!product) throw notFound('product');
    // The clock is read once the product is held: a publish that waited for its lock while the
    // last price window ended is judged at the time it changes the product (no current price).
    const now = deps.clock.now();
    const decision = decidePublication(product.status, command, { hasCurrentPrice: command === 'publish' && (await hasCurrentPrice(tx, productId, now)) });
    if (!decision.ok) throw new AppError('INVALID_STATE_TRANSITION', decision.reason, { currentStatus: product.status });
    const publishedAt = decision.next === 'published' ? now : await selectLastPublishedAt(tx, productId);
    await insertPublications(tx, [
      {
        id: newId(),
        productId,
        status: decision.next,
        publishedAt,
        unlistedAt: decision.next === 'unlisted' ? now : null,
        changedBy: sellerId,
        createdAt: now,
      },
    ]);
    await updateProductRow(tx, productId, { status: decision.next }, now);
    const record = await selectProduct(tx, productId, { at: now, history: true });
    if (!record) throw new Error('the product being published cannot be read back');
    const change: ProductChange = decision.next === 'published' ? { kind: 'published', at: now } : { kind: 'unlisted', at: now };
    await emit(tx, [productEvent(toSnapshot(record, now), change)], trace, now);
    return toSellerView(record, now);
  });
  deps.invalidate([productId]);
  return view;
}
