/**
 * The reservation lifecycle as a pure decision: given a reservation's state, a command and the
 * time, what happens. The I/O (locking the row, moving the units, writing events) lives in the
 * use-case files, which apply the decision.
 *
 *   active ──confirm (before expires_at)──▶ confirmed   units leave reserved and total (a sale)
 *   active ──release──────────────────────▶ released    units go back to available
 *   active ──expire (at/after expires_at)─▶ expired     units go back to available
 *
 * Repeating the command that produced the current state changes nothing (retries are safe).
 * Confirming a reservation that is released, expired or past its expires_at fails clearly.
 */
export const RESERVATION_STATUSES = ['active', 'confirmed', 'released', 'expired'] as const;
export type ReservationStatus = (typeof RESERVATION_STATUSES)[number];

export interface ReservationState {
  status: ReservationStatus;
  expiresAt: Date;
}

export type ReservationCommand = { type: 'confirm' } | { type: 'release'; reason: string } | { type: 'expire' };

export type Decision =
  | { outcome: 'transition'; to: 'confirmed'; stock: 'sell' }
  | { outcome: 'transition'; to: 'released' | 'expired'; stock: 'return' }
  /** Nothing to do: the command already took effect, or the reservation is not due to expire. */
  | { outcome: 'unchanged' }
  | { outcome: 'rejected'; code: 'RESERVATION_NOT_ACTIVE'; detail: string };

const rejected = (detail: string): Decision => ({ outcome: 'rejected', code: 'RESERVATION_NOT_ACTIVE', detail });

export function decide(state: ReservationState, command: ReservationCommand, now: Date): Decision {
  const due = now.getTime() >= state.expiresAt.getTime();
  switch (command.type) {
    case 'confirm':
      if (state.status === 'confirmed') return { outcome: 'unchanged' };
      if (state.status !== 'active') return rejected(`the reservation was ${state.status}; its stock is no longer held`);
      if (due) return rejected(`the reservation expired at ${state.expiresAt.toISOString()}; its stock is no longer held`);
      return { outcome: 'transition', to: 'confirmed', stock: 'sell' };
    case 'release':
      if (state.status === 'released' || state.status === 'expired') return { outcome: 'unchanged' };
      if (state.status === 'confirmed') return rejected('the reservation was confirmed: its stock was sold and cannot be released');
      return { outcome: 'transition', to: 'released', stock: 'return' };
    case 'expire':
      if (state.status !== 'active' || !due) return { outcome: 'unchanged' };
      return { outcome: 'transition', to: 'expired', stock: 'return' };
  }
}
