import { STEP_NAMES, type SagaPlan, type StepName } from '../saga.ts';
import * as authorizePayment from './authorize-payment.ts';
import * as capturePayment from './capture-payment.ts';
import * as closeCart from './close-cart.ts';
import * as complete from './complete.ts';
import * as confirmReservations from './confirm-reservations.ts';
import * as createOrders from './create-orders.ts';
import * as priceSnapshot from './price-snapshot.ts';
import * as redeemCoupons from './redeem-coupons.ts';
import * as reserveStock from './reserve-stock.ts';
import type { StepModule } from './types.ts';

/** The checkout steps, in the order they run; each file holds a step's run and, beside it, its compensation. */
export const CHECKOUT_STEPS: Record<StepName, StepModule> = {
  price_snapshot: priceSnapshot,
  reserve_stock: reserveStock,
  redeem_coupons: redeemCoupons,
  create_orders: createOrders,
  authorize_payment: authorizePayment,
  capture_payment: capturePayment,
  confirm_reservations: confirmReservations,
  close_cart: closeCart,
  complete,
};

/**
 * The step that takes the buyer's money: it and the steps after it only go forward
 * (SagaPlan.forwardOnly). The capture itself too: a call that failed for a passing reason may have
 * been made (the gateway captured, the answer was lost) or be followed by one that fails (settling
 * the free orders), and giving it up refunded and cancelled a paid sale (found by a review).
 */
const MONEY_TAKEN: StepName = 'capture_payment';

export function planOf(steps: Record<StepName, StepModule>): SagaPlan {
  return {
    order: STEP_NAMES,
    compensable: new Set(STEP_NAMES.filter((s) => steps[s].compensate !== undefined)),
    forwardOnly: new Set(STEP_NAMES.slice(STEP_NAMES.indexOf(MONEY_TAKEN))),
  };
}
