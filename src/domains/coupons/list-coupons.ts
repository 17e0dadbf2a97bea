import { decodeCursor, encodeCursor, isCursorInstant } from '../../platform/http/cursor.ts';
import { AppError } from '../../platform/http/errors.ts';
import { isUuid } from '../../platform/ids.ts';
import type { CouponsDeps } from './deps.ts';
import { type CouponView, couponView } from './schemas.ts';
import { selectSellerCoupons } from './sql.ts';

/** A seller's own coupons, or the platform's (sellerId null, for admins), newest first, one page. */
export async function listSellerCoupons(
  deps: CouponsDeps,
  sellerId: string | null,
  cursor: string | undefined,
  limit: number,
): Promise<{ items: CouponView[]; nextCursor: string | null }> {
  const scope = `coupons:${sellerId ?? 'platform'}`;
  const after = decodeCursor<{ createdAt: string; id: string }>(scope, cursor, ['createdAt', 'id']);
  if (after && (!isUuid(after.id) || !isCursorInstant(after.createdAt))) throw new AppError('INVALID_CURSOR');
  const rows = await selectSellerCoupons(deps.pool, sellerId, after, limit + 1);
  const page = rows.slice(0, limit);
  const last = page.at(-1);
  return {
    items: page.map((c) => couponView(c, deps.clock.now())),
    nextCursor: rows.length > limit && last ? encodeCursor(scope, { createdAt: last.createdAt.toISOString(), id: last.id }) : null,
  };
}
