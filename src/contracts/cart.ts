import { type Static, Type } from '@sinclair/typebox';
import { defineEvent } from './define.ts';
import { registerContracts } from './registry.ts';

/**
 * Events of the cart domain (outbox table carts_outbox_events). A cart holds intent, not prices,
 * so no event carries a price. Patterns, not `format`, so the contract checker needs no format
 * registry.
 */
const Uuid = Type.String({ pattern: '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$', maxLength: 36 });
const Instant = Type.String({ pattern: '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d+)?Z$', maxLength: 40 });
const Quantity = Type.Integer({ minimum: 1, maximum: 999 });
const closed = { additionalProperties: false } as const;

/** Bounds of a cart, shared by the cart routes and these contracts. */
export const CART_ITEMS_MAX = 50;
export const CART_COUPONS_MAX = 5;
export const CART_QUANTITY_MAX = 999;

const itemFacts = {
  cartId: Uuid,
  buyerId: Uuid,
  itemId: Uuid,
  productId: Uuid,
  variantId: Uuid,
};

export const CartItemAddedV1 = defineEvent(
  'carts.item_added.v1',
  Type.Object(
    {
      ...itemFacts,
      /** Units added by this request. */
      addedQuantity: Quantity,
      /** The line's quantity after the change (more than addedQuantity when the variant was in the cart). */
      quantity: Quantity,
      addedAt: Instant,
    },
    closed,
  ),
);
export type CartItemAddedV1 = Static<typeof CartItemAddedV1.schema>;

export const CartItemQuantityChangedV1 = defineEvent(
  'carts.item_quantity_changed.v1',
  Type.Object({ ...itemFacts, previousQuantity: Quantity, quantity: Quantity, changedAt: Instant }, closed),
);
export type CartItemQuantityChangedV1 = Static<typeof CartItemQuantityChangedV1.schema>;

export const CartItemRemovedV1 = defineEvent(
  'carts.item_removed.v1',
  Type.Object({ ...itemFacts, quantity: Quantity, removedAt: Instant }, closed),
);
export type CartItemRemovedV1 = Static<typeof CartItemRemovedV1.schema>;

export const CartCheckedOutV1 = defineEvent(
  'carts.checked_out.v1',
  Type.Object(
    {
      cartId: Uuid,
      buyerId: Uuid,
      checkoutSessionId: Uuid,
      items: Type.Array(Type.Object({ itemId: Uuid, productId: Uuid, variantId: Uuid, quantity: Quantity }, closed), { maxItems: CART_ITEMS_MAX }),
      couponCodes: Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { maxItems: CART_COUPONS_MAX }),
      checkedOutAt: Instant,
    },
    closed,
  ),
);
export type CartCheckedOutV1 = Static<typeof CartCheckedOutV1.schema>;

registerContracts(CartItemAddedV1, CartItemQuantityChangedV1, CartItemRemovedV1, CartCheckedOutV1);
