import type { PaymentAuthorizedV1, PaymentFailedV1 } from '../../contracts/payments.ts';
import type { EventEnvelope } from '../../platform/messaging/envelope.ts';
import type { HandlerContext, Subscription } from '../../platform/messaging/subscription.ts';
import { nudgeSession } from './sql.ts';

export const PAYMENT_OUTCOME_EVENTS = ['payments.payment_authorized.v1', 'payments.payment_failed.v1'] as const;

/**
 * A payment's outcome became known (the gateway's webhook): the session waiting for it is made due
 * at once, and `woken` lets this process's recovery worker look (after the transaction commits; its
 * poll is the safety net). The session asks payments itself; the event only says "ask now".
 */
export function paymentOutcomeSubscription(woken: () => void): Subscription {
  return {
    consumer: 'checkout.payments',
    domain: 'checkout',
    events: PAYMENT_OUTCOME_EVENTS,
    async handle(ctx: HandlerContext, envelope: EventEnvelope): Promise<void> {
      const data = envelope.data as PaymentAuthorizedV1 | PaymentFailedV1;
      if (!data.checkoutSessionId) return;
      if (await nudgeSession(ctx.tx, data.checkoutSessionId, ctx.now)) woken();
    },
  };
}
