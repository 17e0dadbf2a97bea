/**
 * How money of a captured allocation is split between the seller and the platform, and how a
 * refund reverses that split. Pure integer arithmetic (BigInt inside, so that amount × rate cannot
 * lose precision), rounding down in the seller's favour; every split adds up exactly.
 */
export const BPS_DENOMINATOR = 10_000;

export interface CaptureSplit {
  sellerAmount: number;
  commissionAmount: number;
}

export function captureSplit(allocationAmount: number, commissionBps: number): CaptureSplit {
  assertAmount(allocationAmount);
  if (!Number.isInteger(commissionBps) || commissionBps < 0 || commissionBps > BPS_DENOMINATOR) {
    throw new RangeError(`commission must be 0..${BPS_DENOMINATOR} basis points, got ${commissionBps}`);
  }
  const commissionAmount = Number((BigInt(allocationAmount) * BigInt(commissionBps)) / BigInt(BPS_DENOMINATOR));
  return { sellerAmount: allocationAmount - commissionAmount, commissionAmount };
}

export interface RefundSplitInput {
  /** What the allocation paid (captured). */
  allocationAmount: number;
  /** Commission credited when it was captured. */
  commissionCharged: number;
  /** Commission already given back by earlier refunds. */
  commissionReversed: number;
  /** Earlier refunds of the allocation that succeeded. */
  refundedBefore: number;
  /** This refund. */
  refundAmount: number;
}

export interface RefundSplit {
  /** Taken back from the seller's payable. */
  sellerAmount: number;
  /** Taken back from the platform's commission. */
  commissionAmount: number;
}

/**
 * The commission given back is computed on the running total (commission × refunded / paid,
 * rounded down) minus what earlier refunds gave back. So a series of partial refunds reverses
 * exactly the commission charged once the whole allocation is refunded, and the seller's payable
 * for the allocation never goes below zero along the way.
 */
export function refundSplit(input: RefundSplitInput): RefundSplit {
  const { allocationAmount, commissionCharged, commissionReversed, refundedBefore, refundAmount } = input;
  for (const v of [allocationAmount, commissionCharged, commissionReversed, refundedBefore]) assertAmount(v);
  assertAmount(refundAmount);
  if (refundAmount === 0) throw new RangeError('a refund moves a positive amount');
  if (commissionCharged > allocationAmount) throw new RangeError('commission exceeds the allocation');
  const refundedAfter = refundedBefore + refundAmount;
  if (refundedAfter > allocationAmount) throw new RangeError(`refunds (${refundedAfter}) exceed the allocation (${allocationAmount})`);
  const dueAfter =
    allocationAmount === 0 ? 0n : (BigInt(commissionCharged) * BigInt(refundedAfter)) / BigInt(allocationAmount);
  const commissionAmount = Number(dueAfter) - commissionReversed;
  if (commissionAmount < 0 || commissionAmount > refundAmount) {
    throw new RangeError(`the commission already reversed (${commissionReversed}) does not match the refunds before (${refundedBefore})`);
  }
  return { sellerAmount: refundAmount - commissionAmount, commissionAmount };
}

function assertAmount(value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`amount must be a non-negative safe integer, got ${value}`);
}
