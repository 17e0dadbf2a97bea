import { Type } from '@sinclair/typebox';
import { principalOf } from '../../platform/http/access.ts';
import { PageQuerySchema, ProblemResponse, authProblems, pageOf } from '../../platform/http/schemas.ts';
import type { HttpApp } from '../../platform/http/server.ts';
import { createCoupon } from './create-coupon.ts';
import type { CouponsDeps } from './deps.ts';
import { listSellerCoupons } from './list-coupons.ts';
import { CouponView, CreateCouponBody, couponView } from './schemas.ts';

const tags = ['coupons'];
const RULES_DESCRIPTION =
  'Rules are checked when the coupon is created: every problem comes back at once as a 400 naming the field. ' +
  'A percentage coupon gives discount in basis points (1000 = 10 %) and no amountOff; a fixed_amount coupon gives amountOff as money ' +
  '{ amount, currency } in integer minor units and no discount. The answer shows the coupon the same way (the other field null).';

export function registerCouponRoutes(app: HttpApp, deps: CouponsDeps): void {
  app.post(
    '/v1/seller/coupons',
    {
      config: { access: ['seller'] },
      schema: {
        tags,
        summary: "Create a coupon for your own items",
        description: `${RULES_DESCRIPTION} A seller's coupon only ever discounts that seller's items.`,
        body: CreateCouponBody,
        response: { 201: CouponView, ...authProblems, 409: ProblemResponse },
      },
    },
    async (request, reply) => {
      const { userId } = principalOf(request);
      const coupon = await createCoupon(deps, request.body, { userId, sellerId: userId }, request.trace);
      return reply.status(201).send(couponView(coupon, deps.clock.now()));
    },
  );

  // One list, two owners: a seller's own coupons, and the platform's (seller null) for admins.
  for (const [path, role, summary] of [
    ['/v1/seller/coupons', 'seller', 'Your coupons, newest first'],
    ['/v1/admin/coupons', 'admin', 'Platform-wide coupons, newest first, with their uses'],
  ] as const) {
    app.get(
      path,
      {
        config: { access: [role] },
        schema: {
          tags,
          summary,
          querystring: Type.Object({ ...PageQuerySchema }, { additionalProperties: false }),
          response: { 200: pageOf(CouponView), ...authProblems },
        },
      },
      async (request) => listSellerCoupons(deps, role === 'seller' ? principalOf(request).userId : null, request.query.cursor, request.query.limit),
    );
  }

  app.post(
    '/v1/admin/coupons',
    {
      config: { access: ['admin'] },
      schema: {
        tags,
        summary: 'Create a platform-wide coupon',
        description: `${RULES_DESCRIPTION} A platform coupon covers every seller's items unless rules.sellerIds narrows it.`,
        body: CreateCouponBody,
        response: { 201: CouponView, ...authProblems, 409: ProblemResponse },
      },
    },
    async (request, reply) => {
      const coupon = await createCoupon(deps, request.body, { userId: principalOf(request).userId, sellerId: null }, request.trace);
      return reply.status(201).send(couponView(coupon, deps.clock.now()));
    },
  );
}
