import { type Static, Type } from '@sinclair/typebox';
import { CART_QUANTITY_MAX } from '../../contracts/cart.ts';
import { CurrencyCode, MoneySchema, Nullable } from '../../platform/http/schemas.ts';

/** Request and response shapes of the cart routes; every object closed, every string bounded. */
const closed = { additionalProperties: false } as const;
const Uuid = Type.String({ format: 'uuid' });
const Quantity = Type.Integer({ minimum: 1, maximum: CART_QUANTITY_MAX, description: `Units, 1 to ${CART_QUANTITY_MAX}` });

export const CartQuery = Type.Object(
  { currency: Type.Optional(Type.String({ ...CurrencyCode, description: 'Price the cart in this currency (default: the list currency of the earliest item)' })) },
  closed,
);
export type CartQuery = Static<typeof CartQuery>;

export const AddItemBody = Type.Object({ variantId: Uuid, quantity: Quantity }, closed);
export type AddItemBody = Static<typeof AddItemBody>;

export const ChangeItemBody = Type.Object({ quantity: Quantity }, closed);
export type ChangeItemBody = Static<typeof ChangeItemBody>;

export const ItemParams = Type.Object({ itemId: Uuid }, closed);

export const ApplyCouponBody = Type.Object({ code: Type.String({ minLength: 1, maxLength: 64, description: 'The coupon code; case does not matter' }) }, closed);
export type ApplyCouponBody = Static<typeof ApplyCouponBody>;

export const CouponParams = Type.Object({ code: Type.String({ minLength: 1, maxLength: 64 }) }, closed);

export const CartItemView = Type.Object({
  itemId: Uuid,
  productId: Uuid,
  variantId: Uuid,
  sellerId: Nullable(Uuid),
  sku: Nullable(Type.String()),
  title: Nullable(Type.String({ description: 'null when the product is gone from the catalog' })),
  attributes: Type.Record(Type.String(), Type.String()),
  imageUrl: Nullable(Type.String()),
  quantity: Type.Integer(),
  purchasable: Type.Boolean({ description: 'Published and priced now in the cart currency; only these count in the totals' }),
  inStock: Type.Boolean({ description: 'Enough stock now for the quantity (stock is reserved only at checkout)' }),
  unitPrice: Nullable(MoneySchema),
  lineTotal: Nullable(MoneySchema, { description: 'unitPrice × quantity, before coupons (an order item\'s lineTotal is after its discount)' }),
  discount: Nullable(MoneySchema, { description: 'What the applied coupons would take off this line' }),
  addedAt: Type.String({ format: 'date-time' }),
});

export const CartCouponView = Type.Object({
  code: Type.String(),
  valid: Type.Boolean({ description: 'Whether the coupon would apply to the cart as it is now' }),
  reason: Nullable(Type.String({ description: 'Why not, e.g. minimum_not_met, expired, exhausted' })),
  message: Nullable(Type.String()),
  discount: Nullable(MoneySchema),
});

export const CartView = Type.Object({
  cartId: Nullable(Uuid),
  version: Type.Integer({ description: 'Grows with every change of the cart' }),
  currency: Nullable(Type.String()),
  items: Type.Array(CartItemView),
  coupons: Type.Array(CartCouponView),
  subtotal: Nullable(MoneySchema),
  discountTotal: Nullable(MoneySchema),
  total: Nullable(MoneySchema),
  updatedAt: Nullable(Type.String({ format: 'date-time' })),
});
export type CartView = Static<typeof CartView>;
