import { CouponCreatedV1 } from '../../contracts/coupons.ts';
import { isUniqueViolation, withTransaction } from '../../platform/db/pool.ts';
import { AppError } from '../../platform/http/errors.ts';
import { newId } from '../../platform/ids.ts';
import type { Trace } from '../../platform/messaging/envelope.ts';
import { appendEvents } from '../../platform/messaging/outbox.ts';
import { type CouponDraft, type CouponRules, rulesToRows, validateCouponDraft } from './coupon-rules.ts';
import type { CouponsDeps } from './deps.ts';
import type { CouponAccounts, CouponCatalog } from './ports.ts';
import { CODE_UNIQUE_CONSTRAINT, type CouponRecord, insertCoupon, insertRules, selectCouponById } from './sql.ts';

/**
 * What in a coupon's rules names nothing it could ever discount: a product that does not exist (or,
 * for a seller's coupon, is another seller's: a seller coupon discounts only its seller's items),
 * a category that does not exist; for a platform coupon, a "seller" who is not one, and a product of
 * a seller its rules.sellerIds leave out (a line must meet both). Asked of the products and
 * accounts domains' public APIs.
 */
async function rulesAimedAtNothing(catalog: CouponCatalog, accounts: CouponAccounts, rules: CouponRules, sellerId: string | null): Promise<string[]> {
  const problems: string[] = [];
  // A seller's own coupon names its seller in rules.sellerIds (coupon-rules.ts): only a platform
  // coupon's list was chosen by its author.
  const namedSellers = sellerId === null ? rules.sellerIds : undefined;
  if (namedSellers && namedSellers.length > 0) {
    const users = await Promise.all(namedSellers.map((id) => accounts.getUser(id)));
    const notSellers = namedSellers.filter((_, i) => !users[i]?.roles.includes('seller'));
    if (notSellers.length > 0) problems.push(`rules.sellerIds names users who are not sellers: ${notSellers.join(', ')}`);
  }
  if (rules.productIds && rules.productIds.length > 0) {
    // Rule ids are lowercase once validated (coupon-rules.ts), as the products domain keys them.
    const sellers = await catalog.productSellers(rules.productIds);
    const unknown = rules.productIds.filter((id) => {
      const owner = sellers.get(id);
      return owner === undefined || (sellerId !== null && owner !== sellerId);
    });
    if (unknown.length > 0) problems.push(`rules.productIds names products that ${sellerId ? 'are not yours' : 'do not exist'}: ${unknown.join(', ')}`);
    const leftOut = namedSellers
      ? rules.productIds.filter((id) => {
          const owner = sellers.get(id);
          return owner !== undefined && !namedSellers.includes(owner);
        })
      : [];
    if (leftOut.length > 0) problems.push(`rules.productIds names products of sellers rules.sellerIds leaves out: ${leftOut.join(', ')}`);
  }
  if (rules.categoryIds && rules.categoryIds.length > 0) {
    const known = new Set((await catalog.listCategories()).map((c) => c.id));
    const unknown = rules.categoryIds.filter((id) => !known.has(id));
    if (unknown.length > 0) problems.push(`rules.categoryIds names categories that do not exist: ${unknown.join(', ')}`);
  }
  return problems;
}

/**
 * Creates a seller's coupon (creator.sellerId = the seller) or a platform-wide one (null, by an
 * admin). Every problem of the draft comes back at once as a 400; the database decides the code's
 * uniqueness, so two concurrent creations of one code make one coupon.
 */
export async function createCoupon(
  deps: CouponsDeps,
  draft: CouponDraft,
  creator: { userId: string; sellerId: string | null },
  trace: Trace | null,
): Promise<CouponRecord> {
  const now = deps.clock.now();
  const check = validateCouponDraft(draft, { sellerId: creator.sellerId }, now);
  if (!check.ok) {
    throw new AppError('VALIDATION_FAILED', check.problems.join('; '), { errors: check.problems.map((message) => ({ location: 'body', message })) });
  }
  const c = check.coupon;
  const aimless = await rulesAimedAtNothing(deps.catalog, deps.accounts, c.rules, creator.sellerId);
  if (aimless.length > 0) {
    throw new AppError('VALIDATION_FAILED', aimless.join('; '), { errors: aimless.map((message) => ({ location: 'body', message })) });
  }
  const id = newId();
  return withTransaction(deps.pool, async (tx) => {
    try {
      await insertCoupon(tx, { ...c, id, createdBy: creator.userId, now });
    } catch (error) {
      if (isUniqueViolation(error, CODE_UNIQUE_CONSTRAINT)) throw new AppError('COUPON_CODE_TAKEN', `a coupon with the code ${c.code} exists`);
      throw error;
    }
    await insertRules(tx, id, rulesToRows(c.rules).map((r) => ({ ...r, id: newId() })), now);
    const data: CouponCreatedV1 = {
      couponId: id,
      code: c.code,
      sellerId: c.sellerId,
      type: c.type,
      discount: c.discount,
      currency: c.currency,
      maxUses: c.maxUses,
      validFrom: c.validFrom.toISOString(),
      validTo: c.validTo?.toISOString() ?? null,
      rules: c.rules,
      createdBy: creator.userId,
      createdAt: now.toISOString(),
    };
    await appendEvents(tx, 'coupons', [{ type: CouponCreatedV1.type, aggregateId: id, aggregateType: 'coupon', data }], trace, now);
    return (await selectCouponById(tx, id))!;
  });
}
