import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newId } from '../../src/platform/ids.ts';
import { ERROR_CATALOGUE } from '../../src/platform/http/errors.ts';
import { type TestApp, startTestApp } from '../support/app.ts';

/** The OpenAPI document says what the server does: content types, required headers, optional parameters. */

interface Schema {
  $ref?: string;
  type?: string;
  default?: unknown;
  enum?: unknown[];
  properties?: Record<string, Schema>;
  required?: string[];
}
interface Parameter {
  in: string;
  name: string;
  required?: boolean;
  schema: Schema;
}
interface Operation {
  parameters?: Parameter[];
  responses: Record<string, { content?: Record<string, { schema: Schema }>; headers?: Record<string, unknown> }>;
}
interface Document {
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, Schema> };
}

let t: TestApp;
let doc: Document;

beforeAll(async () => {
  t = await startTestApp();
  doc = (await t.request('GET', '/openapi.json')).json();
});
afterAll(() => t.close());

function operations(): { key: string; op: Operation }[] {
  return Object.entries(doc.paths).flatMap(([path, ops]) => Object.entries(ops).map(([method, op]) => ({ key: `${method.toUpperCase()} ${path}`, op })));
}

function resolve(schema: Schema): Schema {
  const name = schema.$ref?.replace('#/components/schemas/', '');
  return name === undefined ? schema : (doc.components.schemas[name] ?? {});
}

const token = async (role: 'buyer' | 'seller' | 'admin') => (await t.app.tokens.sign({ userId: newId(), roles: [role] })).token;

describe('the OpenAPI document', () => {
  it('describes every error answer as application/problem+json with the codes of the error catalogue', () => {
    const wrong: string[] = [];
    for (const { key, op } of operations()) {
      for (const [status, response] of Object.entries(op.responses)) {
        // /ready's 503 is its own readiness body, not a problem.
        if (Number(status) < 400 || key === 'GET /ready') continue;
        const types = Object.keys(response.content ?? {});
        if (types.join() !== 'application/problem+json') {
          wrong.push(`${key} ${status}: ${types.join(', ')}`);
          continue;
        }
        const problem = resolve(response.content!['application/problem+json']!.schema);
        expect(problem.required).toEqual(expect.arrayContaining(['type', 'title', 'status', 'code']));
        expect(problem.properties?.code?.enum, `${key} ${status}`).toEqual(Object.keys(ERROR_CATALOGUE));
      }
    }
    expect(wrong).toEqual([]);
    expect(doc.paths['/v1/orders']?.get?.responses['401']).toBeDefined();
  });

  it('documents 400 for every /v1 operation, since each validates its query at least', async () => {
    const signed = ['/v1/payments/webhooks/{gateway}', '/v1/shipping/webhooks/{carrier}'];
    const missing = operations()
      .filter(({ key }) => key.split(' ')[1]?.startsWith('/v1/') && !signed.includes(key.split(' ')[1] ?? ''))
      .filter(({ op }) => op.responses['400'] === undefined)
      .map(({ key }) => key);
    expect(missing).toEqual([]);
    // The public category tree among them: an unknown query parameter is a 400.
    expect((await t.request('GET', '/v1/categories?foo=1')).json()).toMatchObject({ status: 400, code: 'VALIDATION_FAILED' });
  });

  it('declares 503 on every operation, and 409, 413 and 415 on every one whose method carries a body, with a body schema or not (found by helpers: only those with one did; a write undone by a concurrent one is a 409 on any of them)', async () => {
    const missing: string[] = [];
    for (const { key, op } of operations()) {
      const method = key.split(' ')[0];
      const expected = method === 'GET' || method === 'HEAD' ? ['503'] : ['409', '413', '415', '503'];
      for (const status of expected) if (op.responses[status] === undefined) missing.push(`${key} ${status}`);
    }
    expect(missing).toEqual([]);
    // A route that takes no body still reads one: text is a 415, as declared.
    const notJson = await t.request('POST', `/v1/me/notifications/${newId()}/read`, {
      token: await token('buyer'),
      headers: { 'content-type': 'text/plain' },
      body: 'hi',
    });
    expect([notJson.statusCode, notJson.json().code]).toEqual([415, 'UNSUPPORTED_MEDIA_TYPE']);
  });

  it('declares a success answer on every operation, by its media type where it is not JSON', () => {
    const without = operations()
      .filter(({ op }) => !Object.keys(op.responses).some((status) => status.startsWith('2') || status.startsWith('3')))
      .map(({ key }) => key);
    expect(without).toEqual([]);
    expect(Object.keys(doc.paths['/metrics']!.get!.responses['200']!.content ?? {})).toEqual(['text/plain']);
    expect(Object.keys(doc.paths['/openapi.json']!.get!.responses['200']!.content ?? {})).toEqual(['application/json']);
  });

  it('describes the body and the signature header of the signed webhooks, which read their bodies raw (found by a helper: neither was described)', () => {
    for (const path of ['/v1/payments/webhooks/{gateway}', '/v1/shipping/webhooks/{carrier}']) {
      const op = doc.paths[path]!.post! as Operation & { requestBody?: { required?: boolean; content?: Record<string, { schema: Schema }> } };
      expect(op.requestBody?.required, path).toBe(true);
      const body = op.requestBody?.content?.['application/json']?.schema;
      expect(body?.required, path).toEqual(['id', 'type', 'created', 'data']);
      expect(op.parameters?.find((p) => p.in === 'header' && p.name === 'bazaar-signature'), path).toMatchObject({ required: true });
    }
  });

  it('matches what the server sends for a problem', async () => {
    const answer = await t.request('GET', '/v1/orders');
    expect(answer.statusCode).toBe(401);
    expect(answer.headers['content-type']).toMatch(/^application\/problem\+json/);
    const documented = doc.paths['/v1/orders']!.get!.responses['401']!.content!;
    expect(Object.keys(documented)).toEqual(['application/problem+json']);
    expect(resolve(documented['application/problem+json']!.schema).properties?.code?.enum).toContain(answer.json().code);
  });

  it('marks the Idempotency-Key header required on the writes that refuse to run without one', async () => {
    const refused = [
      { key: 'POST /v1/checkout', url: '/v1/checkout', role: 'buyer', body: { shippingAddress: { name: 'A', line1: '1 St', city: 'C', postalCode: '1', country: 'US' }, paymentMethod: { token: 'tok_visa' } } },
      { key: 'POST /v1/seller/orders/{orderId}/refunds', url: `/v1/seller/orders/${newId()}/refunds`, role: 'seller', body: { amount: { amount: 1, currency: 'USD' }, reason: 'dent' } },
      { key: 'POST /v1/reservations', url: '/v1/reservations', role: 'buyer', body: { items: [{ variantId: newId(), quantity: 1 }] } },
    ] as const;
    for (const r of refused) {
      const [method, path] = r.key.split(' ') as [string, string];
      const header = doc.paths[path]?.[method.toLowerCase()]?.parameters?.find((p) => p.in === 'header' && p.name === 'idempotency-key');
      expect(header?.required, r.key).toBe(true);
      // The answer without it is the one it always was: 400 IDEMPOTENCY_KEY_REQUIRED as problem+json.
      const answer = await t.request('POST', r.url, { token: await token(r.role), body: r.body });
      expect(answer.statusCode, r.key).toBe(400);
      expect(answer.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(answer.json(), r.key).toMatchObject({ code: 'IDEMPOTENCY_KEY_REQUIRED', status: 400, type: 'https://bazaar.dev/problems/idempotency-key-required' });
    }
    // Where the key is optional (a stock adjustment works without one) it stays optional.
    const adjustment = doc.paths['/v1/seller/stock/{variantId}/adjustments']?.post?.parameters?.find((p) => p.name === 'idempotency-key');
    expect(adjustment?.required).toBe(false);
  });

  it('leaves a parameter with a default optional, and the server fills the default in', async () => {
    const withDefault = operations().flatMap(({ key, op }) => (op.parameters ?? []).filter((p) => p.schema.default !== undefined).map((p) => ({ key, p })));
    expect(withDefault.map(({ key, p }) => `${key} ${p.name}`)).toContain('GET /v1/orders limit');
    expect(withDefault.filter(({ p }) => p.required !== false).map(({ key, p }) => `${key} ${p.name}`)).toEqual([]);
    const page = await t.request('GET', '/v1/orders', { token: await token('buyer') });
    expect(page.statusCode).toBe(200);
  });

  it('marks a request body optional exactly where the server takes a request without one', async () => {
    const optional = operations()
      .filter(({ op }) => (op as { requestBody?: { required?: boolean } }).requestBody?.required === false)
      .map(({ key }) => key);
    expect(optional.sort()).toEqual(['POST /v1/orders/{orderId}/cancel', 'POST /v1/seller/orders/{orderId}/fulfilment']);
    const cartItems = doc.paths['/v1/cart/items']?.post as { requestBody?: { required?: boolean } } | undefined;
    expect(cartItems?.requestBody?.required).toBe(true);
    // Left out, the body is taken as {} (the order is unknown: 404, not a validation failure).
    const res = await t.request('POST', `/v1/orders/${'0'.repeat(8)}-0000-7000-8000-${'0'.repeat(12)}/cancel`, { token: await token('buyer') });
    expect(res.statusCode, res.body).toBe(404);
    // A JSON null is a body that is not an object: refused before anything is looked at.
    for (const url of [`/v1/orders/${'0'.repeat(8)}-0000-7000-8000-${'0'.repeat(12)}/cancel`, `/v1/seller/orders/${'0'.repeat(8)}-0000-7000-8000-${'0'.repeat(12)}/fulfilment`]) {
      const sent = await t.app.http.inject({
        method: 'POST',
        url,
        headers: { authorization: `Bearer ${await token(url.includes('seller') ? 'seller' : 'buyer')}`, 'content-type': 'application/json' },
        payload: 'null',
      });
      expect([sent.statusCode, sent.json().code], sent.body).toEqual([400, 'VALIDATION_FAILED']);
    }
  });

  it('declares the response headers the server sends, and the conditional request header of the reads that answer 304', async () => {
    const headersOf = (key: string, status: string) => {
      const [method, path] = key.split(' ') as [string, string];
      return Object.keys(doc.paths[path]?.[method.toLowerCase()]?.responses[status]?.headers ?? {}).sort();
    };
    for (const { key, op } of operations()) for (const status of Object.keys(op.responses)) expect(headersOf(key, status), `${key} ${status}`).toContain('X-Request-Id');
    const product = doc.paths['/v1/products/{productId}']!.get!;
    expect(product.parameters?.find((p) => p.in === 'header' && p.name === 'If-None-Match')).toMatchObject({ required: false });
    expect(headersOf('GET /v1/products/{productId}', '200')).toEqual(expect.arrayContaining(['ETag', 'Cache-Control']));
    expect(headersOf('GET /v1/products/{productId}', '304')).toContain('ETag');
    expect(headersOf('POST /v1/checkout', '201')).toEqual(expect.arrayContaining(['Location', 'Idempotent-Replayed']));
    expect(headersOf('POST /v1/checkout', '202')).toContain('Location');
    expect(headersOf('POST /v1/seller/orders/{orderId}/refunds', '201')).toContain('Idempotent-Replayed');
    const withLocation = operations()
      .filter(({ key, op }) => Object.keys(op.responses).some((status) => headersOf(key, status).includes('Location')))
      .map(({ key }) => key)
      .sort();
    expect(withLocation).toEqual(['POST /v1/admin/read-models/{name}/rebuild', 'POST /v1/checkout', 'POST /v1/seller/products']);
    for (const { key, op } of operations()) if (op.responses['503']) expect(headersOf(key, '503'), key).toContain('Retry-After');
    // A write's 409 may be a transaction undone for a concurrent one, answered with Retry-After (found by a review: undeclared).
    for (const { key, op } of operations()) if (op.responses['409']) expect(headersOf(key, '409'), key).toContain('Retry-After');
    // The server does send them.
    const created = await t.request('POST', '/v1/seller/products', { token: await token('seller'), body: {} });
    expect(created.headers['x-request-id']).toEqual(expect.any(String));
  });

  it("documents the cart's 422 on applying a coupon only, the one cart write that can answer it (found by a review)", () => {
    const statuses = (path: string, method: string) => Object.keys(doc.paths[path]?.[method]?.responses ?? {});
    expect(statuses('/v1/cart/coupons', 'post')).toContain('422');
    for (const [path, method] of [
      ['/v1/cart/items', 'post'],
      ['/v1/cart/items/{itemId}', 'patch'],
      ['/v1/cart/items/{itemId}', 'delete'],
      ['/v1/cart/coupons/{code}', 'delete'],
    ] as const) {
      expect(statuses(path, method), `${method} ${path}`).toEqual(expect.arrayContaining(['404', '409']));
      expect(statuses(path, method), `${method} ${path}`).not.toContain('422');
    }
  });

  it('describes the dead letters as a cursor-paged list', () => {
    const op = doc.paths['/v1/admin/events/dead-letters']!.get!;
    const query = Object.fromEntries((op.parameters ?? []).filter((p) => p.in === 'query').map((p) => [p.name, p]));
    expect(query.cursor?.required).toBe(false);
    expect(query.limit).toMatchObject({ required: false, schema: { minimum: 1, maximum: 200, default: 50 } });
    const page = resolve(op.responses['200']!.content!['application/json']!.schema);
    expect(page.required).toEqual(expect.arrayContaining(['items', 'nextCursor']));
  });
});
