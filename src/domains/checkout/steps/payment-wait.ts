import { StepAbandoned, StepRefused, StepWaiting } from '../failures.ts';
import type { PaymentOutcome } from '../ports.ts';
import type { StepContext } from './types.ts';

export interface PaymentProgress {
  intentId: string;
  /** When the payment was first seen processing. */
  waitingSince: string;
}

/** Statuses meaning the gateway has not answered yet: ask again later, never pay again. */
const UNDECIDED = new Set(['processing', 'pending', 'requires_action']);

/**
 * Turns a payment answer that is not the one wanted into the step's outcome: a decline refuses the
 * step; "processing" makes the session wait (for the webhook event, or the next poll) up to
 * paymentWaitMaxMs, after which the payment is given up and compensated (voided).
 */
export function notYet(ctx: StepContext, outcome: PaymentOutcome, what: string): never {
  if (UNDECIDED.has(outcome.status)) {
    const saved = ctx.saved as Partial<PaymentProgress> | undefined;
    const waitingSince = saved?.intentId === outcome.intentId && saved.waitingSince ? saved.waitingSince : ctx.now.toISOString();
    if (ctx.now.getTime() - new Date(waitingSince).getTime() >= ctx.settings.paymentWaitMaxMs) {
      throw new StepAbandoned('PAYMENT_TIMEOUT', `the payment gateway gave no answer within ${Math.round(ctx.settings.paymentWaitMaxMs / 1000)} s`);
    }
    const progress: PaymentProgress = { intentId: outcome.intentId, waitingSince };
    throw new StepWaiting(`waiting for the payment gateway to ${what}`, { ...progress }, ctx.settings.paymentPollMs, { paymentIntentId: outcome.intentId });
  }
  if (outcome.status === 'failed') {
    throw new StepRefused('PAYMENT_DECLINED', `the payment was declined${outcome.declineCode ? ` (${outcome.declineCode})` : ''}`, {
      paymentIntentId: outcome.intentId,
    });
  }
  throw new StepRefused('PAYMENT_DECLINED', `the payment could not ${what} (it is ${outcome.status})`, { paymentIntentId: outcome.intentId });
}
