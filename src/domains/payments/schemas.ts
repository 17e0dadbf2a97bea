import { Type } from '@sinclair/typebox';
import { CurrencyCode, Defaulted, IdempotencyKeyHeader, MoneySchema, PrintableText, TotalMoneySchema } from '../../platform/http/schemas.ts';

/** HTTP shapes of the payments routes. */
const closed = { additionalProperties: false } as const;
const Uuid = Type.String({ format: 'uuid' });

export const IdempotencyHeaders = Type.Object({
  'idempotency-key': IdempotencyKeyHeader('Required. The same key and body return the same refund; the same key with another body is 422'),
});

export const OrderParams = Type.Object({ orderId: Uuid }, closed);

export const RefundBody = Type.Object(
  {
    amount: Type.Object(
      {
        amount: Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER, description: 'Integer minor units to refund' }),
        currency: Type.String({ ...CurrencyCode, description: "ISO 4217 code: the payment's currency" }),
      },
      closed,
    ),
    reason: PrintableText(1000, 'Why the order is refunded, shown to the buyer; no card data'),
  },
  closed,
);

export const RefundSchema = Type.Object({
  id: Uuid,
  reference: Type.String({ description: 'Human-readable refund reference, e.g. RF-20260101-3f9a1c2b7d' }),
  orderId: Uuid,
  amount: MoneySchema,
  reason: Type.String(),
  status: Type.Union([Type.Literal('pending'), Type.Literal('succeeded'), Type.Literal('failed')], {
    description: 'pending until the gateway answers (at once, or later by webhook)',
  }),
  failureCode: Type.Union([Type.String(), Type.Null()]),
  createdAt: Type.String({ format: 'date-time' }),
});

export const GatewayParams = Type.Object({ gateway: Type.String({ pattern: '^[a-z0-9_-]{1,40}$' }) }, closed);

export const WebhookReceiptSchema = Type.Object({
  received: Type.Literal(true),
  eventId: Type.String(),
  duplicate: Type.Boolean(),
});

export const BalanceSchema = Type.Object({
  account: Type.String({ description: 'Ledger account, e.g. seller_payable:<sellerId>' }),
  kind: Type.String({ description: 'asset, liability, revenue, expense or equity' }),
  currency: Type.String(),
  debits: TotalMoneySchema,
  credits: TotalMoneySchema,
  balance: { ...TotalMoneySchema, description: "On the account's normal side (negative when it went the other way)" },
});

export const SellerBalanceSchema = Type.Object({
  account: Type.String(),
  balances: Type.Array(TotalMoneySchema),
});

export const LedgerQuery = Type.Object(
  {
    cursor: Type.Optional(Type.String({ maxLength: 500 })),
    limit: Defaulted(Type.Integer({ minimum: 1, maximum: 100, default: 50 })),
    account: Type.Optional(Type.String({ maxLength: 200 })),
  },
  closed,
);

export const LedgerPage = Type.Object({ items: Type.Array(BalanceSchema), nextCursor: Type.Union([Type.String(), Type.Null()]) });
