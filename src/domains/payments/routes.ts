import { principalOf } from '../../platform/http/access.ts';
import { decodeCursor, encodeCursor } from '../../platform/http/cursor.ts';
import { AppError } from '../../platform/http/errors.ts';
import { ProblemResponse, authProblems } from '../../platform/http/schemas.ts';
import type { HttpApp } from '../../platform/http/server.ts';
import type { ExactInteger } from '../../platform/db/pool.ts';
import type { PaymentsDeps } from './deps.ts';
import { accountBalances, sellerPayable } from './ledger.ts';
import { type RefundView, refund } from './refund.ts';
import {
  GatewayParams,
  IdempotencyHeaders,
  LedgerPage,
  LedgerQuery,
  OrderParams,
  RefundBody,
  RefundSchema,
  SellerBalanceSchema,
  WebhookReceiptSchema,
} from './schemas.ts';
import { receiveWebhook } from './webhooks.ts';
import { SIGNATURE_FORMAT, SIGNATURE_HEADER, SIGNATURE_TOLERANCE_SECONDS } from '../../platform/http/webhook-signature.ts';
import { TestWebhookBody } from './test-gateway.ts';

const tags = ['payments'];
const WEBHOOK_BODY_LIMIT_BYTES = 64 * 1024;

function refundResponse(view: RefundView) {
  return {
    id: view.refundId,
    reference: view.reference,
    orderId: view.orderId,
    amount: { amount: view.amount, currency: view.currency },
    reason: view.reason,
    status: view.status,
    failureCode: view.failureCode,
    createdAt: view.createdAt,
  };
}

export async function registerPaymentRoutes(app: HttpApp, deps: PaymentsDeps): Promise<void> {
  app.post(
    '/v1/seller/orders/:orderId/refunds',
    {
      config: { access: ['seller'] },
      schema: {
        tags,
        summary: 'Refund all or part of an own order',
        description:
          'Requires an Idempotency-Key header: the same key and body return the same refund as it is now (with Idempotent-Replayed: true; a refund first answered pending is replayed as succeeded or failed once settled); the same key with another body is 422. ' +
          "The amount is at most what the order's payment captured minus what was already refunded (409 REFUND_EXCEEDS_CAPTURED otherwise). " +
          '201 when the gateway answered (status succeeded or failed), 202 while its answer is pending.',
        params: OrderParams,
        headers: IdempotencyHeaders,
        body: RefundBody,
        response: { 201: RefundSchema, 202: RefundSchema, ...authProblems, 404: ProblemResponse, 409: ProblemResponse, 422: ProblemResponse },
      },
    },
    async (request, reply) => {
      // Required by the header schema: a request without it is answered 400 IDEMPOTENCY_KEY_REQUIRED.
      const key = request.headers['idempotency-key'];
      const sellerId = principalOf(request).userId;
      const result = await refund(deps, {
        // Keys are per seller: two sellers choosing the same key do not collide.
        idempotencyKey: `seller:${sellerId}:${key}`,
        orderId: request.params.orderId,
        sellerId,
        amount: request.body.amount.amount,
        currency: request.body.amount.currency,
        reason: request.body.reason,
        requestedBy: sellerId,
      }, request.trace);
      if (result.replayed) reply.header('idempotent-replayed', 'true');
      return reply.status(result.status === 'pending' ? 202 : 201).send(refundResponse(result));
    },
  );

  app.get(
    '/v1/seller/payments/balance',
    {
      config: { access: ['seller'] },
      schema: {
        tags,
        summary: "What the platform owes the seller, per currency (the seller's payable account in the ledger)",
        response: { 200: SellerBalanceSchema, ...authProblems },
      },
    },
    async (request) => {
      const account = sellerPayable(principalOf(request).userId);
      const rows = await accountBalances(deps.pool, { account, limit: 100 });
      return { account, balances: rows.map((r) => ({ amount: r.balance, currency: r.currency })) };
    },
  );

  app.get(
    '/v1/admin/payments/ledger/accounts',
    {
      config: { access: ['admin'] },
      schema: {
        tags,
        summary: 'Ledger accounts with their debits, credits and balance per currency',
        querystring: LedgerQuery,
        response: { 200: LedgerPage, ...authProblems },
      },
    },
    async (request) => {
      const scope = `ledger:${request.query.account ?? ''}`;
      const after = decodeCursor<{ account: string; currency: string }>(scope, request.query.cursor, ['account', 'currency']);
      const limit = request.query.limit;
      const rows = await accountBalances(deps.pool, { limit: limit + 1, ...(after ? { after } : {}), ...(request.query.account ? { account: request.query.account } : {}) });
      const items = rows.slice(0, limit);
      const last = items[items.length - 1];
      const money = (amount: ExactInteger, currency: string) => ({ amount, currency });
      return {
        items: items.map((r) => ({
          account: r.account,
          kind: r.kind,
          currency: r.currency,
          debits: money(r.debits, r.currency),
          credits: money(r.credits, r.currency),
          balance: money(r.balance, r.currency),
        })),
        nextCursor: rows.length > limit && last ? encodeCursor(scope, { account: last.account, currency: last.currency }) : null,
      };
    },
  );

  // Webhooks are verified over the exact bytes received, so this scope keeps JSON bodies raw.
  await app.register(async (scope) => {
    scope.removeContentTypeParser('application/json');
    scope.addContentTypeParser('application/json', { parseAs: 'buffer', bodyLimit: WEBHOOK_BODY_LIMIT_BYTES }, (_request, body, done) => {
      done(null, body);
    });
    scope.post(
      '/v1/payments/webhooks/:gateway',
      {
        // Also on the route: the 413 answer names the limit from here (the parser's is not readable).
        bodyLimit: WEBHOOK_BODY_LIMIT_BYTES,
        config: {
          access: 'signed',
          signedBody: { schema: TestWebhookBody, signatureHeader: SIGNATURE_HEADER, signatureDescription: SIGNATURE_FORMAT },
        },
        schema: {
          tags,
          summary: 'Payment gateway notifications (signed)',
          description:
            `The body is verified with the ${SIGNATURE_HEADER} header: ${SIGNATURE_FORMAT} ` +
            `with PAYMENTS_WEBHOOK_SECRET; a timestamp more than ${SIGNATURE_TOLERANCE_SECONDS} s away is refused. ` +
            'Bad signature: 401. A duplicate (the same gateway event id) is acknowledged with 200 and changes nothing. ' +
            "The body described is the built-in test gateway's; another gateway's adapter reads its own.",
          params: GatewayParams,
          response: { 200: WebhookReceiptSchema, 400: ProblemResponse, 401: ProblemResponse, 404: ProblemResponse, 413: ProblemResponse, 415: ProblemResponse },
        },
      },
      async (request) => {
        const raw = request.body;
        if (!Buffer.isBuffer(raw)) throw new AppError('VALIDATION_FAILED', 'send the webhook as application/json');
        const { gateway } = request.params as { gateway: string };
        const receipt = await receiveWebhook(deps, gateway, raw, request.headers, request.trace);
        return { received: true as const, eventId: receipt.eventId, duplicate: receipt.duplicate };
      },
    );
  });
}
