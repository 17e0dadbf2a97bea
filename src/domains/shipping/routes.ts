import { principalOf } from '../../platform/http/access.ts';
import { decodeCursor, encodeCursor, isCursorInstant } from '../../platform/http/cursor.ts';
import { AppError } from '../../platform/http/errors.ts';
import { isUuid } from '../../platform/ids.ts';
import { ProblemResponse, authProblems } from '../../platform/http/schemas.ts';
import type { HttpApp } from '../../platform/http/server.ts';
import { SIGNATURE_FORMAT, SIGNATURE_HEADER, SIGNATURE_TOLERANCE_SECONDS } from '../../platform/http/webhook-signature.ts';
import { CarrierWebhookBody } from './carrier-webhook.ts';
import { changeCarrier, createCarrier, listCarriers } from './carriers.ts';
import type { ShippingDeps } from './deps.ts';
import {
  CarrierPage,
  CarrierParams,
  CarrierQuery,
  CarrierSchema,
  CarrierWebhookReceiptSchema,
  CreateCarrierBody,
  IdempotencyHeaders,
  OrderParams,
  PatchCarrierBody,
  SellerShipmentPage,
  SellerShipmentsQuery,
  ShipBody,
  ShipmentList,
  ShipmentSchema,
} from './schemas.ts';
import { type ShipInput, ship } from './ship.ts';
import { WAITING_WEBHOOKS_MAX, shipmentsOfOrderForBuyer, shipmentsOfSeller } from './sql.ts';
import { shipmentViews } from './views.ts';
import { receiveCarrierWebhook } from './webhooks.ts';

const tags = ['shipping'];
const WEBHOOK_BODY_LIMIT_BYTES = 16 * 1024;

export async function registerShippingRoutes(app: HttpApp, deps: ShippingDeps): Promise<void> {
  app.post(
    '/v1/seller/orders/:orderId/shipments',
    {
      config: { access: ['seller'] },
      schema: {
        tags,
        summary: 'Ship (part of) an own order with a carrier and tracking number',
        description:
          'The order must be yours (404 otherwise) and paid or being fulfilled; an order already shipped takes more parcels, up to 20 ' +
          '(409 INVALID_STATE_TRANSITION for a pending, cancelled, refunded or delivered order). The carrier must be known, enabled and have its webhook secret set ' +
          '(422 CARRIER_NOT_AVAILABLE); a carrier and tracking number are used once (409 TRACKING_NUMBER_TAKEN). The shipment starts ' +
          'in_transit, and the order is shipped before the answer (a buyer\'s cancel then refused). Idempotency-Key is optional: with it, the same key and body answer the same shipment (Idempotent-Replayed: true) ' +
          'and the same key with another body is 422; without it, a retry of a request that went through is a 409 TRACKING_NUMBER_TAKEN.',
        params: OrderParams,
        headers: IdempotencyHeaders,
        body: ShipBody,
        response: { 201: ShipmentSchema, ...authProblems, 404: ProblemResponse, 409: ProblemResponse, 422: ProblemResponse },
      },
    },
    async (request, reply) => {
      const sellerId = principalOf(request).userId;
      const key = request.headers['idempotency-key'];
      const input: ShipInput = {
        orderId: request.params.orderId,
        sellerId,
        carrier: request.body.carrier,
        trackingNumber: request.body.trackingNumber,
        ...(request.body.shippedAt !== undefined ? { shippedAt: request.body.shippedAt } : {}),
        ...(typeof key === 'string' ? { idempotencyKey: key } : {}),
      };
      const result = await ship(deps, input, request.trace);
      if (result.replayed) reply.header('idempotent-replayed', 'true');
      return reply.status(201).send(result.shipment);
    },
  );

  app.get(
    '/v1/seller/shipments',
    {
      config: { access: ['seller'] },
      schema: {
        tags,
        summary: 'Your shipments, newest first, with their events',
        description:
          'Cursor paged (`limit` at most 100). `orderId` keeps one order\'s shipments (another seller\'s order: an empty list), `status` one status ' +
          '(e.g. `delivery_failed` for parcels that need a look).',
        querystring: SellerShipmentsQuery,
        response: { 200: SellerShipmentPage, ...authProblems },
      },
    },
    async (request) => {
      const sellerId = principalOf(request).userId;
      const { cursor, limit, orderId, status } = request.query;
      const scope = `shipments:${sellerId}:${orderId ?? ''}:${status ?? ''}`;
      const after = decodeCursor<{ createdAt: string; id: string }>(scope, cursor, ['createdAt', 'id']);
      if (after && (!isUuid(after.id) || !isCursorInstant(after.createdAt))) throw new AppError('INVALID_CURSOR');
      const rows = await shipmentsOfSeller(deps.pool, sellerId, { orderId, status }, after, limit + 1);
      const page = rows.slice(0, limit);
      const last = page.at(-1);
      return {
        items: await shipmentViews(deps.pool, page),
        nextCursor: rows.length > limit && last ? encodeCursor(scope, { createdAt: last.created_at.toISOString(), id: last.id }) : null,
      };
    },
  );

  app.get(
    '/v1/orders/:orderId/shipments',
    {
      config: { access: ['buyer'] },
      schema: {
        tags,
        summary: 'Tracking of one of your orders: its shipments with their events',
        description: "Another buyer's order is a 404, as a missing one. An order not shipped yet has no shipments (an empty list).",
        params: OrderParams,
        response: { 200: ShipmentList, ...authProblems, 404: ProblemResponse },
      },
    },
    async (request) => {
      const buyerId = principalOf(request).userId;
      const { orderId } = request.params;
      const order = await deps.orders.getOrderForBuyer(orderId, buyerId);
      if (!order) throw new AppError('NOT_FOUND', 'order not found');
      const shipments = await shipmentsOfOrderForBuyer(deps.pool, order.orderId, buyerId);
      return { items: await shipmentViews(deps.pool, shipments) };
    },
  );

  app.post(
    '/v1/admin/carriers',
    {
      config: { access: ['admin'] },
      schema: {
        tags,
        summary: 'Add a carrier integration',
        description:
          "credentials (the webhook signing secret, the carrier's API key) are write-only: encrypted at rest with SHIPPING_CREDENTIALS_KEY, " +
          'never returned or logged; the answer shows when they were set. A carrier name is unique (409 CARRIER_NAME_TAKEN).',
        body: CreateCarrierBody,
        response: { 201: CarrierSchema, ...authProblems, 409: ProblemResponse },
      },
    },
    async (request, reply) => reply.status(201).send(await createCarrier(deps, request.body, principalOf(request).userId)),
  );

  app.get(
    '/v1/admin/carriers',
    {
      config: { access: ['admin'] },
      schema: {
        tags,
        summary: 'Carrier integrations, by name',
        description: 'Sorted by carrier name (a short list). Credentials are never shown, only when they were set.',
        querystring: CarrierQuery,
        response: { 200: CarrierPage, ...authProblems },
      },
    },
    async (request) => listCarriers(deps, request.query.cursor, request.query.limit),
  );

  app.patch(
    '/v1/admin/carriers/:carrier',
    {
      config: { access: ['admin'] },
      schema: {
        tags,
        summary: 'Change a carrier integration: rotate its credentials, enable or disable it',
        description:
          'Only the fields sent change. New credentials replace the old ones whole (write-only, as at creation). A disabled carrier ' +
          'takes no new shipments and its webhooks are refused (404); its shipments stay.',
        params: CarrierParams,
        body: PatchCarrierBody,
        response: { 200: CarrierSchema, ...authProblems, 404: ProblemResponse },
      },
    },
    async (request) => changeCarrier(deps, request.params.carrier, request.body),
  );

  // Webhooks are verified over the exact bytes received, so this scope keeps JSON bodies raw.
  await app.register(async (scope) => {
    scope.removeContentTypeParser('application/json');
    scope.addContentTypeParser('application/json', { parseAs: 'buffer', bodyLimit: WEBHOOK_BODY_LIMIT_BYTES }, (_request, body, done) => {
      done(null, body);
    });
    scope.post(
      '/v1/shipping/webhooks/:carrier',
      {
        // Also on the route: the 413 answer names the limit from here (the parser's is not readable).
        bodyLimit: WEBHOOK_BODY_LIMIT_BYTES,
        config: {
          access: 'signed',
          signedBody: { schema: CarrierWebhookBody, signatureHeader: SIGNATURE_HEADER, signatureDescription: SIGNATURE_FORMAT },
        },
        schema: {
          tags,
          summary: 'Carrier tracking updates (signed)',
          description:
            `The body is verified with the ${SIGNATURE_HEADER} header: ${SIGNATURE_FORMAT} ` +
            `with the carrier's webhook secret (set with its credentials); a timestamp more than ${SIGNATURE_TOLERANCE_SECONDS} s away is refused. ` +
            'Unknown or disabled carrier: 404; bad signature: 401; a body that is not a tracking update: 400; nothing is recorded then. ' +
            "A repeat of a carrier event (same id) is acknowledged with 200 and changes nothing; an older scan than the shipment's " +
            'status is kept in its history without moving the status back (see docs/shipping.md). ' +
            `An update about a tracking number no shipment has yet is kept (applied: false), up to ${WAITING_WEBHOOKS_MAX} per tracking number; the next is 429 RATE_LIMITED with Retry-After, to be sent again once the shipment exists. ` +
            'One that has waited SHIPPING_WAITING_WEBHOOK_DAYS (30 days by default) is dropped, and the same event sent after that is taken as new.',
          params: CarrierParams,
          response: { 200: CarrierWebhookReceiptSchema, 400: ProblemResponse, 401: ProblemResponse, 404: ProblemResponse, 413: ProblemResponse, 429: ProblemResponse, 415: ProblemResponse, 503: ProblemResponse },
        },
      },
      async (request) => {
        const raw = request.body;
        if (!Buffer.isBuffer(raw)) throw new AppError('VALIDATION_FAILED', 'send the webhook as application/json');
        const { carrier } = request.params as { carrier: string };
        const receipt = await receiveCarrierWebhook(deps, carrier, raw, request.headers, request.trace);
        return { received: true as const, ...receipt };
      },
    );
  });
}
