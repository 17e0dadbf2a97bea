import { type ReleaseReason, RedemptionReleasedV1 } from '../../contracts/coupons.ts';
import { type Tx, withTransaction } from '../../platform/db/pool.ts';
import { isUuid, newId } from '../../platform/ids.ts';
import type { Trace } from '../../platform/messaging/envelope.ts';
import { type NewEvent, appendEvents } from '../../platform/messaging/outbox.ts';
import type { CouponsDeps } from './deps.ts';
import {
  type RedemptionRecord,
  giveCustomerUseBack,
  giveUseBack,
  insertRelease,
  lockAndMarkCheckoutReleased,
  releaseBuyerCheckout,
  selectSessionRedemptions,
} from './sql.ts';

export const RELEASE_DETAIL_MAX = 500;

/**
 * Gives redemptions back: one coupon_redemption_releases row each (unique, so a second release of
 * the same redemption, concurrent or later, does nothing), then the coupon's counter and the
 * buyer's one-per-customer counter go down. Returns the events to write.
 */
export async function releaseRedemptions(
  tx: Tx,
  redemptions: readonly RedemptionRecord[],
  reason: ReleaseReason,
  detail: string | null,
  now: Date,
): Promise<NewEvent[]> {
  const events: NewEvent[] = [];
  // Coupon rows in id order, as redeem takes them.
  for (const r of [...redemptions].sort((a, b) => (a.couponId < b.couponId ? -1 : 1))) {
    if (r.released) continue;
    if (!(await insertRelease(tx, { id: newId(), redemptionId: r.id, reason, now }))) continue;
    const uses = await giveUseBack(tx, r.couponId, now);
    if (r.onePerCustomer) await giveCustomerUseBack(tx, r.couponId, r.userId, now);
    const data: RedemptionReleasedV1 = {
      redemptionId: r.id,
      couponId: r.couponId,
      code: r.code,
      sellerId: r.sellerId,
      buyerId: r.userId,
      checkoutSessionId: r.checkoutSessionId,
      amount: r.amount,
      currency: r.currency,
      usesCount: uses.usesCount,
      maxUses: uses.maxUses,
      reason,
      detail: detail === null ? null : detail.slice(0, RELEASE_DETAIL_MAX),
      releasedAt: now.toISOString(),
    };
    events.push({ type: RedemptionReleasedV1.type, aggregateId: r.couponId, aggregateType: 'coupon', data });
  }
  return events;
}

/**
 * Checkout's compensation: releases every active redemption of the session (reason
 * checkout_failed, the caller's words as detail), or the note of a session without coupons, and
 * marks the session released, so that a coupon step of it still running elsewhere (its session was
 * taken over) is refused when it comes to write. Serialised with the session's redemption by its
 * lock: a redemption that committed first is seen and released. Idempotent. Returns how many
 * redemptions this call released.
 */
export async function releaseForCheckout(deps: CouponsDeps, checkoutSessionId: string, detail: string, trace: Trace | null = null): Promise<{ released: number }> {
  if (!isUuid(checkoutSessionId)) throw new RangeError('checkoutSessionId must be a UUID');
  const now = deps.clock.now();
  return withTransaction(deps.pool, async (tx) => {
    await lockAndMarkCheckoutReleased(tx, checkoutSessionId, now);
    const redemptions = await selectSessionRedemptions(tx, checkoutSessionId);
    // A checkout without coupons was noted instead (redeem without codes): it makes no order now.
    if (redemptions.length === 0) await releaseBuyerCheckout(tx, checkoutSessionId, now);
    const events = await releaseRedemptions(tx, redemptions, 'checkout_failed', detail || null, now);
    await appendEvents(tx, 'coupons', events, trace, now);
    return { released: events.length };
  });
}
