/**
 * When a cancelled order gives a coupon back (pure).
 *
 * A checkout makes one order per seller, and a redemption's discount may be spread over several of
 * them (a platform coupon) or lie in one (a seller's coupon only discounts that seller's items).
 * The redemption is released when every order it discounted is cancelled: then nothing the buyer
 * keeps carries the discount. Cancelling one order of a multi-seller checkout keeps the coupon used
 * while another discounted order lives, so a one-use coupon cannot be both kept on the live order
 * and used again.
 */
export function releasesOnCancel(discountedSellerIds: readonly string[], cancelledSellerIds: ReadonlySet<string>): boolean {
  if (discountedSellerIds.length === 0) return false;
  return discountedSellerIds.every((s) => cancelledSellerIds.has(s));
}
