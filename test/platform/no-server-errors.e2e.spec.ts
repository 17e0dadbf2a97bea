import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { expectLedgerBalanced } from '../support/ledger.ts';
import type { ProductsApi } from '../../src/domains/products/index.ts';
import { TestWebhookBody } from '../../src/domains/payments/test-gateway.ts';
import { CarrierWebhookBody } from '../../src/domains/shipping/index.ts';
import type { Access } from '../../src/platform/http/access.ts';
import { signCursor } from '../../src/platform/http/cursor.ts';
import { ERROR_CATALOGUE } from '../../src/platform/http/errors.ts';
import { newId } from '../../src/platform/ids.ts';
import { type Account, type Http, type HttpAnswer, categoryFixture, checkout, createCoupon, expectStatus, fillCart, listProduct, signUp } from '../checkout/fixtures/market.ts';
import { type TestApp, startTestApp } from '../support/app.ts';
import { eventually } from '../support/eventually.ts';
import { ODD_STRINGS, REMOVE, type Json, type JsonSchema, type Variant, applyVariant, describePath, hostileVariants, toJsonText } from '../support/hostile-input.ts';

/**
 * Every route of the OpenAPI document, sent hostile input generated from its own schemas (body,
 * path, query, headers, content type, roles): each answer is below 500, each refusal an RFC 9457
 * problem with a catalogued code and neither a stack trace nor SQL, and a request that is refused
 * changes no table of any domain.
 */

const SEED = 20261205;
const WEBHOOK_SECRET = 'fuzz-webhook-secret-0123456789';
const PASSWORD = 'correct horse battery staple';
const ADMIN_EMAIL = 'fuzz-admin@example.test';

let t: TestApp;
let http: Http;
let doc: OpenApi;
let accessOf: Map<string, Access>;
let f: Fixture;

interface OpenApiParameter {
  in: 'path' | 'query' | 'header';
  name: string;
  required?: boolean;
  schema: JsonSchema;
}
interface OpenApiOperation {
  parameters?: OpenApiParameter[];
  requestBody?: { content: Record<string, { schema: JsonSchema }> };
}
interface OpenApi {
  paths: Record<string, Record<string, OpenApiOperation>>;
}

interface Actor {
  label: string;
  token?: string;
}

interface Fixture {
  buyer: Account;
  otherBuyer: Account;
  seller: Account;
  otherSeller: Account;
  admin: Actor;
  categoryId: string;
  productId: string;
  variantId: string;
  posterVariantId: string;
  draftProductId: string;
  draftVersion: number;
  pricedProductId: string;
  pricedVariantId: string;
  /** A price window that has not started (withdrawn once, by a valid request). */
  scheduledProductId: string;
  scheduledPriceId: string;
  unpublishedProductId: string;
  publishedProductId: string;
  couponCode: string;
  /** The buyer's paid order of the seller's product (refunds, reads). */
  orderId: string;
  /** The buyer's paid order of the other seller's product (cancelled last). */
  cancellableOrderId: string;
  sessionId: string;
  reservationId: string;
  itemId: string;
  intentId: string;
  chargeReference: string;
  /** The tracking number of the seller's shipment of orderId, with FUZZ_CARRIER. */
  trackingNumber: string;
  /** One of the buyer's in-app notifications (of the order above). */
  notificationId: string;
}

/** A carrier whose webhooks are signed with WEBHOOK_SECRET, and one that only PATCH changes (it may disable it). */
const FUZZ_CARRIER = 'fuzzpost';
const PATCHED_CARRIER = 'fuzzpatch';

// ---- what a valid request of each operation is ------------------------------------------------

interface OperationSpec {
  /** A valid body, made afresh for every request (unique emails, codes, event ids). */
  body?: () => Json;
  /** Path parameters other than the usual resource of that name (see pathValue). */
  params?: () => Record<string, string>;
  /** The route refuses a request without an Idempotency-Key. */
  keyRequired?: boolean;
  /** For an Idempotency-Key route: a valid body other than body()'s, to reuse a key with. */
  anotherBody?: () => Json;
  /** Puts back what an accepted request used up (the cart a checkout bought, the order it cancelled). */
  refill?: () => Promise<void>;
}

let unique = 0;
const next = () => `${Date.now().toString(36)}${(++unique).toString(36)}`;
const inDays = (days: number) => new Date(Date.now() + days * 86_400_000).toISOString();

function couponBody(platform: boolean): Json {
  return {
    code: `FZ-${next().toUpperCase()}`,
    type: 'fixed_amount',
    amountOff: { amount: 100, currency: 'USD' },
    maxUses: 5,
    validFrom: new Date().toISOString(),
    validTo: inDays(30),
    rules: {
      minOrderAmount: { amount: 100, currency: 'USD' },
      productIds: [f.productId],
      categoryIds: [f.categoryId],
      ...(platform ? { sellerIds: [f.seller.userId] } : {}),
      onePerCustomer: true,
      firstOrderOnly: false,
    },
  };
}

/**
 * One entry per operation of the OpenAPI document (a test checks that none is missing), in the
 * order they are sent: those that use up the fixture (a cancelled order, an emptied cart) last.
 */
const OPERATIONS: Record<string, OperationSpec> = {
  'GET /health': {},
  'GET /ready': {},
  'GET /metrics': {},
  'GET /openapi.json': {},
  'GET /v1/admin/events/outbox': {},
  'GET /v1/admin/events/dead-letters': {},
  'POST /v1/admin/events/dead-letters/{id}/replay': {},
  'GET /v1/admin/read-models': {},
  // A rebuild accepted here runs in the background; settled() waits for the tables to be still.
  'POST /v1/admin/read-models/{name}/rebuild': {},
  'GET /v1/admin/read-models/{name}/rebuilds/{rebuildId}': {},
  'GET /v1/search/products': {},
  'GET /v1/seller/dashboard': {},
  'POST /v1/auth/register': { body: () => ({ email: `fuzz-${next()}@example.test`, password: PASSWORD, role: 'seller' }) },
  // An account no one has: the limit per account would answer every login after the fifth failure 429.
  'POST /v1/auth/login': { body: () => ({ email: `fuzz-${next()}@example.test`, password: PASSWORD }) },
  'GET /v1/me': {},
  // Not the fixture's password: the request is well formed (403 PASSWORD_MISMATCH, then 429) and the fixture's tokens and logins keep working.
  'POST /v1/me/password': { body: () => ({ currentPassword: 'not the password of the fixture', newPassword: `fuzz ${next()} passphrase` }) },
  'PATCH /v1/me/profile': {
    body: () => ({
      firstName: 'Ada',
      lastName: 'Buyer',
      phone: '+15551234567',
      addresses: [{ label: 'home', name: 'Ada Buyer', lines: ['1 Market Street'], city: 'Springfield', region: 'IL', postalCode: '12345', country: 'US', phone: '+15551234567', isDefault: true }],
    }),
  },
  'POST /v1/admin/users/{userId}/roles': { body: () => ({ role: 'seller' }) },
  'GET /v1/categories': {},
  'POST /v1/admin/categories': { body: () => ({ name: `Fuzzed shelf ${next()}`, slug: `fuzz-${next()}`, parentId: f.categoryId, position: 3 }) },
  'PATCH /v1/admin/categories/{categoryId}': { body: () => ({ name: `Fuzzed things ${next()}`, slug: `fuzz-${next()}`, parentId: null, position: 0 }) },
  'GET /v1/products': {},
  'GET /v1/products/{productId}': {},
  'GET /v1/seller/products': {},
  'POST /v1/seller/products': {
    body: () => ({
      sku: `FZ-${next()}`,
      title: 'Fuzzed lamp',
      description: 'A lamp.',
      categoryId: f.categoryId,
      variants: [{ sku: `FZ-${next()}`, attributes: { colour: 'red' }, price: { amount: 1500, currency: 'USD' }, priceEffectiveFrom: inDays(1) }],
      images: [{ url: 'https://img.bazaar.test/lamp.jpg', type: 'primary' }],
      attributes: [{ name: 'material', value: 'brass', searchable: true }],
    }),
  },
  'GET /v1/seller/products/{productId}': {},
  'PATCH /v1/seller/products/{productId}': {
    params: () => ({ productId: f.draftProductId }),
    refill: async () => {
      f.draftVersion = (await expectStatus('draft', http('GET', `/v1/seller/products/${f.draftProductId}`, { token: f.seller.token }), 200)).json().version;
    },
    body: () => ({
      version: f.draftVersion,
      sku: `FZ-${next()}`,
      title: 'Fuzzed draft',
      description: 'Still a draft.',
      categoryId: f.categoryId,
      images: [{ url: 'https://img.bazaar.test/draft.jpg', type: 'gallery' }],
      attributes: [{ name: 'finish', value: 'matte', searchable: false }],
      addVariants: [{ sku: `FZ-${next()}`, attributes: { size: 'L' }, price: { amount: 900, currency: 'USD' } }],
    }),
  },
  'POST /v1/seller/products/{productId}/prices': {
    // A window that was taken (open-ended, or far) would overlap every later one: a new product each time.
    params: () => ({ productId: f.pricedProductId }),
    refill: async () => {
      const p = await newProduct();
      f.pricedProductId = p.id;
      f.pricedVariantId = p.variants[0]!.id;
    },
    body: () => ({
      variantId: f.pricedVariantId,
      price: { amount: 2400, currency: 'USD' },
      discount: { amount: 100, currency: 'USD' },
      // Before the list price of a product made by the refill (from tomorrow on).
      effectiveFrom: inDays(0.1),
      effectiveTo: inDays(0.2),
    }),
  },
  'DELETE /v1/seller/products/{productId}/prices/{priceId}': {
    // A product made by the refill is priced from tomorrow: its window has not started.
    params: () => ({ productId: f.scheduledProductId, priceId: f.scheduledPriceId }),
    refill: async () => {
      const p = await newProduct();
      f.scheduledProductId = p.id;
      f.scheduledPriceId = p.priceWindows[0]!.priceId;
    },
  },
  'POST /v1/seller/products/{productId}/publish': {
    params: () => ({ productId: f.unpublishedProductId }),
    refill: async () => {
      f.unpublishedProductId = (await newProduct(true)).id;
    },
  },
  'POST /v1/seller/products/{productId}/unlist': {
    params: () => ({ productId: f.publishedProductId }),
    refill: async () => {
      f.publishedProductId = (await newProduct(true)).id;
      await expectStatus('publish', http('POST', `/v1/seller/products/${f.publishedProductId}/publish`, { token: f.seller.token }), 200);
    },
  },
  'GET /v1/seller/stock': {},
  'GET /v1/seller/stock/{variantId}/movements': {},
  'PATCH /v1/seller/stock/{variantId}': {
    body: () => ({ maxPerBuyer: 1000 }),
  },
  'POST /v1/seller/stock/{variantId}/adjustments': {
    body: () => ({ amount: 1, reason: 'received', note: 'counted' }),
    anotherBody: () => ({ amount: 2, reason: 'received' }),
  },
  'POST /v1/reservations': {
    keyRequired: true,
    body: () => ({ items: [{ variantId: f.variantId, quantity: 1 }], referenceId: newId() }),
    anotherBody: () => ({ items: [{ variantId: f.variantId, quantity: 2 }] }),
  },
  'GET /v1/reservations/{reservationId}': {},
  'POST /v1/reservations/{reservationId}/release': {},
  'POST /v1/seller/coupons': { body: () => couponBody(false) },
  'GET /v1/seller/coupons': {},
  'GET /v1/admin/coupons': {},
  'POST /v1/admin/coupons': { body: () => couponBody(true) },
  'GET /v1/cart': {},
  'POST /v1/cart/items': { body: () => ({ variantId: f.variantId, quantity: 1 }) },
  'PATCH /v1/cart/items/{itemId}': { refill: () => refillCart(), body: () => ({ quantity: 2 }) },
  'POST /v1/cart/coupons': { body: () => ({ code: f.couponCode }) },
  'GET /v1/orders': {},
  'GET /v1/orders/{orderId}': {},
  'GET /v1/seller/orders': {},
  'GET /v1/checkout/{sessionId}': {},
  'GET /v1/seller/payments/balance': {},
  'GET /v1/admin/payments/ledger/accounts': {},
  'POST /v1/payments/webhooks/{gateway}': {
    body: () => ({
      id: `evt_${next()}`,
      type: 'charge.captured',
      created: Math.floor(Date.now() / 1000),
      data: { charge: f.chargeReference, merchantReference: f.intentId, amount: 100, currency: 'USD', transaction: `txn_${next()}` },
    }),
  },
  'POST /v1/seller/orders/{orderId}/shipments': {
    body: () => ({ carrier: FUZZ_CARRIER, trackingNumber: `FZ-${next()}`, shippedAt: new Date(Date.now() - 60_000).toISOString() }),
    anotherBody: () => ({ carrier: FUZZ_CARRIER, trackingNumber: `FZ-${next()}` }),
  },
  'GET /v1/orders/{orderId}/shipments': {},
  'GET /v1/seller/shipments': {},
  'POST /v1/admin/carriers': {
    body: () => ({
      carrierName: `fz${next()}`,
      displayName: 'Fuzz Post',
      apiEndpoint: 'https://api.fuzzpost.example/v1',
      credentials: { webhookSecret: 'fuzz-carrier-secret-0123', apiKey: 'fz-key', accountId: 'fz-account' },
      enabled: true,
    }),
  },
  'GET /v1/admin/carriers': {},
  'PATCH /v1/admin/carriers/{carrier}': {
    params: () => ({ carrier: PATCHED_CARRIER }),
    body: () => ({ displayName: 'Fuzz Patch', apiEndpoint: 'https://api.fuzzpatch.example', credentials: { webhookSecret: 'fuzz-patched-secret-0123' }, enabled: true }),
  },
  'POST /v1/shipping/webhooks/{carrier}': {
    body: () => ({
      id: `evt_${next()}`,
      type: 'tracking.updated',
      created: Math.floor(Date.now() / 1000),
      data: { trackingNumber: f.trackingNumber, status: 'in_transit', occurredAt: new Date().toISOString(), location: 'Fuzz depot', message: 'Scanned' },
    }),
  },
  'POST /v1/seller/orders/{orderId}/refunds': {
    keyRequired: true,
    body: () => ({ amount: { amount: 1, currency: 'USD' }, reason: 'a scratch' }),
    anotherBody: () => ({ amount: { amount: 2, currency: 'USD' }, reason: 'a dent' }),
  },
  'DELETE /v1/cart/coupons/{code}': { refill: () => refillCart() },
  'DELETE /v1/cart/items/{itemId}': { refill: () => refillCart() },
  'POST /v1/checkout': {
    keyRequired: true,
    refill: () => refillCart(),
    body: () => ({
      shippingAddress: { name: 'Ada Buyer', line1: '1 Market Street', line2: 'Flat 2', city: 'Springfield', region: 'IL', postalCode: '12345', country: 'US', phone: '+15551234567' },
      paymentMethod: { token: 'tok_visa' },
    }),
    anotherBody: () => ({ shippingAddress: { name: 'Bob Buyer', line1: '2 Market Street', city: 'Springfield', postalCode: '12345', country: 'US' }, paymentMethod: { token: 'tok_visa' } }),
  },
  'GET /v1/me/notifications': {},
  'POST /v1/me/notifications/{notificationId}/read': {},
  'GET /v1/me/notification-preferences': {},
  'PUT /v1/me/notification-preferences': { body: () => ({ channels: { order_placed: ['in_app', 'push'], order_shipped: [], order_paid: null } }) },
  'POST /v1/seller/orders/{orderId}/fulfilment': { body: () => ({ note: 'packing today' }) },
  // The seller's order of the fixture has shipped: every request is refused, and nothing may change.
  'POST /v1/seller/orders/{orderId}/cancel': { body: () => ({ reason: 'cannot fulfil it after all' }) },
  'POST /v1/orders/{orderId}/cancel': { params: () => ({ orderId: f.cancellableOrderId }), refill: () => newCancellableOrder(), body: () => ({ reason: 'changed my mind' }) },
};

/** The buyer's cart holds the mug and the coupon again (after a checkout bought it, or they were removed). */
async function refillCart(): Promise<void> {
  let cart = (await expectStatus('cart', http('GET', '/v1/cart', { token: f.buyer.token }), 200)).json();
  if (cart.items.length === 0 || cart.coupons.length === 0) {
    await fillCart(http, f.buyer, cart.items.length === 0 ? [{ variantId: f.variantId, quantity: 1 }] : [], cart.coupons.length === 0 ? [f.couponCode] : []);
    cart = (await expectStatus('cart', http('GET', '/v1/cart', { token: f.buyer.token }), 200)).json();
  }
  f.itemId = cart.items[0].itemId;
}

/** A draft product of the seller's, as created: priced from tomorrow, or from now (so that it may be published). */
async function newProduct(pricedNow = false): Promise<{ id: string; variants: { id: string }[]; priceWindows: { priceId: string }[] }> {
  const body = OPERATIONS['POST /v1/seller/products']!.body!() as { variants: { priceEffectiveFrom?: string }[] };
  if (pricedNow) delete body.variants[0]!.priceEffectiveFrom;
  return (await expectStatus('product', http('POST', '/v1/seller/products', { token: f.seller.token, body }), 201)).json();
}

/** A new paid order of the other seller's poster for the buyer to cancel. */
async function newCancellableOrder(): Promise<void> {
  const order = (await expectStatus('order', http('GET', `/v1/orders/${f.cancellableOrderId}`, { token: f.buyer.token }), 200)).json();
  if (order.status !== 'cancelled') return;
  const cart = (await expectStatus('cart', http('GET', '/v1/cart', { token: f.buyer.token }), 200)).json();
  for (const item of cart.items) await expectStatus('remove', http('DELETE', `/v1/cart/items/${item.itemId}`, { token: f.buyer.token }), 200);
  for (const coupon of cart.coupons) await expectStatus('remove', http('DELETE', `/v1/cart/coupons/${coupon.code}`, { token: f.buyer.token }), 200);
  await fillCart(http, f.buyer, [{ variantId: f.posterVariantId, quantity: 1 }]);
  const session = (await expectStatus('checkout', checkout(http, f.buyer), 201)).json();
  expect(session.status, JSON.stringify(session.failure)).toBe('completed');
  f.cancellableOrderId = session.orderIds[0];
  await waitFor(async () => {
    const placed = (await expectStatus('order', http('GET', `/v1/orders/${f.cancellableOrderId}`, { token: f.buyer.token }), 200)).json();
    expect(placed.status).toBe('paid');
  });
}

/** The fixture's own resource for a path parameter, as its owner calls it. */
function pathValue(name: string): string {
  const values: Record<string, string> = {
    id: newId(),
    userId: f.otherBuyer.userId,
    productId: f.productId,
    categoryId: f.categoryId,
    variantId: f.variantId,
    reservationId: f.reservationId,
    itemId: f.itemId,
    code: f.couponCode,
    orderId: f.orderId,
    sessionId: f.sessionId,
    gateway: 'test',
    carrier: FUZZ_CARRIER,
    notificationId: f.notificationId,
    name: 'seller_dashboard',
    rebuildId: newId(),
    priceId: f.scheduledPriceId,
  };
  const value = values[name];
  if (value === undefined) throw new Error(`no fixture value for the path parameter ${name}: add one`);
  return value;
}

// ---- actors -----------------------------------------------------------------------------------

const anonymous: Actor = { label: 'anonymous' };
const asActor = (label: string, a: Account): Actor => ({ label, token: a.token });

function ownerOf(access: Access): Actor {
  if (access === 'public' || access === 'signed') return anonymous;
  if (access === 'signed-in' || access.includes('buyer')) return asActor('buyer', f.buyer);
  if (access.includes('seller')) return asActor('seller', f.seller);
  return f.admin;
}

/** The same role, but not the owner of the fixture's resources. */
function strangerOf(access: Access): Actor | undefined {
  if (access === 'public' || access === 'signed') return undefined;
  if (access === 'signed-in' || access.includes('buyer')) return asActor('another buyer', f.otherBuyer);
  if (access.includes('seller')) return asActor('another seller', f.otherSeller);
  return undefined;
}

// ---- requests ---------------------------------------------------------------------------------

interface Case {
  label: string;
  refused: boolean;
  actor?: Actor;
  /** Raw (already encoded) path segments by parameter name. */
  path?: Record<string, string>;
  /** Raw query string, without '?'. */
  query?: string;
  body?: Variant;
  /** A raw payload instead of the JSON body. */
  payload?: string | Buffer;
  contentType?: string | null;
  idempotencyKey?: string | string[] | null;
  authorization?: string;
  /** For signed routes: how the request is signed. */
  signature?: 'none' | 'wrong secret' | 'stale' | 'garbage';
}

interface Operation {
  key: string;
  method: string;
  template: string;
  spec: OperationSpec;
  access: Access;
  bodySchema?: JsonSchema;
  params: OpenApiParameter[];
  hasKeyHeader: boolean;
}

function operations(): Operation[] {
  return Object.entries(OPERATIONS).map(([key, spec]) => {
    const [method, template] = key.split(' ') as [string, string];
    const op = doc.paths[template]?.[method.toLowerCase()];
    if (!op) throw new Error(`${key} is not in the OpenAPI document`);
    const access = accessOf.get(key);
    if (access === undefined) throw new Error(`${key} declares no access`);
    const params = op.parameters ?? [];
    // A webhook's body is read raw and checked by its sender's adapter: its schema is the test gateway's or the carriers'.
    const webhookBody = template.startsWith('/v1/shipping/') ? CarrierWebhookBody : TestWebhookBody;
    const bodySchema = access === 'signed' ? (webhookBody as unknown as JsonSchema) : op.requestBody?.content['application/json']?.schema;
    return { key, method, template, spec, access, bodySchema, params, hasKeyHeader: params.some((p) => p.in === 'header' && p.name === 'idempotency-key') };
  });
}

function sign(secret: string, timestamp: number, payload: string | Buffer): string {
  return `t=${timestamp},v1=${createHmac('sha256', secret).update(`${timestamp}.`).update(payload).digest('hex')}`;
}

function requestOf(o: Operation, c: Case): InjectOptions {
  const pathValues = { ...Object.fromEntries(o.params.filter((p) => p.in === 'path').map((p) => [p.name, encodeURIComponent(pathValue(p.name))])), ...encodeAll(o.spec.params?.()), ...c.path };
  const url = o.template.replace(/\{([A-Za-z]+)\}/g, (_, name: string) => pathValues[name] ?? '') + (c.query ? `?${c.query}` : '');
  const headers: Record<string, string | string[]> = {};
  const actor = c.actor ?? ownerOf(o.access);
  if (c.authorization !== undefined) headers.authorization = c.authorization;
  else if (actor.token) headers.authorization = `Bearer ${actor.token}`;
  if (o.hasKeyHeader && c.idempotencyKey !== null) headers['idempotency-key'] = c.idempotencyKey ?? newId();
  let payload: string | Buffer | undefined = c.payload;
  if (payload === undefined && o.spec.body) {
    const body = c.body ? applyVariant(o.spec.body(), c.body) : o.spec.body();
    if (body !== REMOVE) payload = toJsonText(body);
  }
  if (payload !== undefined && c.contentType !== null) headers['content-type'] = c.contentType ?? 'application/json';
  if (o.access === 'signed' && c.signature !== 'none') {
    const now = Math.floor(Date.now() / 1000);
    const raw = payload ?? '';
    headers['bazaar-signature'] =
      c.signature === 'wrong secret'
        ? sign('not-the-webhook-secret', now, raw)
        : c.signature === 'stale'
          ? sign(WEBHOOK_SECRET, now - 3600, raw)
          : c.signature === 'garbage'
            ? `t=${now},v1=${'z'.repeat(64)}`
            : sign(WEBHOOK_SECRET, now, raw);
  }
  // Each request from an address of its own: the login limit per address would answer most logins 429.
  const remoteAddress = `10.${(sent >> 16) & 255}.${(sent >> 8) & 255}.${sent & 255}`;
  return { method: o.method as 'GET', url, headers, remoteAddress, ...(payload !== undefined ? { payload } : {}) };
}

function encodeAll(values: Record<string, string> | undefined): Record<string, string> {
  return Object.fromEntries(Object.entries(values ?? {}).map(([k, v]) => [k, encodeURIComponent(v)]));
}

// ---- what an answer must be -------------------------------------------------------------------

const STACK_OR_SQL = /\n\s+at |\s{4}at \S|\.ts:\d|\.js:\d|\bSELECT\b|\bINSERT\b|\bUPDATE \w+ SET\b|\brelation\b|\bviolates\b|syntax error|invalid input syntax|out of range for type|duplicate key value/;

/** What is wrong with an answer, or undefined. */
function wrongIn(answer: LightMyRequestResponse, refused: boolean): string | undefined {
  const status = answer.statusCode;
  if (status >= 500) return `${status} ${answer.body.slice(0, 200)}`;
  if (refused && status < 400) return `${status}, expected a refusal: ${answer.body.slice(0, 200)}`;
  if (status < 400) return undefined;
  if (!String(answer.headers['content-type']).startsWith('application/problem+json')) return `${status} as ${answer.headers['content-type']}`;
  if (STACK_OR_SQL.test(answer.body)) return `${status} shows a stack trace or SQL: ${answer.body.slice(0, 300)}`;
  let problem: { code?: unknown; status?: unknown };
  try {
    problem = JSON.parse(answer.body);
  } catch {
    return `${status} with a problem that is not JSON: ${answer.body.slice(0, 100)}`;
  }
  const code = problem.code;
  if (typeof code !== 'string' || !(code in ERROR_CATALOGUE)) return `${status} with code ${String(code)}, not in the catalogue`;
  if (ERROR_CATALOGUE[code as keyof typeof ERROR_CATALOGUE].status !== status || problem.status !== status) return `${status} with code ${code} (status ${String(problem.status)})`;
  return undefined;
}

let sent = 0;

/** Sends every case; answers what went wrong, one line each. */
async function send(o: Operation, cases: Case[]): Promise<{ wrong: string[]; refusedAll: boolean }> {
  const wrong: string[] = [];
  let refusedAll = true;
  for (const c of cases) {
    const answer = await t.app.http.inject(requestOf(o, c));
    sent++;
    if (answer.statusCode < 400) {
      refusedAll = false;
      await o.spec.refill?.();
    }
    const problem = wrongIn(answer, c.refused);
    if (problem) wrong.push(`${o.key} [${c.actor?.label ?? ownerOf(o.access).label}] ${c.label}: ${problem}`);
  }
  return { wrong, refusedAll };
}

// ---- the hostile cases of an operation ---------------------------------------------------------

function bodyCases(o: Operation): Case[] {
  if (!o.bodySchema || !o.spec.body) return [];
  return hostileVariants(o.bodySchema, o.spec.body()).map((v) => ({
    label: `body ${describePath(v.path)}: ${v.label}`,
    refused: v.refused,
    body: v,
  }));
}

const huge = JSON.stringify({ padding: 'x'.repeat(300 * 1024) });

function payloadCases(o: Operation): Case[] {
  if (o.method === 'GET') return [{ label: 'a body on a GET', refused: false, payload: '{"a":1}' }];
  const hasBody = o.bodySchema !== undefined;
  const cases: Case[] = [
    { label: 'malformed JSON', refused: true, payload: '{"a":' },
    { label: 'JSON with a trailing comma', refused: true, payload: '{"a":1,}' },
    { label: 'bytes that are not UTF-8', refused: hasBody, payload: Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d]) },
    { label: 'JSON over the body limit', refused: true, payload: huge },
    { label: 'text/plain', refused: true, payload: 'hello', contentType: 'text/plain' },
    { label: 'a form', refused: true, payload: 'a=1&b=2', contentType: 'application/x-www-form-urlencoded' },
    { label: 'multipart', refused: true, payload: '--x\r\n\r\n--x--', contentType: 'multipart/form-data; boundary=x' },
    { label: 'XML', refused: true, payload: '<a/>', contentType: 'application/xml' },
    { label: 'JSON with a BOM', refused: false, payload: `\uFEFF${JSON.stringify(o.spec.body?.() ?? {})}` },
    { label: 'duplicate keys', refused: false, payload: '{"a":1,"a":2}' },
    { label: 'JSON as charset=utf-16', refused: false, payload: '{}', contentType: 'application/json; charset=utf-16' },
    { label: 'JSON under another JSON type', refused: false, payload: '{}', contentType: 'application/merge-patch+json' },
    { label: 'a JSON body without a content type', refused: hasBody, payload: JSON.stringify(o.spec.body?.() ?? {}), contentType: null },
  ];
  if (hasBody) {
    cases.push(
      // A body without required fields may be left out (also as an empty body sent as JSON), and null is taken for none.
      { label: 'empty JSON body', refused: (o.bodySchema?.required ?? []).length > 0, payload: '' },
      { label: 'JSON null', refused: (o.bodySchema?.required ?? []).length > 0, payload: 'null' },
      { label: 'JSON array', refused: true, payload: '[]' },
      { label: 'JSON string', refused: true, payload: '"text"' },
      { label: 'JSON number', refused: true, payload: '42' },
      { label: '10,000 nested arrays', refused: true, payload: `{"a":${'['.repeat(10_000)}${']'.repeat(10_000)}}` },
    );
  } else {
    cases.push({ label: 'an unexpected JSON body', refused: false, payload: '{"a":1}' });
  }
  return cases;
}

function pathCases(o: Operation): Case[] {
  const cases: Case[] = [];
  const nonPublic = o.access !== 'public' && o.access !== 'signed';
  for (const p of o.params.filter((x) => x.in === 'path')) {
    const own = o.spec.params?.()[p.name] ?? pathValue(p.name);
    const at = (label: string, raw: string, refused: boolean): Case => ({ label: `path ${p.name}: ${label}`, refused, path: { [p.name]: raw } });
    if (p.schema.format === 'uuid') {
      cases.push(
        at('not a uuid', 'not-a-uuid', true),
        at('urn:uuid', `urn:uuid:${own}`, true),
        at('own id with a trailing space', `${own}%20`, true),
        at('a uuid of nothing', newId(), true),
        at('the nil uuid', '00000000-0000-0000-0000-000000000000', true),
        at('the max uuid', 'ffffffff-ffff-ffff-ffff-ffffffffffff', true),
        at('own id in upper case', own.toUpperCase(), false),
        at('2,000 characters', 'a'.repeat(2000), true),
      );
    } else {
      const max = p.schema.maxLength ?? 40;
      cases.push(at('just over maxLength', 'a'.repeat(max + 1), true), at('far over maxLength', 'a'.repeat(max * 50), true));
      for (const [label, text] of Object.entries(ODD_STRINGS)) cases.push(at(label, encodeURIComponent(text), false));
    }
    cases.push(
      at('emoji', '%F0%9F%98%80', p.schema.format === 'uuid'),
      at('NUL', '%00', true),
      at('an encoded lone surrogate', '%ED%A0%BD', true),
      at('a broken percent escape', '%ZZ', p.schema.format === 'uuid'),
      at('dot segments', '..%2F..%2Fhealth', p.schema.format === 'uuid'),
    );
    const stranger = strangerOf(o.access);
    if (nonPublic && stranger && p.schema.format === 'uuid') cases.push({ label: `path ${p.name}: another user's`, refused: true, actor: stranger });
  }
  return cases;
}

const b64 = (text: string) => Buffer.from(text).toString('base64url');

function queryCases(o: Operation, cursor: Record<string, Json> | undefined): Case[] {
  const cases: Case[] = [];
  const at = (label: string, query: string, refused: boolean): Case => ({ label: `query ${label}`, refused, query });
  for (const p of o.params.filter((x) => x.in === 'query')) {
    const name = p.name;
    const s = p.schema;
    const types = [s.type, ...(s.anyOf ?? []).map((b) => b.type)].flat();
    const q = (value: string) => `${name}=${encodeURIComponent(value)}`;
    if (types.includes('integer')) {
      for (const [label, value, refused] of [
        ['0', '0', (s.minimum ?? 0) > 0],
        ['-1', '-1', (s.minimum ?? -1) > -1],
        ['10^9', '1000000000', (s.maximum ?? Number.POSITIVE_INFINITY) < 1e9],
        ['10^20', '100000000000000000000', s.maximum !== undefined],
        ['1.5', '1.5', true],
        ['abc', 'abc', true],
        ['NaN', 'NaN', true],
        ['Infinity', 'Infinity', true],
        ['-Infinity', '-Infinity', true],
        ['1e999', '1e999', true],
        ['1e2', '1e2', false],
        ['empty', '', false],
        [' 5', ' 5', false],
        ['0x10', '0x10', false],
      ] as const) {
        cases.push(at(`${name}=${label}`, q(value), refused));
      }
      cases.push(at(`${name} twice`, `${name}=1&${name}=2`, true));
    } else if (name === 'cursor') {
      cases.push(
        at('cursor of garbage', q('!!not base64!!'), true),
        at('cursor of base64 garbage', q(b64('{"unterminated')), true),
        at('cursor of a JSON array', q(b64('[1,2]')), true),
        at('cursor of JSON null', q(b64('null')), true),
        at('cursor of an empty object', q(b64('{}')), true),
        at('cursor over maxLength', q('a'.repeat((s.maxLength ?? 500) + 1)), true),
        at('cursor empty', q(''), false),
        at('cursor twice', 'cursor=a&cursor=b', false),
      );
      // The real cursor of this list with each key in turn made odd.
      for (const key of Object.keys(cursor ?? {})) {
        for (const [label, value] of Object.entries(CURSOR_VALUES)) {
          // Signed as the API signs its own (the app runs in this process, with this module's key),
          // so the odd key reaches the list's own reading of it.
          cases.push(at(`cursor ${key}: ${label}`, q(signCursor({ ...cursor, [key]: value })), false));
        }
      }
    } else {
      const enumerated = (s.anyOf ?? []).length > 0 || s.enum !== undefined;
      if (enumerated) cases.push(at(`${name} not in the enum`, q('no-such-value'), true));
      if (s.format === 'uuid') cases.push(at(`${name} not a uuid`, q('not-a-uuid'), true));
      if (s.maxLength !== undefined) cases.push(at(`${name} just over maxLength`, q('a'.repeat(s.maxLength + 1)), true));
      for (const [label, text] of Object.entries(ODD_STRINGS)) cases.push(at(`${name}: ${label}`, q(text), enumerated || s.format === 'uuid'));
      cases.push(at(`${name} empty`, q(''), false), at(`${name} twice`, `${name}=a&${name}=b`, false), at(`${name} NUL`, q('\u0000'), true));
    }
  }
  cases.push(at('an unknown parameter', 'unknownParameter=1', false), at('a broken percent escape', 'limit=%ZZ', false));
  return cases;
}

const CURSOR_VALUES: Record<string, Json> = {
  'a number': 1,
  'a huge number': 1e308,
  'a negative number': -1,
  'empty text': '',
  'long text': 'x'.repeat(300),
  emoji: '😀',
  'not a date': '2026-13-45T25:61:00.000Z',
  'year 0': '0000-01-01T00:00:00.000Z',
  'year 275760': '+275760-09-13T00:00:00.000Z',
  'an object': { a: 1 },
  null: null,
  'not a uuid': 'zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz',
};

function headerCases(o: Operation): Case[] {
  const cases: Case[] = [];
  if (o.hasKeyHeader) {
    const max = o.params.find((p) => p.name === 'idempotency-key')?.schema.maxLength ?? 255;
    cases.push(
      { label: 'no Idempotency-Key', refused: o.spec.keyRequired === true, idempotencyKey: null },
      { label: 'empty Idempotency-Key', refused: true, idempotencyKey: '' },
      { label: 'Idempotency-Key just over maxLength', refused: true, idempotencyKey: 'k'.repeat(max + 1) },
      { label: 'Idempotency-Key of 8 KB', refused: true, idempotencyKey: 'k'.repeat(8192) },
      { label: 'Idempotency-Key with NUL', refused: true, idempotencyKey: 'key\u0000' },
      { label: 'Idempotency-Key of spaces', refused: false, idempotencyKey: '   ' },
      { label: 'Idempotency-Key twice', refused: false, idempotencyKey: [newId(), newId()] },
      { label: 'Idempotency-Key of Latin-1', refused: false, idempotencyKey: 'clé-\u00ff' },
    );
  }
  return cases;
}

function accessCases(o: Operation): Case[] {
  const cases: Case[] = [];
  const tokenOf: Record<string, Actor> = { buyer: asActor('buyer', f.buyer), seller: asActor('seller', f.seller), admin: f.admin };
  if (o.access === 'signed') {
    return [
      { label: 'unsigned', refused: true, signature: 'none' },
      { label: 'signed with another secret', refused: true, signature: 'wrong secret' },
      { label: 'signed an hour ago', refused: true, signature: 'stale' },
      { label: 'a signature of garbage', refused: true, signature: 'garbage' },
    ];
  }
  const isPublic = o.access === 'public';
  for (const [role, actor] of Object.entries(tokenOf)) {
    const allowed = isPublic || o.access === 'signed-in' || (o.access as readonly string[]).includes(role);
    cases.push({ label: `as ${role}`, refused: !allowed, actor });
  }
  const forged = `${f.buyer.token.split('.').slice(0, 2).join('.')}.${'A'.repeat(43)}`;
  for (const [label, authorization] of [
    ['anonymous', ''],
    ['a token of garbage', 'Bearer garbage'],
    ['a token with a forged signature', `Bearer ${forged}`],
    ['a Basic authorization', 'Basic YWRhOnB3'],
    ['Bearer and nothing', 'Bearer '],
    ['a token of 8 KB', `Bearer ${'a'.repeat(8192)}`],
  ] as const) {
    cases.push({ label, refused: !isPublic, actor: anonymous, authorization });
  }
  return cases;
}

// ---- refusals change nothing --------------------------------------------------------------------

const tablesOf = new Map<string, string[]>();

/** Every row of every table of every domain (outboxes, inboxes and dead letters too), hashed per table. */
async function fingerprint(): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const [domain, pool] of t.app.pools) {
    let tables = tablesOf.get(domain);
    if (!tables) {
      const { rows } = await pool.query<{ name: string }>(
        `SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1`,
      );
      tables = rows.map((r) => r.name);
      tablesOf.set(domain, tables);
    }
    const { rows } = await pool.query<{ name: string; hash: string }>(
      tables.map((name) => `SELECT '${name}' AS name, (SELECT md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) FROM "${name}" x) AS hash`).join(' UNION ALL '),
    );
    for (const r of rows) out.set(`${domain}.${r.name}`, r.hash);
  }
  return out;
}

function changedTables(before: Map<string, string>, after: Map<string, string>): string[] {
  return [...after].filter(([name, hash]) => before.get(name) !== hash).map(([name]) => name);
}

/** Waits until event delivery has nothing left to do: every outbox published, no table changing for a while. */
async function settled(): Promise<Map<string, string>> {
  let last = await fingerprint();
  let quiet = 0;
  await eventually(
    async () => {
      await new Promise((r) => setTimeout(r, 200));
      const outboxes = (await expectStatus('outbox', http('GET', '/v1/admin/events/outbox', { token: f.admin.token }), 200)).json();
      const now = await fingerprint();
      const changed = changedTables(last, now);
      last = now;
      quiet = changed.length === 0 && outboxes.items.every((o: { backlog: number }) => o.backlog === 0) ? quiet + 1 : 0;
      expect(quiet).toBeGreaterThanOrEqual(3);
    },
    { timeoutMs: 30_000, intervalMs: 0 },
  );
  return last;
}

// ---- the fixture ----------------------------------------------------------------------------------

const waitFor = <T>(check: () => Promise<T>) => eventually(check, { timeoutMs: 10_000, intervalMs: 50 });

async function buildFixture(): Promise<Fixture> {
  const products = t.app.modules.find((m) => m.name === 'products') as unknown as { api: ProductsApi };
  const category = categoryFixture();
  await products.api.importCategories([category]);
  const [buyer, otherBuyer, seller, otherSeller] = await Promise.all([
    signUp(http, 'buyer', 'fuzz-buyer'),
    signUp(http, 'buyer', 'fuzz-other-buyer'),
    signUp(http, 'seller', 'fuzz-seller'),
    signUp(http, 'seller', 'fuzz-other-seller'),
  ]);
  const admin = (await expectStatus('admin login', http('POST', '/v1/auth/login', { body: { email: ADMIN_EMAIL, password: PASSWORD } }), 200)).json();
  const mug = await listProduct(http, seller, { categoryId: category.id, title: 'Mug', price: 2500, stock: 100_000 }, waitFor);
  const poster = await listProduct(http, otherSeller, { categoryId: category.id, title: 'Poster', price: 1000, stock: 100_000 }, waitFor);
  await listProduct(http, seller, { categoryId: category.id, title: 'Second mug', price: 2600, stock: 5 }, waitFor);
  const draft = (
    await expectStatus(
      'draft',
      http('POST', '/v1/seller/products', {
        token: seller.token,
        body: { sku: `DRAFT-${next()}`, title: 'Draft', categoryId: category.id, variants: [{ sku: `DRAFT-${next()}`, price: { amount: 700, currency: 'USD' } }] },
      }),
      201,
    )
  ).json();
  const scheduled = (
    await expectStatus(
      'scheduled',
      http('POST', '/v1/seller/products', {
        token: seller.token,
        body: { sku: `SCHED-${next()}`, title: 'Scheduled', categoryId: category.id, variants: [{ sku: `SCHED-${next()}`, price: { amount: 700, currency: 'USD' }, priceEffectiveFrom: inDays(1) }] },
      }),
      201,
    )
  ).json();
  const { code } = await createCoupon(http, seller, { code: 'FUZZ-TEN', type: 'percentage', discount: 1000 });
  await createCoupon(http, seller, { code: 'FUZZ-FIVE', type: 'percentage', discount: 500 });

  await fillCart(http, buyer, [
    { variantId: mug.variantId, quantity: 1 },
    { variantId: poster.variantId, quantity: 1 },
  ]);
  const session = (await expectStatus('checkout', checkout(http, buyer), 201)).json();
  expect(session.status).toBe('completed');
  const orders = await waitFor(async () => {
    const page = (await expectStatus('orders', http('GET', '/v1/orders', { token: buyer.token }), 200)).json() as { items: { id: string; sellerId: string; status: string }[] };
    expect(page.items.map((o) => o.status)).toEqual(['paid', 'paid']);
    return page.items;
  });
  for (const carrierName of [FUZZ_CARRIER, PATCHED_CARRIER]) {
    await expectStatus(
      'carrier',
      http('POST', '/v1/admin/carriers', {
        token: admin.accessToken,
        body: { carrierName, apiEndpoint: `https://${carrierName}.example`, credentials: { webhookSecret: WEBHOOK_SECRET } },
      }),
      201,
    );
  }
  const trackingNumber = `FZ-SHIPPED-${next()}`.toUpperCase();
  const orderId = orders.find((o) => o.sellerId === seller.userId)!.id;
  await expectStatus(
    'shipment',
    http('POST', `/v1/seller/orders/${orderId}/shipments`, { token: seller.token, body: { carrier: FUZZ_CARRIER, trackingNumber } }),
    201,
  );
  const { rows } = await t.app.pools.get('payments')!.query<{ id: string; gateway_reference: string }>(
    'SELECT id, gateway_reference FROM payment_intents WHERE gateway_reference IS NOT NULL LIMIT 1',
  );

  await fillCart(http, buyer, [{ variantId: mug.variantId, quantity: 1 }], [code]);
  await fillCart(http, otherBuyer, [{ variantId: poster.variantId, quantity: 1 }]);
  const cart = (await expectStatus('cart', http('GET', '/v1/cart', { token: buyer.token }), 200)).json();
  // The buyer's notifications of the checkout (placed, paid) come by events.
  const notification = await waitFor(async () => {
    const page = (await expectStatus('notifications', http('GET', '/v1/me/notifications', { token: buyer.token }), 200)).json() as { items: { id: string; type: string }[] };
    const paid = page.items.find((n) => n.type === 'order_paid');
    expect(paid).toBeDefined();
    return paid as { id: string };
  });
  const reservation = (
    await expectStatus(
      'reserve',
      http('POST', '/v1/reservations', { token: buyer.token, headers: { 'idempotency-key': newId() }, body: { items: [{ variantId: mug.variantId, quantity: 1 }] } }),
      201,
    )
  ).json();

  return {
    buyer,
    otherBuyer,
    seller,
    otherSeller,
    admin: { label: 'admin', token: admin.accessToken },
    categoryId: category.id,
    productId: mug.productId,
    variantId: mug.variantId,
    posterVariantId: poster.variantId,
    draftProductId: draft.id,
    draftVersion: draft.version,
    pricedProductId: draft.id,
    pricedVariantId: draft.variants[0].id,
    scheduledProductId: scheduled.id,
    scheduledPriceId: scheduled.priceWindows[0].priceId,
    unpublishedProductId: draft.id,
    publishedProductId: mug.productId,
    couponCode: code,
    orderId,
    cancellableOrderId: orders.find((o) => o.sellerId === otherSeller.userId)!.id,
    sessionId: session.id,
    reservationId: reservation.id,
    itemId: cart.items[0].itemId,
    intentId: rows[0]!.id,
    chargeReference: rows[0]!.gateway_reference,
    trackingNumber,
    notificationId: notification.id,
  };
}

/** A real next-page cursor of a list, decoded, when the fixture has more than one item there. */
async function realCursor(o: Operation): Promise<Record<string, Json> | undefined> {
  if (!o.params.some((p) => p.in === 'query' && p.name === 'cursor')) return undefined;
  const answer = await t.app.http.inject(requestOf(o, { label: 'page', refused: false, query: 'limit=1' }));
  const nextCursor = (answer.json() as { nextCursor?: string | null }).nextCursor;
  return nextCursor ? JSON.parse(Buffer.from(nextCursor.split('.')[0] as string, 'base64url').toString('utf8')) : undefined;
}

beforeAll(async () => {
  t = await startTestApp({
    // Requests go one at a time: fewer connections leave the server's to the test files running beside this one.
    DATABASE_POOL_SIZE_MAX: '3',
    CHECKOUT_WAIT_MS: '8000',
    PAYMENTS_TEST_WEBHOOK_DELAY_MS: '50',
    PAYMENTS_WEBHOOK_SECRET: WEBHOOK_SECRET,
    // A provider failure would be retried later, changing a table while another route is checked.
    NOTIFICATIONS_TEST_PROVIDER_FAILURE_PERCENT: '0',
    // Not the default: the server is seen to take it (one test below).
    HTTP_REQUEST_TIMEOUT_MS: '90000',
    ADMIN_EMAIL,
    ADMIN_PASSWORD: PASSWORD,
  });
  http = (method, url, options) => t.request(method, url, options) as unknown as Promise<HttpAnswer>;
  doc = (await t.request('GET', '/openapi.json')).json();
  accessOf = new Map(t.app.http.declaredRoutes.map((r) => [`${r.method} ${r.url.replace(/:([A-Za-z]+)/g, '{$1}')}`, r.access]));
  f = await buildFixture();
});

afterAll(async () => {
  console.info(`no-server-errors: ${sent} requests`);
  await t?.close();
});

// Money moved in these tests: the ledger balances after each (test/support/ledger.ts).
afterEach(async () => {
  await expectLedgerBalanced(t.app.pools.get('payments')!);
});

describe('every route of the OpenAPI document', () => {
  it('is served by a server that takes HTTP_REQUEST_TIMEOUT_MS, the headers within it', () => {
    expect(t.app.http.server.requestTimeout).toBe(90_000);
    expect(t.app.http.server.headersTimeout).toBeLessThanOrEqual(90_000);
  });

  it('is in this test with a valid request to start from', () => {
    const documented = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((method) => `${method.toUpperCase()} ${path}`));
    expect(documented.filter((key) => !(key in OPERATIONS))).toEqual([]);
    expect(Object.keys(OPERATIONS).filter((key) => !documented.includes(key))).toEqual([]);
    for (const o of operations()) if (o.bodySchema) expect(o.spec.body, `${o.key} needs a valid body`).toBeDefined();
    // The document marks the Idempotency-Key required exactly where a request without one is refused.
    for (const o of operations().filter((x) => x.hasKeyHeader)) {
      expect(o.params.find((p) => p.in === 'header' && p.name === 'idempotency-key')?.required === true, `${o.key}: Idempotency-Key required`).toBe(o.spec.keyRequired === true);
    }
  });

  it('refuses input no valid request holds with a catalogued problem, and changes nothing', async () => {
    const wrong: string[] = [];
    // Keys used once each (what that changed settles below), to be reused with another body.
    const usedKeys = new Map<string, string>();
    for (const o of operations().filter((x) => x.spec.anotherBody)) {
      const key = newId();
      wrong.push(...(await send(o, [{ label: 'first use of an Idempotency-Key', refused: false, idempotencyKey: key }])).wrong);
      usedKeys.set(o.key, key);
    }
    let before = await settled();
    for (const o of operations()) {
      const cases = [...accessCases(o), ...bodyCases(o), ...payloadCases(o), ...pathCases(o), ...queryCases(o, undefined), ...headerCases(o)].filter((c) => c.refused);
      const usedKey = usedKeys.get(o.key);
      if (usedKey && o.spec.anotherBody) {
        cases.push({ label: 'Idempotency-Key reused with another body', refused: true, idempotencyKey: usedKey, body: { path: [], value: o.spec.anotherBody(), refused: true, label: 'another body' } });
      }
      const result = await send(o, cases);
      wrong.push(...result.wrong);
      const after = await fingerprint();
      const changed = changedTables(before, after);
      if (result.refusedAll && changed.length > 0) wrong.push(`${o.key}: refused requests changed ${changed.join(', ')}`);
      before = after;
    }
    expect(wrong).toEqual([]);
  });

  // About 3,000 requests, most of the time in checkouts (each completes its saga before the next): more than the default 60 s on a busy machine.
  it('answers odd input (which it may accept) without a server error, a stack trace or SQL', async () => {
    const wrong: string[] = [];
    for (const o of operations()) {
      const cursor = await realCursor(o);
      await o.spec.refill?.();
      const cases = [...bodyCases(o), ...payloadCases(o), ...pathCases(o), ...queryCases(o, cursor), ...headerCases(o)].filter((c) => !c.refused);
      wrong.push(...(await send(o, cases)).wrong);
    }
    expect(wrong).toEqual([]);
    // About 55 s on a shared 2-core machine, most of it checkout's odd bodies: 60 s left no margin.
  }, 180_000);

  it('answers random combinations of hostile fields without a server error (fast-check, fixed seed)', async () => {
    const wrong: string[] = [];
    for (const o of operations()) {
      if (!o.bodySchema || !o.spec.body) continue;
      await o.spec.refill?.();
      const variants = hostileVariants(o.bodySchema, o.spec.body());
      const paths = [...new Map(variants.filter((v) => v.value !== REMOVE).map((v) => [describePath(v.path), v.path])).values()];
      const randomValue = fc.record({
        path: fc.constantFrom(...paths),
        value: fc.oneof(fc.string({ unit: 'binary', maxLength: 80 }), fc.integer(), fc.double(), fc.jsonValue({ maxDepth: 3 }) as fc.Arbitrary<Json>),
      });
      const combinations = fc.sample(fc.array(fc.oneof(fc.constantFrom(...variants), randomValue), { minLength: 2, maxLength: 4 }), { seed: SEED, numRuns: 12 });
      for (const chosen of combinations) {
        const combined: Variant = { path: [], value: chosen.reduce<Json>((body, v) => applyDeep(body, v), o.spec.body!()), refused: false, label: 'combined' };
        wrong.push(...(await send(o, [{ label: `body ${chosen.map((v) => describePath(v.path)).join(' + ')}`, refused: false, body: combined }])).wrong);
      }
    }
    expect(wrong).toEqual([]);
  });

  it('leaves every read answering and no event parked by what it accepted', async () => {
    await settled();
    const parked = (await expectStatus('dead letters', http('GET', '/v1/admin/events/dead-letters?limit=200', { token: f.admin.token }), 200)).json();
    expect(parked.items).toEqual([]);
    const wrong: string[] = [];
    for (const o of operations().filter((x) => x.method === 'GET')) wrong.push(...(await send(o, [{ label: 'read again at the end', refused: false }])).wrong);
    expect(wrong).toEqual([]);
  });
});

/** Applies a variant where its parent still exists (an earlier one may have replaced it). */
function applyDeep(body: Json, v: Pick<Variant, 'path' | 'value'>): Json {
  let parent: Json = body;
  for (const key of v.path.slice(0, -1)) {
    if (parent === null || typeof parent !== 'object') return body;
    parent = (parent as Record<string | number, Json>)[key] as Json;
  }
  if (v.path.length > 0 && (parent === null || typeof parent !== 'object')) return body;
  const applied = applyVariant(body, v);
  return applied === REMOVE ? body : applied;
}
