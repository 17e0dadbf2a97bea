import type { OrderCancelledV1 } from '../../contracts/orders.ts';
import type { ProductCreatedV1, ProductUpdatedV1 } from '../../contracts/products.ts';
import type { Subscription } from '../../platform/messaging/subscription.ts';
import { giveBackCancelledOrder } from './cancelled-order-stock.ts';
import type { InventoryDeps } from './deps.ts';
import { createStockItems } from './receive-stock.ts';

/**
 * A stock item per variant, created when the products domain announces the variant (a product
 * created, or updated with new variants). Replays change nothing: one item per variant.
 */
export const catalogSubscription: Subscription = {
  consumer: 'inventory.catalog',
  domain: 'inventory',
  events: ['products.product_created.v1', 'products.product_updated.v1'],
  async handle(ctx, event) {
    const product = event.data as ProductCreatedV1 | ProductUpdatedV1;
    const variants = product.variants.map((v) => ({ variantId: v.variantId, productId: product.productId, sellerId: product.sellerId, sku: v.sku }));
    const created = await createStockItems(ctx.tx, variants, ctx.now);
    await ctx.emit(created);
  },
};

/**
 * A cancelled order gives its stock back: its reservation is released while still active, or the
 * units sold to it are restocked (see cancelled-order-stock.ts). Replays change nothing.
 */
export function ordersSubscription(deps: Pick<InventoryDeps, 'soldOut'>): Subscription {
  return {
    consumer: 'inventory.orders',
    domain: 'inventory',
    events: ['orders.order_cancelled.v1'],
    async handle(ctx, event) {
      const order = event.data as OrderCancelledV1;
      const { variantIds } = await giveBackCancelledOrder(
        ctx.tx,
        { orderId: order.orderId, buyerId: order.buyerId, sellerId: order.sellerId, checkoutSessionId: order.checkoutSessionId, reason: order.reason, wasPaid: order.wasPaid },
        ctx.now,
        ctx.trace,
      );
      // Before the commit, unlike the API paths: a reserve racing in between may mark the variant
      // sold out again, for one soldOutMemoMs at most.
      deps.soldOut.forget(variantIds);
    },
  };
}
