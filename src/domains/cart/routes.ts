import { principalOf } from '../../platform/http/access.ts';
import { ProblemResponse, authProblems } from '../../platform/http/schemas.ts';
import type { HttpApp } from '../../platform/http/server.ts';
import { applyCoupon, removeCoupon } from './cart-coupons.ts';
import { addItem, changeItemQuantity, removeItem } from './cart-items.ts';
import { readCartView } from './cart-view.ts';
import type { CartDeps } from './deps.ts';
import { AddItemBody, ApplyCouponBody, CartQuery, CartView, ChangeItemBody, CouponParams, ItemParams } from './schemas.ts';

const tags = ['cart'];
const access = { access: ['buyer'] as const };
/** Items and coupon removal: not found, or a conflict (stock, limits, the cart checked out meanwhile). */
const problems = { ...authProblems, 404: ProblemResponse, 409: ProblemResponse };
/** Applying a coupon may also find it not applicable to the cart (422). */
const couponProblems = { ...problems, 422: ProblemResponse };

/** Every change answers with the cart as it is now (priced, with its coupons' discounts). */
export function registerCartRoutes(app: HttpApp, deps: CartDeps): void {
  const view = (buyerId: string, currency?: string) => readCartView(deps, buyerId, currency);

  app.get(
    '/v1/cart',
    {
      config: access,
      schema: {
        tags,
        summary: 'Your active cart with current prices and the discount each applied coupon would give',
        description: 'An empty cart (cartId null) when you have none. Prices are not kept in the cart: they are fixed at checkout.',
        querystring: CartQuery,
        response: { 200: CartView, ...authProblems },
      },
    },
    async (request) => readCartView(deps, principalOf(request).userId, request.query.currency),
  );

  app.post(
    '/v1/cart/items',
    {
      config: access,
      schema: {
        tags,
        summary: 'Add a variant (or more of one already in the cart)',
        description:
          'The variant must be published, priced and in stock for the whole line now: priced in its list currency, or in `?currency=` when given. 201 for a new line, 200 when the line grew. ' +
          'Like every change of the cart, it answers the cart as GET /v1/cart does, priced in `?currency=` when given.',
        body: AddItemBody,
        querystring: CartQuery,
        response: { 200: CartView, 201: CartView, ...problems },
      },
    },
    async (request, reply) => {
      const buyerId = principalOf(request).userId;
      const { isNewLine, cart, facts } = await addItem(deps, buyerId, request.body, request.trace, request.query.currency);
      return reply.status(isNewLine ? 201 : 200).send(await readCartView(deps, buyerId, request.query.currency, cart, undefined, facts));
    },
  );

  app.patch(
    '/v1/cart/items/:itemId',
    {
      config: access,
      schema: { tags, summary: 'Change the quantity of one of your cart items', params: ItemParams, querystring: CartQuery, body: ChangeItemBody, response: { 200: CartView, ...problems } },
    },
    async (request) => {
      const buyerId = principalOf(request).userId;
      await changeItemQuantity(deps, buyerId, request.params.itemId, request.body.quantity, request.trace, request.query.currency);
      return view(buyerId, request.query.currency);
    },
  );

  app.delete(
    '/v1/cart/items/:itemId',
    {
      config: access,
      schema: { tags, summary: 'Remove one of your cart items', params: ItemParams, querystring: CartQuery, response: { 200: CartView, ...problems } },
    },
    async (request) => {
      const buyerId = principalOf(request).userId;
      await removeItem(deps, buyerId, request.params.itemId, request.trace);
      return view(buyerId, request.query.currency);
    },
  );

  app.post(
    '/v1/cart/coupons',
    {
      config: access,
      schema: {
        tags,
        summary: 'Apply a coupon code',
        description:
          'The coupon must exist (else 404) and apply to the cart as it is now: 422 COUPON_NOT_APPLICABLE with extensions.reason ' +
          '(e.g. minimum_not_met, expired, no_eligible_items, currency_mismatch), 409 COUPON_EXHAUSTED or COUPON_ALREADY_USED. 201 when applied now, 200 when it was applied already. ' +
          '`?currency=` checks it in the currency the buyer will pay in (as GET /v1/cart?currency=), and the cart is answered priced in it.',
        body: ApplyCouponBody,
        querystring: CartQuery,
        response: { 200: CartView, 201: CartView, ...couponProblems },
      },
    },
    async (request, reply) => {
      const buyerId = principalOf(request).userId;
      const { currency } = request.query;
      const { added, cart, priced } = await applyCoupon(deps, buyerId, request.body.code, currency);
      return reply.status(added ? 201 : 200).send(await readCartView(deps, buyerId, currency, cart, priced));
    },
  );

  app.delete(
    '/v1/cart/coupons/:code',
    {
      config: access,
      schema: { tags, summary: 'Remove an applied coupon code', params: CouponParams, querystring: CartQuery, response: { 200: CartView, ...problems } },
    },
    async (request) => {
      const buyerId = principalOf(request).userId;
      await removeCoupon(deps, buyerId, request.params.code);
      return view(buyerId, request.query.currency);
    },
  );
}
