import { describe, expect, it } from 'vitest';
import type { ShipmentStatus } from '../../src/contracts/shipping.ts';
import { type TrackedStatus, applyScan, decideScan } from '../../src/domains/shipping/status-rules.ts';

const at = (minute: number) => new Date(Date.UTC(2026, 10, 24, 10, minute));
const scan = (status: ShipmentStatus, minute: number): TrackedStatus => ({ status, at: at(minute) });

/** The seller's report that starts every shipment: in transit since minute 0. */
const shipped = scan('in_transit', 0);

function permutations<T>(items: readonly T[]): T[][] {
  if (items.length <= 1) return [[...items]];
  return items.flatMap((item, i) => permutations([...items.slice(0, i), ...items.slice(i + 1)]).map((rest) => [item, ...rest]));
}

const fold = (scans: readonly TrackedStatus[]) => scans.reduce(applyScan, shipped).status;

describe('a carrier scan', () => {
  it('moves the status when it is newer than the current one', () => {
    expect(decideScan(shipped, scan('out_for_delivery', 5))).toEqual({ outcome: 'moved', to: 'out_for_delivery' });
    // A failed attempt, then the parcel goes round again: each scan is newer, so each one moves it.
    expect(decideScan(scan('delivery_failed', 6), scan('in_transit', 7))).toEqual({ outcome: 'moved', to: 'in_transit' });
  });

  it('never moves the status back because of an older scan', () => {
    expect(decideScan(scan('out_for_delivery', 5), scan('in_transit', 3))).toMatchObject({ outcome: 'kept' });
    expect(decideScan(scan('delivery_failed', 6), scan('out_for_delivery', 5))).toMatchObject({ outcome: 'kept' });
  });

  it('at the same instant, lets the status further along win', () => {
    expect(decideScan(scan('out_for_delivery', 5), scan('in_transit', 5))).toMatchObject({ outcome: 'kept' });
    expect(decideScan(scan('in_transit', 5), scan('out_for_delivery', 5))).toEqual({ outcome: 'moved', to: 'out_for_delivery' });
  });

  it('never moves a delivered, returned or cancelled shipment, however new the scan', () => {
    for (const final of ['delivered', 'returned', 'cancelled'] as const) {
      expect(decideScan(scan(final, 5), scan('in_transit', 50))).toMatchObject({ outcome: 'kept' });
      expect(decideScan(scan(final, 5), scan('out_for_delivery', 50))).toMatchObject({ outcome: 'kept' });
    }
    expect(decideScan(scan('delivered', 5), scan('returned', 50))).toMatchObject({ outcome: 'kept' });
  });

  it('delivers on a delivered scan even when it is older than a stray later scan', () => {
    expect(decideScan(scan('in_transit', 9), scan('delivered', 8))).toEqual({ outcome: 'moved', to: 'delivered' });
  });

  it('never takes a parcel the carrier has back to label_created or pending', () => {
    expect(decideScan(shipped, scan('label_created', 30))).toMatchObject({ outcome: 'kept' });
    expect(decideScan(scan('out_for_delivery', 5), scan('pending', 30))).toMatchObject({ outcome: 'kept' });
    expect(decideScan(scan('label_created', 5), scan('in_transit', 1))).toEqual({ outcome: 'moved', to: 'in_transit' });
  });

  it('changes nothing when repeated', () => {
    const state = applyScan(shipped, scan('out_for_delivery', 5));
    expect(applyScan(state, scan('out_for_delivery', 5))).toEqual(state);
    expect(decideScan(state, scan('out_for_delivery', 5))).toMatchObject({ outcome: 'kept' });
  });

  it('keeps the time of the latest scan of the current status, so an older scan of another status stays older', () => {
    const state = applyScan(applyScan(shipped, scan('in_transit', 4)), scan('delivery_failed', 3));
    expect(state).toEqual({ status: 'in_transit', at: at(4) });
  });

  it.each([
    ['a plain delivery', [scan('in_transit', 2), scan('out_for_delivery', 5), scan('delivered', 6)], 'delivered'],
    ['a failed attempt, then delivery', [scan('out_for_delivery', 5), scan('delivery_failed', 6), scan('in_transit', 7), scan('out_for_delivery', 8), scan('delivered', 9)], 'delivered'],
    ['a failed attempt, then on the way again', [scan('out_for_delivery', 5), scan('delivery_failed', 6), scan('in_transit', 7), scan('label_created', 1)], 'in_transit'],
    ['a stray scan after delivery', [scan('out_for_delivery', 5), scan('delivered', 6), scan('in_transit', 7)], 'delivered'],
    ['a return after failed attempts', [scan('out_for_delivery', 5), scan('delivery_failed', 6), scan('returned', 9)], 'returned'],
    ['scans of one instant', [scan('in_transit', 5), scan('out_for_delivery', 5), scan('delivery_failed', 5)], 'out_for_delivery'],
  ] as const)('gives the same status for %s whatever order the scans arrive in, with duplicates', (_name, journey, expected) => {
    for (const order of permutations(journey)) {
      expect(fold(order), order.map((s) => s.status).join(' → ')).toBe(expected);
      expect(fold([...order, ...order]), 'delivered twice').toBe(expected);
    }
  });
});
