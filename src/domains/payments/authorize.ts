import { type Static, Type } from '@sinclair/typebox';
import { compileInCharacters } from '../../contracts/define.ts';
import { type Queryable, withTransaction } from '../../platform/db/pool.ts';
import { AppError } from '../../platform/http/errors.ts';
import { newId } from '../../platform/ids.ts';
import { findCardData } from '../../platform/card-data.ts';
import type { Trace } from '../../platform/messaging/envelope.ts';
import { type PaymentsDeps, gatewayNamed } from './deps.ts';
import { callGateway, gatewayKey } from './gateway.ts';
import { applyAuthorization, unlessGatewayDisagrees } from './outcomes.ts';
import { requestHash } from './request-hash.ts';
import type { IntentRow } from './sql.ts';
import { type PaymentResult, resultOf } from './view.ts';

const Uuid = Type.String({ pattern: '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' });

/** A gateway token (e.g. tok_visa): the only payment method payments accept; never a card number. */
export const PaymentMethodSchema = Type.Object(
  { token: Type.String({ pattern: '^tok_[A-Za-z0-9_]{1,100}$', description: 'Gateway token, e.g. tok_visa' }) },
  { additionalProperties: false },
);

export const AuthorizeInputSchema = Type.Object(
  {
    idempotencyKey: Type.String({ minLength: 1, maxLength: 255 }),
    checkoutSessionId: Type.Optional(Type.Union([Uuid, Type.Null()])),
    buyerId: Uuid,
    amount: Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER }),
    currency: Type.String({ pattern: '^[A-Z]{3}$' }),
    paymentMethod: PaymentMethodSchema,
    allocations: Type.Array(
      Type.Object(
        { orderId: Uuid, sellerId: Uuid, amount: Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER }) },
        { additionalProperties: false },
      ),
      { minItems: 1, maxItems: 100 },
    ),
    /** Defaults to the configured gateway (the built-in test gateway). */
    gateway: Type.Optional(Type.String({ pattern: '^[a-z0-9_-]{1,40}$' })),
  },
  { additionalProperties: false },
);
export type AuthorizeInput = Static<typeof AuthorizeInputSchema>;
const checkAuthorizeInput = compileInCharacters(AuthorizeInputSchema);

export function validateAuthorizeInput(input: unknown): AuthorizeInput {
  // The idempotency key is the caller's own label (it may well be all digits), not payment data.
  const cardField = findCardData(typeof input === 'object' && input !== null ? { ...input, idempotencyKey: undefined } : input);
  if (cardField) {
    throw new AppError('VALIDATION_FAILED', `card numbers and security codes are never accepted (${cardField}): send a gateway token`);
  }
  if (!checkAuthorizeInput.Check(input)) {
    const first = [...checkAuthorizeInput.Errors(input)][0];
    throw new AppError('VALIDATION_FAILED', `${first?.path || '/'} ${first?.message ?? 'is not valid'}`);
  }
  const sum = input.allocations.reduce((s, a) => s + a.amount, 0);
  if (sum !== input.amount) throw new AppError('VALIDATION_FAILED', `allocations sum to ${sum}, not the amount ${input.amount}`);
  if (new Set(input.allocations.map((a) => a.orderId)).size !== input.allocations.length) {
    throw new AppError('VALIDATION_FAILED', 'an order appears twice in allocations');
  }
  return input;
}

/**
 * Authorizes a payment once per idempotency key. The intent is stored (status processing, with a
 * pending authorize row) before the gateway is called, and the gateway gets a key derived from
 * the intent id, so a retry after a timeout or a crash asks the same charge again instead of
 * making a new one. The same key with another request is refused.
 */
export async function authorize(deps: PaymentsDeps, raw: AuthorizeInput, trace: Trace | null = null): Promise<PaymentResult> {
  const input = validateAuthorizeInput(raw);
  const gatewayName = input.gateway ?? deps.defaultGateway;
  const gateway = gatewayNamed(deps, gatewayName);
  const { idempotencyKey, ...body } = input;
  const hash = requestHash({ ...body, checkoutSessionId: body.checkoutSessionId ?? null, gateway: gatewayName });
  const intent = await createOrFind(deps.pool, input, gatewayName, hash);
  if (intent.status !== 'processing') return resultOf(intent);

  const outcome = await callGateway(
    () =>
      gateway.authorize({
        idempotencyKey: gatewayKey('authorize', intent.id),
        merchantReference: intent.id,
        amount: intent.amount,
        currency: intent.currency,
        token: input.paymentMethod.token,
      }),
    (error) => deps.log.warn({ err: error, intentId: intent.id }, 'gateway authorize failed without an answer'),
  );
  const after = await unlessGatewayDisagrees(() => withTransaction(deps.pool, (tx) => applyAuthorization(tx, deps, intent.id, outcome, trace, true)));
  if (after?.status === 'authorized') deps.wakeWorker();
  return resultOf(after ?? intent);
}

/**
 * The intent, its allocations and its pending authorize row in ONE statement (atomic on its own,
 * no BEGIN or COMMIT); or, when the key was used before, the intent that key made. A concurrent
 * duplicate waits on the unique key until the first one's statement has committed.
 */
async function createOrFind(db: Queryable, input: AuthorizeInput, gatewayName: string, hash: string): Promise<IntentRow> {
  const singleOrder = input.allocations.length === 1 ? (input.allocations[0]?.orderId ?? null) : null;
  const inserted = await db.query<IntentRow>(
    `WITH intent AS (
       INSERT INTO payment_intents
         (id, order_id, checkout_session_id, buyer_id, amount, currency, gateway, idempotency_key, request_hash, status)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'processing')
       ON CONFLICT (idempotency_key) DO NOTHING
       RETURNING *
     ), allocations AS (
       INSERT INTO payment_allocations (id, payment_intent_id, order_id, seller_id, amount, currency)
       SELECT a.id, i.id, a.order_id, a.seller_id, a.amount, i.currency
         FROM intent i, unnest($10::uuid[], $11::uuid[], $12::uuid[], $13::bigint[]) AS a(id, order_id, seller_id, amount)
     ), pending AS (
       INSERT INTO payment_transactions (id, payment_intent_id, type, amount, currency, status)
       SELECT $14, i.id, 'authorize', i.amount, i.currency, 'pending' FROM intent i
     )
     SELECT * FROM intent`,
    [
      newId(),
      singleOrder,
      input.checkoutSessionId ?? null,
      input.buyerId,
      input.amount,
      input.currency,
      gatewayName,
      input.idempotencyKey,
      hash,
      input.allocations.map(() => newId()),
      input.allocations.map((a) => a.orderId),
      input.allocations.map((a) => a.sellerId),
      input.allocations.map((a) => a.amount),
      newId(),
    ],
  );
  const created = inserted.rows[0];
  if (created) return created;
  const { rows } = await db.query<IntentRow>('SELECT * FROM payment_intents WHERE idempotency_key = $1', [input.idempotencyKey]);
  const existing = rows[0];
  if (!existing) throw new Error('payment intent vanished');
  if (existing.request_hash !== hash) throw new AppError('IDEMPOTENCY_KEY_REUSED', 'this idempotency key was used for another payment');
  return existing;
}
