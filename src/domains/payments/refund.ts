import { type Static, Type } from '@sinclair/typebox';
import { compileInCharacters } from '../../contracts/define.ts';
import { type Queryable, withTransaction } from '../../platform/db/pool.ts';
import { refuseCardData } from '../../platform/card-data.ts';
import { AppError, notFound } from '../../platform/http/errors.ts';
import { PrintableText } from '../../platform/http/schemas.ts';
import type { Trace } from '../../platform/messaging/envelope.ts';
import { type PaymentsDeps, gatewayNamed } from './deps.ts';
import { callGateway, gatewayKey } from './gateway.ts';
import { applyRefund, unlessGatewayDisagrees } from './outcomes.ts';
import { recordRefund } from './record-refund.ts';
import { type IntentRow, readIntent, readRefund, refundStatus } from './sql.ts';

const Uuid = Type.String({ pattern: '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' });

export const RefundInputSchema = Type.Object(
  {
    idempotencyKey: Type.String({ minLength: 1, maxLength: 255 }),
    orderId: Uuid,
    /** The seller of the order: a refund is refused for an order of another seller. */
    sellerId: Uuid,
    amount: Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER }),
    /** When given, must be the payment's currency. */
    currency: Type.Optional(Type.String({ pattern: '^[A-Z]{3}$' })),
    /** Kept for good (append-only refunds, events): something written, as the HTTP routes require. */
    reason: PrintableText(1000),
    /** Who asked (a seller or admin); null or absent when the system did. */
    requestedBy: Type.Optional(Type.Union([Uuid, Type.Null()])),
  },
  { additionalProperties: false },
);
export type RefundInput = Static<typeof RefundInputSchema>;
const checkRefundInput = compileInCharacters(RefundInputSchema);

export interface RefundView {
  refundId: string;
  reference: string;
  intentId: string;
  orderId: string;
  amount: number;
  currency: string;
  reason: string;
  /** pending until the gateway answers (at once, or later by webhook). */
  status: 'pending' | 'succeeded' | 'failed';
  failureCode: string | null;
  createdAt: string;
}

/**
 * Refunds part or all of what an order's payment captured, once per idempotency key. The refunded
 * totals of the intent and of the order's allocation are raised by conditional UPDATEs before the
 * gateway is called, so concurrent refunds can never exceed what was captured; a refund the
 * gateway declines gives its amount back.
 */
export async function refund(deps: PaymentsDeps, raw: RefundInput, trace: Trace | null = null): Promise<RefundView & { replayed: boolean }> {
  if (!checkRefundInput.Check(raw)) {
    const first = [...checkRefundInput.Errors(raw)][0];
    throw new AppError('VALIDATION_FAILED', `${first?.path || '/'} ${first?.message ?? 'is not valid'}`);
  }
  // The reason is kept for good (refunds are append-only, and events carry it): never a card number.
  refuseCardData({ reason: raw.reason });
  const { row, created } = await withTransaction(deps.pool, (tx) => recordRefund(tx, raw, { onExisting: 'compare' }));
  const view = (await readRefundView(deps.pool, row.id)) as RefundView;
  // A replay of a refund still pending asks the gateway again (same key): it may know by now.
  const current = view.status === 'pending' ? await sendRefund(deps, row.id, trace) : view;
  return { ...current, replayed: !created };
}


/** A recorded refund with what its gateway knows it by: the gateway, the charge and the key. */
export async function refundAtGateway(deps: PaymentsDeps, refundId: string) {
  const refundRow = await readRefund(deps.pool, refundId);
  if (!refundRow) throw notFound('refund');
  const intent = (await readIntent(deps.pool, refundRow.payment_intent_id)) as IntentRow;
  const chargeReference = intent.gateway_reference;
  if (!chargeReference) throw new Error(`captured intent ${intent.id} has no gateway reference`);
  return { refundRow, gateway: gatewayNamed(deps, intent.gateway), chargeReference, idempotencyKey: gatewayKey('refund', refundRow.id) };
}

/** Sends a recorded refund to the gateway (same key on every attempt) and applies the answer. */
export async function sendRefund(deps: PaymentsDeps, refundId: string, trace: Trace | null): Promise<RefundView> {
  const { refundRow, gateway, chargeReference, idempotencyKey } = await refundAtGateway(deps, refundId);
  const outcome = await callGateway(
    () =>
      gateway.refund({
        idempotencyKey,
        chargeReference,
        refundReference: refundRow.refund_reference,
        amount: refundRow.amount,
        currency: refundRow.currency,
      }),
    (error) => deps.log.warn({ err: error, refundId }, 'gateway refund failed without an answer'),
  );
  // A success that disagrees leaves the refund pending, as after a timeout.
  await unlessGatewayDisagrees(() => withTransaction(deps.pool, (tx) => applyRefund(tx, deps, refundRow.id, outcome, trace)));
  return (await readRefundView(deps.pool, refundRow.id)) as RefundView;
}

export async function readRefundView(db: Queryable, refundId: string): Promise<RefundView | undefined> {
  const row = await readRefund(db, refundId);
  if (!row) return undefined;
  const { status, failureCode } = await refundStatus(db, row.id);
  return {
    refundId: row.id,
    reference: row.refund_reference,
    intentId: row.payment_intent_id,
    orderId: row.order_id,
    amount: row.amount,
    currency: row.currency,
    reason: row.reason,
    status,
    failureCode,
    createdAt: row.created_at.toISOString(),
  };
}
