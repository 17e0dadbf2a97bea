import { Type } from '@sinclair/typebox';
import type { FastifyRequest } from 'fastify';
import type { Clock } from '../../platform/clock.ts';
import type { Pool } from '../../platform/db/pool.ts';
import { principalOf } from '../../platform/http/access.ts';
import { AppError } from '../../platform/http/errors.ts';
import { PageQuerySchema, PrintableText, ProblemResponse, authProblems, pageOf } from '../../platform/http/schemas.ts';
import { refuseCardData } from '../../platform/card-data.ts';
import type { HttpApp } from '../../platform/http/server.ts';
import { buyerOrdersPage, orderRecord, sellerOrdersPage } from './read-orders.ts';
import type { OrderCommand } from './status-machine.ts';
import { changeStatus } from './transitions.ts';
import { OrderDetailView, OrderStatusSchema, OrderSummaryView, detailView, summaryView } from './views.ts';

export interface OrderRoutesDeps {
  pool: Pool;
  clock: Clock;
}

const OrderParams = Type.Object({ orderId: Type.String({ format: 'uuid' }) }, { additionalProperties: false });
const CancelBody = Type.Object(
  { reason: Type.Optional(PrintableText(500, 'Why the buyer cancels; kept in the order history and the refund, so no card data')) },
  { additionalProperties: false },
);
const SellerCancelBody = Type.Object(
  { reason: PrintableText(500, 'Why you cannot fulfil it; told to the buyer, kept in the order history and the refund, so no card data') },
  { additionalProperties: false },
);

const FulfilmentBody = Type.Object(
  { note: Type.Optional(PrintableText(500, 'Recorded as the reason of the move in the order history; no card data')) },
  { additionalProperties: false },
);

export function registerOrderRoutes(app: HttpApp, deps: OrderRoutesDeps): void {
  const { pool, clock } = deps;

  /** A seller's command on an own order (another seller's is 404); answers the order as the seller's list shows it. */
  async function bySeller(request: FastifyRequest, orderId: string, command: OrderCommand, reason: string) {
    const sellerId = principalOf(request).userId;
    // Kept for good in the history (and a cancellation's reason in the refund): never card data.
    refuseCardData(request.body);
    const context = { actor: { type: 'seller', id: sellerId } as const, reason, now: clock.now(), trace: request.trace };
    await changeStatus(pool, orderId, command, context, { sellerId });
    const record = await orderRecord(pool, orderId);
    if (!record) throw new AppError('NOT_FOUND', 'order not found');
    return summaryView(record.order, record.items);
  }

  app.get(
    '/v1/orders',
    {
      config: { access: ['buyer'] },
      schema: {
        tags: ['orders'],
        summary: 'Your orders, newest first',
        querystring: Type.Object({ ...PageQuerySchema }, { additionalProperties: false }),
        response: { 200: pageOf(OrderSummaryView), ...authProblems },
      },
    },
    async (request) => buyerOrdersPage(pool, principalOf(request).userId, request.query.cursor, request.query.limit),
  );

  app.get(
    '/v1/orders/:orderId',
    {
      config: { access: ['buyer'] },
      schema: {
        tags: ['orders'],
        summary: 'One of your orders, with items, status history, payments, shipments and refunds',
        params: OrderParams,
        response: { 200: OrderDetailView, ...authProblems, 404: ProblemResponse },
      },
    },
    async (request) => {
      const record = await orderRecord(pool, request.params.orderId);
      // Another buyer's order is as absent as a missing one: its existence is not disclosed.
      if (!record || record.order.buyer_id !== principalOf(request).userId) throw new AppError('NOT_FOUND', 'order not found');
      return detailView(record);
    },
  );

  app.post(
    '/v1/orders/:orderId/cancel',
    {
      config: { access: ['buyer'], bodyOptional: true },
      schema: {
        tags: ['orders'],
        summary: 'Cancel your order before it ships; stock, coupon and payment come back',
        params: OrderParams,
        body: CancelBody,
        response: { 200: OrderDetailView, ...authProblems, 404: ProblemResponse, 409: ProblemResponse },
      },
    },
    async (request) => {
      const buyerId = principalOf(request).userId;
      // Kept for good in the history and, through payments, in the refund's reason: never card data.
      refuseCardData(request.body);
      const reason = request.body.reason ?? 'cancelled by the buyer';
      const context = { actor: { type: 'buyer', id: buyerId } as const, reason, now: clock.now(), trace: request.trace };
      await changeStatus(pool, request.params.orderId, { type: 'cancel' }, context, { buyerId });
      const record = await orderRecord(pool, request.params.orderId);
      if (!record) throw new AppError('NOT_FOUND', 'order not found');
      return detailView(record);
    },
  );

  app.post(
    '/v1/seller/orders/:orderId/cancel',
    {
      config: { access: ['seller'] },
      schema: {
        tags: ['orders'],
        summary: 'Cancel your order that you cannot fulfil, before it ships; the buyer is refunded, stock and coupon come back',
        description:
          'For an order you cannot send (out of stock in fact, cannot ship to the address): paid, being fulfilled or partially refunded, not shipped. ' +
          'The buyer is refunded what is left of the payment and told why (the reason, required, goes into the order history and the buyer\'s notification); ' +
          'the units sold come back to available stock (adjust the stock down afterwards if you do not have them), and the coupon use comes back to the buyer once every order the coupon discounted is cancelled (a platform coupon spread over other sellers\' live orders stays used). ' +
          'An order you refunded in full before shipping it can still be cancelled: stock and coupon come back, nothing more is refunded. ' +
          'Again on a cancelled order: 200, nothing changes. Not paid yet, shipped or delivered: 409 INVALID_STATE_TRANSITION; another seller\'s order: 404.',
        params: OrderParams,
        body: SellerCancelBody,
        response: { 200: OrderSummaryView, ...authProblems, 404: ProblemResponse, 409: ProblemResponse },
      },
    },
    async (request) => bySeller(request, request.params.orderId, { type: 'cancel' }, request.body.reason),
  );

  app.post(
    '/v1/seller/orders/:orderId/fulfilment',
    {
      config: { access: ['seller'], bodyOptional: true },
      schema: {
        tags: ['orders'],
        summary: 'Start fulfilling your order: paid → fulfilling',
        description:
          'Tells the buyer the order is being prepared (orders.order_status_changed.v1). Again on an order being fulfilled changes nothing (200). ' +
          'An order that is not paid, or already shipped, cancelled or refunded in full, is 409 INVALID_STATE_TRANSITION; another seller\'s order is 404. ' +
          'Creating a shipment moves a paid or fulfilling order to shipped either way.',
        params: OrderParams,
        body: FulfilmentBody,
        response: { 200: OrderSummaryView, ...authProblems, 404: ProblemResponse, 409: ProblemResponse },
      },
    },
    async (request) => bySeller(request, request.params.orderId, { type: 'start_fulfilment' }, request.body.note ?? 'the seller started fulfilment'),
  );

  app.get(
    '/v1/seller/orders',
    {
      config: { access: ['seller'] },
      schema: {
        tags: ['orders'],
        summary: 'Orders of your products, newest first, optionally of one status',
        querystring: Type.Object({ ...PageQuerySchema, status: Type.Optional(OrderStatusSchema) }, { additionalProperties: false }),
        response: { 200: pageOf(OrderSummaryView), ...authProblems },
      },
    },
    async (request) =>
      sellerOrdersPage(pool, principalOf(request).userId, request.query.status, request.query.cursor, request.query.limit),
  );
}
