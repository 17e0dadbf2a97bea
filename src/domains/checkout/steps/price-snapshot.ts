import type { PurchasableVariant } from '../ports.ts';
import { StepRefused } from '../failures.ts';
import type { StepContext, StepResult } from './types.ts';

/** Lines of one checkout (inventory reserves at most 50 lines at once). */
export const CHECKOUT_LINES_MAX = 50;

export interface SnapshotLine {
  /** The cart item the line comes from (coupons split their discount per line id). */
  lineId: string;
  productId: string;
  variantId: string;
  sellerId: string;
  categoryId: string | null;
  /** The category's ancestors and itself (absent in a snapshot taken before it was kept). */
  categoryPath?: string[];
  sku: string;
  title: string;
  attributes: Record<string, string>;
  unitPrice: number;
  quantity: number;
}

export interface PriceSnapshot {
  currency: string;
  couponCodes: string[];
  lines: SnapshotLine[];
  subtotalAmount: number;
  pricedAt: string;
}

function byId(found: ReadonlyMap<string, PurchasableVariant>): Map<string, PurchasableVariant> {
  return new Map([...found.values()].map((v) => [v.variantId.toLowerCase(), v]));
}

function unavailable(variantId: string, why: string): StepRefused {
  // The variant named in the details, as inventory and the cart name it with this code.
  return new StepRefused('VARIANT_NOT_AVAILABLE', `variant ${variantId} ${why}`, {}, { variantId });
}

/**
 * Fixes what is bought and at which price: the cart's lines, priced by the products domain at this
 * instant. The snapshot is the step's output, so every later step (and a recovery) uses these prices
 * and never asks again.
 */
export async function run(ctx: StepContext): Promise<StepResult<PriceSnapshot>> {
  // The cart as the buyer checked it out, read when the session was opened by this process, else now.
  const cart = ctx.session.openedCart ?? (await ctx.ports.cart.getActiveCart(ctx.session.userId));
  if (!cart || cart.cartId !== ctx.session.cartId) throw new StepRefused('CART_EMPTY', 'the cart was checked out or replaced before the checkout began');
  if (cart.items.length === 0) throw new StepRefused('CART_EMPTY', 'the cart is empty');

  // One line per variant (inventory refuses a variant on two lines).
  const byVariant = new Map<string, { itemId: string; variantId: string; quantity: number }>();
  for (const item of cart.items) {
    const key = item.variantId.toLowerCase();
    const line = byVariant.get(key);
    if (line) line.quantity += item.quantity;
    else byVariant.set(key, { itemId: item.itemId, variantId: key, quantity: item.quantity });
  }
  if (byVariant.size > CHECKOUT_LINES_MAX) {
    throw new StepRefused('CART_LIMIT_EXCEEDED', `a checkout holds at most ${CHECKOUT_LINES_MAX} different variants`);
  }

  // Prices are fixed from the catalog's database, not from a cache that a change reaches at its commit.
  const ids = [...byVariant.keys()];
  const requested = ctx.session.requestedCurrency;
  let variants = byId(await ctx.ports.products.getVariantsForPurchase(ids, ctx.now, requested ? { fresh: true, currency: requested } : { fresh: true }));
  // The cart is priced in one currency: the one the buyer asked for, else as the cart shows it
  // (GET /v1/cart): the list currency of its earliest item that the catalog knows. Prices came in
  // each variant's list currency; a cart that mixes list currencies is asked again in its own,
  // which a variant may have a window in.
  const currency = requested ?? ids.map((id) => variants.get(id)).find((v) => v !== undefined)?.listPrice.currency;
  if (currency === undefined) throw unavailable(ids[0] as string, 'does not exist');
  if (!requested && [...variants.values()].some((v) => v.listPrice.currency !== currency)) {
    variants = byId(await ctx.ports.products.getVariantsForPurchase(ids, ctx.now, { fresh: true, currency }));
  }
  const whose = requested ? 'the currency asked for' : "the currency of this cart (its earliest item's)";

  const lines: SnapshotLine[] = [];
  for (const { itemId, variantId, quantity } of byVariant.values()) {
    const v = variants.get(variantId);
    if (!v) throw unavailable(variantId, 'does not exist');
    if (!v.published) throw unavailable(variantId, 'is not for sale');
    if (!v.price || v.price.currency !== currency) {
      if (v.listPrice.currency === currency) throw unavailable(variantId, 'has no price at the moment');
      throw new StepRefused('UNPROCESSABLE', `variant ${variantId} has no price in ${currency}, ${whose}: remove it or check it out on its own`);
    }
    lines.push({
      lineId: itemId,
      productId: v.productId,
      variantId,
      sellerId: v.sellerId,
      categoryId: v.categoryId ?? null,
      categoryPath: v.categoryPath ?? [],
      sku: v.sku,
      title: v.title,
      attributes: v.attributes,
      unitPrice: v.price.amount,
      quantity,
    });
  }
  const subtotalAmount = lines.reduce((sum, l) => sum + l.unitPrice * l.quantity, 0);
  if (!Number.isSafeInteger(subtotalAmount)) throw new StepRefused('UNPROCESSABLE', `the cart total is too large (at most ${Number.MAX_SAFE_INTEGER} minor units)`);

  return {
    output: { currency, couponCodes: cart.couponCodes.slice(0, 10), lines, subtotalAmount, pricedAt: ctx.now.toISOString() },
    patch: { totals: { currency, subtotalAmount, discountAmount: 0, shippingAmount: 0, totalAmount: subtotalAmount } },
  };
}
