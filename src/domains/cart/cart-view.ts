import type { CartDeps } from './deps.ts';
import { type PricedCart, type SaleFacts, priceCart } from './price-cart.ts';
import type { CartView } from './schemas.ts';
import { type CartContents, selectCartContents } from './sql.ts';

const money = (amount: number, currency: string | null) => (currency === null ? null : { amount, currency });

/**
 * The buyer's active cart as shown: current prices, stock and coupon discounts (an empty cart when
 * none). `known`: the cart as a change just committed it, so the answer to a change needs no read;
 * with `pricedAs`, that cart's lines and coupons were priced just now too (applying a coupon prices
 * the cart with it before storing it); with `facts`, its variants' catalog and stock were asked
 * for just now (adding an item asks for them to decide).
 */
export async function readCartView(
  deps: CartDeps,
  buyerId: string,
  currency?: string,
  known?: CartContents,
  pricedAs?: PricedCart,
  facts?: SaleFacts,
): Promise<CartView> {
  const cart = known ?? (await selectCartContents(deps.pool, { userId: buyerId }));
  if (!cart) return emptyView(currency ?? null);
  const { coupons } = cart;
  const priced = pricedAs ?? (await priceCart(deps, buyerId, cart.items, coupons.map((c) => c.code), currency, facts));
  const c = priced.currency;
  return {
    cartId: cart.id,
    version: cart.version,
    currency: c,
    items: priced.items.map((p) => ({
      itemId: p.item.id,
      productId: p.item.productId,
      variantId: p.item.variantId,
      sellerId: p.variant?.sellerId ?? null,
      sku: p.variant?.sku ?? null,
      title: p.variant?.title ?? null,
      attributes: p.variant?.attributes ?? {},
      imageUrl: p.variant?.imageUrl ?? null,
      quantity: p.item.quantity,
      purchasable: p.purchasable,
      inStock: p.available >= p.item.quantity,
      unitPrice: p.unitPrice === null ? null : money(p.unitPrice, c),
      lineTotal: p.unitPrice === null ? null : money(p.unitPrice * p.item.quantity, c),
      discount: p.purchasable ? money(p.discount, c) : null,
      addedAt: p.item.addedAt.toISOString(),
    })),
    coupons: priced.coupons.map((o, i) => ({
      code: coupons[i]?.code ?? o.code,
      valid: o.valid,
      reason: o.valid ? null : o.reason,
      message: o.valid ? null : o.message,
      discount: o.valid ? money(o.discountAmount, c) : null,
    })),
    subtotal: money(priced.subtotal, c),
    discountTotal: money(priced.discountTotal, c),
    total: money(priced.subtotal - priced.discountTotal, c),
    updatedAt: cart.updatedAt.toISOString(),
  };
}

function emptyView(currency: string | null): CartView {
  return {
    cartId: null,
    version: 0,
    currency,
    items: [],
    coupons: [],
    subtotal: money(0, currency),
    discountTotal: money(0, currency),
    total: money(0, currency),
    updatedAt: null,
  };
}

