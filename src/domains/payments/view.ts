import type { Queryable } from '../../platform/db/pool.ts';
import { type IntentRow, type IntentStatus, readAllocations, readIntent } from './sql.ts';

/** What authorize, capture and voidPayment answer. */
export interface PaymentResult {
  intentId: string;
  /**
   * authorized, failed (see declineCode) or processing (the outcome is unknown until the gateway's
   * webhook) right after authorize; later calls may also see captured, partially_refunded,
   * refunded or voided. From capture, processing means the capture was sent and its outcome is not
   * known yet (the intent itself stays authorized until it is): call capture again.
   */
  status: IntentStatus;
  /** Why the gateway refused: the authorization (status failed) or, from capture, the capture (status authorized). */
  declineCode?: string;
}

export function resultOf(intent: IntentRow): PaymentResult {
  return {
    intentId: intent.id,
    status: intent.status,
    ...(intent.status === 'failed' && intent.failure_code ? { declineCode: intent.failure_code } : {}),
  };
}

export interface PaymentIntentView {
  intentId: string;
  status: IntentStatus;
  declineCode: string | null;
  checkoutSessionId: string | null;
  buyerId: string;
  amount: number;
  currency: string;
  capturedAmount: number;
  /** Refunds asked for and not failed (those still pending included). */
  refundedAmount: number;
  gateway: string;
  allocations: { orderId: string; sellerId: string; amount: number; capturedAmount: number; refundedAmount: number }[];
  createdAt: string;
  updatedAt: string;
}

export async function readIntentView(db: Queryable, intentId: string): Promise<PaymentIntentView | undefined> {
  const intent = await readIntent(db, intentId);
  if (!intent) return undefined;
  const allocations = await readAllocations(db, intent.id);
  return {
    intentId: intent.id,
    status: intent.status,
    declineCode: intent.failure_code,
    checkoutSessionId: intent.checkout_session_id,
    buyerId: intent.buyer_id,
    amount: intent.amount,
    currency: intent.currency,
    capturedAmount: intent.captured_amount,
    refundedAmount: intent.refunded_amount,
    gateway: intent.gateway,
    allocations: allocations.map((a) => ({
      orderId: a.order_id,
      sellerId: a.seller_id,
      amount: a.amount,
      capturedAmount: a.captured_amount,
      refundedAmount: a.refunded_amount,
    })),
    createdAt: intent.created_at.toISOString(),
    updatedAt: intent.updated_at.toISOString(),
  };
}
