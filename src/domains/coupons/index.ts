import type { Trace } from '../../platform/messaging/envelope.ts';
import type { DomainContext, DomainModule } from '../../platform/module.ts';
import type { AssessInput } from './assess.ts';
import type { CouponsDeps } from './deps.ts';
import type { CouponsPorts } from './ports.ts';
import { type CouponEvaluation, evaluate } from './evaluate.ts';
import { ordersSubscription } from './handlers.ts';
import { type RedeemInput, type RedeemResult, redeem } from './redeem.ts';
import { releaseForCheckout } from './release.ts';
import { registerCouponRoutes } from './routes.ts';

export type { AssessInput as EvaluateCouponsInput } from './assess.ts';
export type { CouponLine, CouponOutcome, LineDiscount, RejectionReason } from './discounts.ts';
export type { CouponEvaluation } from './evaluate.ts';
export type { RedeemInput, RedeemResult, Redemption } from './redeem.ts';

/** What other domains may ask of coupons (wired in src/domains.ts). */
export interface CouponsApi {
  /**
   * What the codes would take off the lines now (reads only): per code, in order, valid with its
   * split over the eligible lines, or the reason it does not apply; and the sum per line.
   */
  evaluate(input: AssessInput): Promise<CouponEvaluation>;
  /**
   * Redeems all the codes for the checkout session atomically, or throws the first refusal as an
   * AppError (COUPON_NOT_APPLICABLE 422 with extensions.reason, COUPON_EXHAUSTED 409,
   * COUPON_ALREADY_USED 409). Never exceeds max_uses or one-per-customer under concurrency.
   * Idempotent per (coupon, session): a retry returns the first result. Checkout calls it without
   * codes too: the buyer's checkout is then noted, so that a first-order coupon of the buyer's
   * other checkouts is refused while this one may become an order.
   */
  redeem(input: RedeemInput): Promise<RedeemResult>;
  /** Checkout's compensation: releases the session's redemptions, or its note (idempotent). */
  releaseForCheckout(checkoutSessionId: string, reason: string, trace?: Trace | null): Promise<{ released: number }>;
}

export function createCouponsModule(ctx: DomainContext, ports: CouponsPorts): DomainModule & { api: CouponsApi } {
  const deps: CouponsDeps = { pool: ctx.pool, clock: ctx.clock, log: ctx.log, catalog: ports.catalog, accounts: ports.accounts };
  return {
    name: 'coupons',
    subscriptions: [ordersSubscription()],
    routes: (app) => registerCouponRoutes(app, deps),
    api: {
      evaluate: (input) => evaluate(deps, input),
      redeem: (input) => redeem(deps, input),
      releaseForCheckout: (checkoutSessionId, reason, trace) => releaseForCheckout(deps, checkoutSessionId, reason, trace ?? null),
    },
  };
}
