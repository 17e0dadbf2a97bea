import type { ShipmentStatus } from '../../contracts/shipping.ts';

/**
 * How a carrier's scan moves a shipment, pure. Carriers send their scans late, twice and out of
 * order, so the rule looks at when each scan happened (occurredAt), not when it arrived:
 *
 * 1. delivered, returned and cancelled are final: no scan moves a shipment out of them, and a
 *    final scan always applies to a shipment that is not final (a delivered scan that arrives after
 *    a later, stray in_transit one still delivers);
 * 2. a parcel the carrier has taken never goes back to pending or label_created, and one that has
 *    only a label moves on with the first scan of the way, whatever its time;
 * 3. otherwise the latest scan decides: a scan moves the status only if it happened after the
 *    latest scan of the current status (at the same instant, the status further along wins). An
 *    older scan never moves it back; a failed delivery followed by in_transit and out_for_delivery
 *    again (the usual retry) moves back and forth because each scan is newer.
 *
 * So the same scans give the same status whatever order they arrive in (unless they report two
 * different final statuses: the first one reported stays), and a repeated scan changes nothing.
 */
export const FINAL_STATUSES: readonly ShipmentStatus[] = ['delivered', 'returned', 'cancelled'];

/** How far along the way a status is; statuses of equal rank are alternatives at the same point. */
const RANK: Record<ShipmentStatus, number> = {
  pending: 0,
  label_created: 1,
  in_transit: 2,
  out_for_delivery: 3,
  delivery_failed: 3,
  delivered: 4,
  returned: 4,
  cancelled: 4,
};

export function statusRank(status: ShipmentStatus): number {
  return RANK[status];
}

const isFinal = (s: ShipmentStatus) => FINAL_STATUSES.includes(s);
const beforeTransit = (s: ShipmentStatus) => RANK[s] < RANK.in_transit;

export interface TrackedStatus {
  status: ShipmentStatus;
  /** When the latest scan (or the seller's report) of this status happened. */
  at: Date;
}

export type ScanDecision = { outcome: 'moved'; to: ShipmentStatus } | { outcome: 'kept'; why: string };

/** Later in time, then further along, then by name: a total order, so ties are decided the same way every time. */
function isLater(a: TrackedStatus, b: TrackedStatus): boolean {
  if (a.at.getTime() !== b.at.getTime()) return a.at.getTime() > b.at.getTime();
  if (RANK[a.status] !== RANK[b.status]) return RANK[a.status] > RANK[b.status];
  return a.status > b.status;
}

export function decideScan(current: TrackedStatus, scan: TrackedStatus): ScanDecision {
  if (scan.status === current.status) return { outcome: 'kept', why: 'the shipment already has this status' };
  if (isFinal(current.status)) return { outcome: 'kept', why: `the shipment is ${current.status}` };
  if (isFinal(scan.status)) return { outcome: 'moved', to: scan.status };
  if (beforeTransit(scan.status) && !beforeTransit(current.status)) {
    return { outcome: 'kept', why: `the carrier already has the parcel (${current.status})` };
  }
  if (beforeTransit(current.status) && !beforeTransit(scan.status)) return { outcome: 'moved', to: scan.status };
  if (isLater(scan, current)) return { outcome: 'moved', to: scan.status };
  return { outcome: 'kept', why: `an older scan (${scan.status}) than the current status (${current.status})` };
}

/** The state after a scan: its status and the time of the latest scan of that status. */
export function applyScan(current: TrackedStatus, scan: TrackedStatus): TrackedStatus {
  const decision = decideScan(current, scan);
  if (decision.outcome === 'moved') return { status: decision.to, at: scan.at };
  if (scan.status === current.status && scan.at > current.at) return { status: current.status, at: scan.at };
  return current;
}
