import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyRequest, type FastifyServerOptions } from 'fastify';
import AjvCompiler, { type ValidatorFactory } from '@fastify/ajv-compiler';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Logger } from 'pino';
import { isUtf8 } from 'node:buffer';
import { keyHoldsCardNumber } from '../card-data.ts';
import { hasStorableOffset, isStorableInstant } from '../clock.ts';
import { isUuid } from '../ids.ts';
import { findInJson } from '../json-walk.ts';
import { unstorableCharacter } from '../unicode.ts';
import type { Trace } from '../messaging/envelope.ts';
import type { Metrics } from '../metrics.ts';
import { registerAccessControl } from './access.ts';
import { answerClientError, answerConnect, answerExpectationFailed, requestIdOf } from './client-errors.ts';
import { REQUEST_TIMEOUT_MS } from '../config.ts';
import { COUNTRY_FORMAT, isCountryCode } from './countries.ts';
import { CURRENCY_FORMAT, isCurrencyCode } from './currencies.ts';
import { type SignedBody, describeHeaders, describeSignedBodies } from './openapi-headers.ts';
import { AppError, type ErrorCode, problemOf } from './errors.ts';
import { ProblemResponse, ProblemSchema, namesRuleLost } from './schemas.ts';
import type { TokenService } from './tokens.ts';
import { lowercaseUuids } from './uuid-case.ts';
import { validationIssues } from './validation-errors.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** The request's trace: its correlation id (X-Correlation-Id when a UUID, else the request id). */
    trace: Trace;
  }
  interface FastifyInstance {
    /**
     * From now on every request is answered 503 with `Connection: close`, while the server still
     * listens: a shutdown's first step, so that requests on idle keep-alive connections and
     * connections not yet accepted get that answer, where closing at once would reset them.
     */
    refuseRequests(): void;
  }
}

export type HttpApp = FastifyInstance<
  import('node:http').Server,
  import('node:http').IncomingMessage,
  import('node:http').ServerResponse,
  FastifyBaseLogger,
  TypeBoxTypeProvider
>;

export interface HttpOptions {
  bodyLimitBytes: number;
  /** Trust X-Forwarded-For from these proxies (Fastify trustProxy), so per-client limits see the client. */
  trustProxy?: boolean | string;
  logger: Logger;
  metrics: Metrics;
  tokens: TokenService;
  version: string;
  /** How long a request may take to arrive whole, headers and body (REQUEST_TIMEOUT_MS by default). */
  requestTimeoutMs?: number;
  /**
   * How often Node looks for requests past their time: by default a quarter of the request timeout,
   * at most 30 s (Node's own default), so that a request is cut within a quarter of its time after
   * it (with Node's 30 s, a timeout of 5 s cut a request after up to 35 s); tests shorten it.
   */
  connectionsCheckingIntervalMs?: number;
}

const PG_ERROR = /^[0-9A-Z]{5}$/;

/**
 * What of an unexpected error may be logged: a database error's `detail` and `where` quote the
 * failing row (a password hash, an address), so they are left out.
 */
export function loggableError(error: Error & { code?: string; constraint?: string; table?: string; column?: string }) {
  return {
    type: error.name,
    message: error.message,
    code: error.code,
    constraint: error.constraint,
    table: error.table,
    column: error.column,
    stack: error.stack,
  };
}

function sendProblem(reply: import('fastify').FastifyReply, code: ErrorCode, detail?: string, extensions?: Record<string, unknown>) {
  const problem = problemOf(code, detail, extensions, reply.request.url.split('?')[0]);
  return reply.status(problem.status).type('application/problem+json').send(problem);
}

/**
 * Formats checked as PostgreSQL will read them. `format: 'date-time'` as RFC 3339 says (the formats plugin's check, which runs first) and an
 * instant a Date can hold: RFC 3339 admits a leap second (23:59:60) that JavaScript cannot
 * represent, and `new Date()` of it is an Invalid Date that would fail later, in the database, as a
 * 500 instead of a 400 here. The instant is also of the years 0001 to 9999 in UTC (isStorableInstant):
 * year 0000 fails in PostgreSQL, and 9999-12-31T23:59:59-23:59 is in the year 10000, which
 * node-postgres reads back as an Invalid Date.
 */
type Ajv = Parameters<NonNullable<NonNullable<FastifyServerOptions['ajv']>['onCreate']>>[0];

function strictDateTime(ajv: Ajv): void {
  const rfc3339 = ajv.formats['date-time'];
  const valid = (s: string): boolean => {
    if (rfc3339 instanceof RegExp) return rfc3339.test(s);
    if (typeof rfc3339 === 'function') return rfc3339(s) === true;
    if (rfc3339 && typeof rfc3339 === 'object' && 'validate' in rfc3339) {
      const v = rfc3339.validate;
      return v instanceof RegExp ? v.test(s) : (v as (x: string) => boolean)(s) === true;
    }
    return true;
  };
  ajv.addFormat('date-time', { type: 'string', validate: (s: string) => valid(s) && hasStorableOffset(s) && isStorableInstant(Date.parse(s)) });
  // The formats plugin's uuid also admits a `urn:uuid:` prefix, which PostgreSQL's uuid refuses.
  ajv.addFormat('uuid', /^[0-9a-f]{8}-(?:[0-9a-f]{4}-){3}[0-9a-f]{12}$/i);
  for (const [name, format] of Object.entries(CODE_FORMATS)) ajv.addFormat(name, format);
}

/** Formats of codes from official lists (countries, currencies): for validation and the serializer. */
const CODE_FORMATS = {
  [COUNTRY_FORMAT]: { type: 'string' as const, validate: isCountryCode },
  [CURRENCY_FORMAT]: { type: 'string' as const, validate: isCurrencyCode },
};

const ajvCompilers = AjvCompiler();

/**
 * Query strings, path parameters and headers are text: their numbers and booleans are read from it
 * (coerceTypes). A JSON body has types of its own and is taken as sent: with coercion, `"maxUses": 0`
 * became null (no limit) where null is allowed, `""` a null date (no end), `true` the amount 1 and
 * `"5"` the number 5, all stored as if the client had meant them.
 */
const exactBodies: ValidatorFactory = (externalSchemas, options) => {
  const coercing = ajvCompilers(externalSchemas, options);
  // The JSON Schema mode (this server never asks for JTD).
  const ajv = options as Exclude<Parameters<ValidatorFactory>[1], { mode: 'JTD' }>;
  const exact = ajvCompilers(externalSchemas, { ...ajv, customOptions: { ...ajv?.customOptions, coerceTypes: false } });
  return (route) => (route.httpPart === 'body' ? exact : coercing)(route);
};

/** Node's own interval between looks for requests past their time, and the floor of ours. */
const CHECKING_INTERVAL_MAX_MS = 30_000;
const CHECKING_INTERVAL_MIN_MS = 250;

export function checkingIntervalFor(requestTimeoutMs: number): number {
  return Math.min(CHECKING_INTERVAL_MAX_MS, Math.max(CHECKING_INTERVAL_MIN_MS, Math.floor(requestTimeoutMs / 4)));
}

export async function createHttpApp(options: HttpOptions): Promise<HttpApp> {
  const app = Fastify({
    loggerInstance: options.logger,
    bodyLimit: options.bodyLimitBytes,
    logController: new LogController({ disableRequestLogging: true }),
    // A client's X-Request-Id is kept when it is a plain token; anything else (5,000 characters,
    // markup, control characters) is replaced by our own.
    requestIdHeader: false,
    genReqId: (request) => requestIdOf(request.headers['x-request-id']),
    // While closing, requests still arriving on open connections are answered 503 by the hook
    // below, as a problem document (the framework's own answer is its plain JSON).
    return503OnClosing: false,
    clientErrorHandler: answerClientError,
    // A request must arrive whole within this time (Fastify's default is no limit: a body that
    // stops half way held its connection for ever); the answer is 408 REQUEST_TIMEOUT.
    requestTimeout: options.requestTimeoutMs ?? REQUEST_TIMEOUT_MS,
    // Node answers a request without Host itself, with an empty 400: refused below as a problem.
    http: { requireHostHeader: false, connectionsCheckingInterval: options.connectionsCheckingIntervalMs ?? checkingIntervalFor(options.requestTimeoutMs ?? REQUEST_TIMEOUT_MS) },
    trustProxy: options.trustProxy ?? false,
    // What the router refuses before any route is found (a path that is not valid percent-encoding,
    // a path parameter past its 100 characters) is a problem too, not Fastify's own JSON.
    frameworkErrors: (error, request, reply) => {
      // Answered before any hook: the headers every answer carries are set here.
      setCommonHeaders(reply, request.id);
      if (error.code === 'FST_ERR_BAD_URL') return sendProblem(reply, 'VALIDATION_FAILED', 'the path is not valid percent-encoded UTF-8');
      if (error.code === 'FST_ERR_MAX_PARAM_LENGTH') return sendProblem(reply, 'VALIDATION_FAILED', 'a path parameter is longer than 100 characters');
      reply.log.error({ err: loggableError(error) }, 'unhandled router error');
      return sendProblem(reply, 'INTERNAL', 'the error was logged with this request id', { requestId: reply.request.id });
    },
    // Response schemas with alternatives are checked by the serializer's own ajv, which must know
    // our formats too (or it warns, on stderr, that it ignores them).
    serializerOpts: { ajv: { formats: CODE_FORMATS } },
    ajv: {
      customOptions: {
        // Unknown fields are an error (additionalProperties: false), never silently dropped.
        removeAdditional: false,
        coerceTypes: 'array',
        useDefaults: true,
        allErrors: false,
        // Errors carry the failed keyword's value, so an answer can name what a `not` forbids.
        verbose: true,
      },
      onCreate: strictDateTime,
    },
    schemaController: { compilersFactory: { buildValidator: exactBodies } },
  }).withTypeProvider<TypeBoxTypeProvider>() as unknown as HttpApp;
  /** The route's own body limit where it has one (webhooks take less than the server's default). */
  const bodyLimitOf = (request: FastifyRequest) => request.routeOptions.bodyLimit ?? options.bodyLimitBytes;
  // The API speaks JSON only: a text/plain body is a 415, not a string that then fails validation.
  app.removeContentTypeParser('text/plain');
  // A body that is not UTF-8 is refused: read as a string, its bad bytes would become U+FFFD and
  // the request would go on with text the client never sent.
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
    const bytes = body as Buffer; // parseAs 'buffer'; Fastify's type also admits a string
    // No body at all, with a JSON content type (as some clients send on every DELETE or bodiless
    // POST), is no body: a route that needs one says so by its schema.
    if (bytes.length === 0) return done(null, undefined);
    if (!isUtf8(bytes)) return done(new AppError('MALFORMED_JSON', 'the body is not valid UTF-8'), undefined);
    const text = bytes.toString('utf8');
    parseJson(request, text, (error, body) => {
      // The framework's parser refuses prototype poisoning as "not valid JSON": when the text is
      // JSON, that is what it was, and the client is told so.
      if (error && isJson(text)) return done(new AppError('VALIDATION_FAILED', 'body: a key named __proto__, or constructor holding prototype, is not accepted'), undefined);
      done(error, body);
    });
  });

  // A body is taken as the bytes sent, in UTF-8 (a webhook's signature covers them as sent): one that
  // declares a content coding (gzip, br) or another charset is a 415 (RFC 9110 allows it for a coding
  // not taken), one over the limit by its Content-Length a 413, as the parser would answer. Refused
  // before it is read, the connection is closed after the answer: the body is not read to its end.
  app.addHook('preParsing', (request, reply, payload, done) => {
    const { 'content-encoding': coding, 'content-type': type, 'content-length': length, 'transfer-encoding': chunked } = request.headers;
    const body = request.method !== 'GET' && request.method !== 'HEAD' && (chunked !== undefined || (length !== undefined && length !== '0'));
    if (!body) return done(null, payload);
    const refuse = (code: 'PAYLOAD_TOO_LARGE' | 'UNSUPPORTED_MEDIA_TYPE', detail: string) => {
      void reply.header('connection', 'close');
      done(new AppError(code, detail), payload);
    };
    if (length !== undefined && Number(length) > bodyLimitOf(request)) return refuse('PAYLOAD_TOO_LARGE', `the body limit is ${bodyLimitOf(request)} bytes`);
    if (coding !== undefined && coding.trim().toLowerCase() !== 'identity') {
      return refuse('UNSUPPORTED_MEDIA_TYPE', 'a content coding is not accepted: send the body as it is, without Content-Encoding');
    }
    const charset = type === undefined ? undefined : /;\s*charset\s*=\s*"?([^";\s]*)/i.exec(type)?.[1]?.toLowerCase();
    if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8') return refuse('UNSUPPORTED_MEDIA_TYPE', 'send the body in UTF-8 (charset=utf-8, or no charset)');
    done(null, payload);
  });

  app.addSchema(ProblemSchema);
  // A rule on property names written as patternProperties would be dropped from the OpenAPI
  // document: refused when the route is declared, not found by a client's surprise 400.
  app.addHook('onRoute', (route) => {
    const lost = namesRuleLost(route.schema);
    if (lost !== undefined) throw new Error(`${route.method} ${route.url}: property names ruled by patternProperties (${lost}) would not show in the OpenAPI document; use NamedRecord`);
  });
  // A /v1 route without a query schema takes no query: an unknown parameter is a 400, as on the
  // routes that declare theirs (a typo like ?limt=5 is not silently ignored).
  app.addHook('onRoute', (route) => {
    if (!route.url.startsWith('/v1/') || (route.config as { access?: unknown } | undefined)?.access === 'signed') return;
    route.schema ??= {};
    const schema = route.schema as { querystring?: unknown; response?: Record<string, unknown> };
    schema.querystring ??= NO_QUERY;
    // Every such route validates its query at least, so it may answer 400: said in OpenAPI too.
    if (schema.response && schema.response[400] === undefined) schema.response = { ...schema.response, 400: ProblemResponse };
  });
  // Said in every route's OpenAPI description too (before the docs plugin reads the routes): any
  // route may answer 503 (the server is shutting down, a database is unreachable); a body sent with
  // any method but GET and HEAD is read, whether the route takes one or not, so such a route may
  // answer 413 (over the body limit) and 415 (not JSON); and such a route writes, so its
  // transaction may be undone by a concurrent one (409 CONFLICT with Retry-After, see below).
  app.addHook('onRoute', (route) => {
    route.schema ??= {};
    const schema = route.schema as { response?: Record<string, unknown> };
    const response = schema.response ?? {};
    const writes = [route.method].flat().some((method) => method !== 'GET' && method !== 'HEAD');
    schema.response = {
      ...response,
      ...(writes ? { 409: response[409] ?? ProblemResponse, 413: response[413] ?? ProblemResponse, 415: response[415] ?? ProblemResponse } : {}),
      503: response[503] ?? ProblemResponse,
    };
  });
  // A route whose body fields are all optional may say so (config.bodyOptional): a bodiless request
  // is validated as {}, and its OpenAPI request body is not required (the docs plugin marks every
  // body it sees required).
  const optionalBodies = new Set<string>();
  // Routes that answer a 201 or 202 with a Location say so (config.location), for OpenAPI.
  const locations = new Set<string>();
  const openApiPath = (url: string) => url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
  app.addHook('onRoute', (route) => {
    if ((route.config as { location?: boolean } | undefined)?.location) for (const method of [route.method].flat()) locations.add(`${method.toLowerCase()} ${openApiPath(route.url)}`);
  });
  // A signed webhook reads its body raw (the signature covers the bytes) and checks it itself: its
  // route names the body's schema and the signature header in config.signedBody, for OpenAPI alone.
  const signedBodies = new Map<string, SignedBody>();
  app.addHook('onRoute', (route) => {
    const signed = (route.config as { signedBody?: SignedBody } | undefined)?.signedBody;
    if (signed) for (const method of [route.method].flat()) signedBodies.set(`${method.toLowerCase()} ${openApiPath(route.url)}`, signed);
  });
  app.addHook('onRoute', (route) => {
    if (!(route.config as { bodyOptional?: boolean } | undefined)?.bodyOptional) return;
    const leftOut = (request: { body: unknown }, _reply: unknown, done: () => void) => {
      // Only a body left out: a JSON null sent is a body, and not an object (400).
      if (request.body === undefined) request.body = {};
      done();
    };
    route.preValidation = [leftOut, ...[route.preValidation ?? []].flat()];
    for (const method of [route.method].flat()) optionalBodies.add(`${method.toLowerCase()} ${openApiPath(route.url)}`);
  });
  await app.register(swagger, {
    transformObject: (documents) => {
      const document = 'openapiObject' in documents ? documents.openapiObject : documents.swaggerObject;
      const paths = (document as { paths?: Record<string, Record<string, { requestBody?: { required?: boolean } }>> }).paths ?? {};
      for (const entry of optionalBodies) {
        const [method, path] = entry.split(' ') as [string, string];
        const body = paths[path]?.[method]?.requestBody;
        if (body) body.required = false;
      }
      describeHeaders(paths as Parameters<typeof describeHeaders>[0], locations);
      describeSignedBodies(paths as Parameters<typeof describeSignedBodies>[0], signedBodies);
      return document;
    },
    // Shared schemas are named by their $id (#/components/schemas/Problem), not def-<n>.
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`) },
    openapi: {
      openapi: '3.1.0',
      info: { title: 'bazaar', version: options.version, description: 'Marketplace backend: catalog, inventory, cart, checkout, orders, payments and more.' },
      components: {
        securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } },
      },
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs', uiConfig: { docExpansion: 'list' }, uiHooks: {} });
  // First of the request hooks: while closing, nothing else is asked (not even who is calling).
  let closing = false;
  // Set the moment close is called (its preClose hooks run a little later, after requests already
  // read from open connections may have passed this hook).
  const close = app.close.bind(app);
  app.close = ((...args: Parameters<typeof close>) => {
    closing = true;
    return close(...args);
  }) as typeof app.close;
  app.decorate('refuseRequests', () => {
    closing = true;
  });
  app.addHook('onRequest', (request, reply, done) => {
    if (!closing && (request.headers.host !== undefined || request.raw.httpVersion !== '1.1')) {
      done();
      return;
    }
    reply.header('connection', 'close');
    // HTTP/1.1 requires Host (RFC 9112, 3.2); Node refused such a request itself, with an empty 400.
    if (!closing) {
      sendProblem(reply, 'VALIDATION_FAILED', 'an HTTP/1.1 request needs a Host header');
      return;
    }
    // The readiness probe answers in its own shape (a problem document did not fit its 503 and
    // was a 500): a load balancer asking it takes this process out of rotation.
    if (request.routeOptions.url === '/ready') {
      void reply.status(503).send({ status: 'not_ready', problems: ['the server is shutting down'] });
      return;
    }
    sendProblem(reply, 'SERVICE_UNAVAILABLE', 'the server is shutting down; send the request again');
  });
  // The docs plugin's own routes are public.
  registerAccessControl(app, options.tokens);

  // After validation, the uuids a route's schema declares are lowercased (uuid-case.ts): a client may
  // send capitals, and cache keys, duplicate checks and event contracts compare the text.
  // Values a request may carry that pass its schema and still fail later, in the database, as a
  // 500 — refused here, after validation, in one walk of each part:
  // - text PostgreSQL cannot store (a lone surrogate, \uD800–\uDFFF escaped alone in the JSON, or
  //   U+0000), valid JavaScript;
  // - a number that is not finite: ajv's coercion reads the text "Infinity", "-Infinity" or "1e999"
  //   sent for a number as ±Infinity, then checks a number's bounds only when it is finite.
  app.addHook('preHandler', (request, _reply, done) => {
    const schema = request.routeOptions.schema;
    if (schema) {
      lowercaseUuids(schema.params as object | undefined, request.params);
      lowercaseUuids(schema.querystring as object | undefined, request.query);
      request.body = lowercaseUuids(schema.body as object | undefined, request.body);
    }
    // A route without a body schema takes no body: `{}` (which some clients send on every POST) is
    // no body, a field in it an unknown field. (Signed webhooks read their own bodies, checked
    // against the signature first.)
    if (!schema?.body && request.body !== undefined && !isEmptyObject(request.body) && request.routeOptions.config?.access !== 'signed') {
      done(noBodyTaken(request.body));
      return;
    }
    const found =
      findInJson(request.body, unusable) ?? findInJson(request.query, unusable) ?? findInJson(request.params, unusable) ?? nulInHeaders(request.headers);
    done(found === undefined ? cardNumberAsKey(request) : new AppError('VALIDATION_FAILED', found));
  });
  app.decorateRequest('trace', null as unknown as Trace);
  app.addHook('onRequest', (request, _reply, done) => {
    // One request's events all carry its id as correlation id: routes pass request.trace on.
    const incoming = request.headers['x-correlation-id'];
    const correlationId = typeof incoming === 'string' && isUuid(incoming) ? incoming : request.id;
    request.trace = { correlationId, causationId: null };
    done();
  });
  // Callback hooks, not async ones, on the path of every request: no promise per hook.
  app.addHook('onSend', (request, reply, payload, done) => {
    setCommonHeaders(reply, request.id);
    // RFC 6750: a 401 of a bearer-token route names the scheme (webhooks are signed, not bearer).
    if (reply.statusCode === 401 && request.routeOptions.config?.access !== 'signed') reply.header('www-authenticate', 'Bearer realm="bazaar"');
    done(null, payload);
  });
  app.addHook('onResponse', (request, reply, done) => {
    options.metrics.httpDuration.observe(
      { method: request.method, route: request.routeOptions.url ?? 'unmatched', status: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
    done();
  });

  const allowedMethods = (path: string, except?: string): string[] =>
    ROUTE_METHODS.filter((method) => method !== except && app.findRoute({ method, url: path }) !== null);
  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0] ?? '/';
    // A route of this very method handed the request on (a static file that is not there): the
    // thing asked for is missing, not the method (found by a review: "405, takes HEAD, not GET").
    if (app.findRoute({ method: request.method as (typeof ROUTE_METHODS)[number], url: path }) !== null) {
      return sendProblem(reply, 'NOT_FOUND', `${path} was not found`);
    }
    // RFC 9110 (15.5.6): a path that exists under other methods is a 405 that names them in Allow.
    const allowed = allowedMethods(path, request.method);
    if (allowed.length > 0) {
      reply.header('allow', allowed.join(', '));
      return sendProblem(reply, 'METHOD_NOT_ALLOWED', `${path} takes ${allowed.join(', ')}, not ${request.method}`, { allowed });
    }
    return sendProblem(reply, 'ROUTE_NOT_FOUND', `${request.method} ${path} does not exist`);
  });

  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (error instanceof AppError) {
      if (typeof error.extensions?.retryAfterSeconds === 'number') {
        reply.header('retry-after', String(error.extensions.retryAfterSeconds));
      }
      return sendProblem(reply, error.code, error.detail, error.extensions);
    }
    if (error.validation) {
      // A route that must not run twice declares its Idempotency-Key header required: without it the
      // answer is the catalogued IDEMPOTENCY_KEY_REQUIRED, not a generic validation failure.
      if (error.validationContext === 'headers' && error.validation.some(isMissingIdempotencyKey)) {
        return sendProblem(reply, 'IDEMPOTENCY_KEY_REQUIRED', 'send an Idempotency-Key header (a unique value per request, the same on its retries) so a retry never takes effect twice');
      }
      const errors = validationIssues(error.validationContext ?? 'body', error.validation);
      const first = errors[0];
      const detail = first ? `${first.location}${first.path === '/' ? '' : first.path} ${first.message}${first.field ? `: ${first.field}` : ''}` : undefined;
      return sendProblem(reply, 'VALIDATION_FAILED', detail, { errors });
    }
    switch (error.code) {
      case 'FST_ERR_CTP_BODY_TOO_LARGE':
        return sendProblem(reply, 'PAYLOAD_TOO_LARGE', `the body limit is ${bodyLimitOf(request)} bytes`);
      case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
        // Refused before the body is read (as in the preParsing hook): not read to its end first.
        void reply.header('connection', 'close');
        return sendProblem(reply, 'UNSUPPORTED_MEDIA_TYPE', 'send application/json');
      case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      case 'FST_ERR_CTP_INVALID_JSON_BODY':
        return sendProblem(reply, 'MALFORMED_JSON', error.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' ? 'the body is empty: send a JSON document, or no Content-Type' : 'the body is not valid JSON');
      default:
        break;
    }
    // The parser's own message quotes the body: not echoed.
    if (error instanceof SyntaxError) return sendProblem(reply, 'MALFORMED_JSON', 'the body is not valid JSON');
    if (typeof error.statusCode === 'number' && error.statusCode >= 400 && error.statusCode < 500 && !PG_ERROR.test(error.code ?? '')) {
      const code: ErrorCode = error.statusCode === 404 ? 'NOT_FOUND' : error.statusCode === 413 ? 'PAYLOAD_TOO_LARGE' : error.statusCode === 415 ? 'UNSUPPORTED_MEDIA_TYPE' : error.statusCode === 429 ? 'RATE_LIMITED' : 'VALIDATION_FAILED';
      return sendProblem(reply, code);
    }
    // A transaction PostgreSQL undid because it met a concurrent one (a deadlock's victim, a
    // serialization failure, a lock it would not wait for) succeeds when sent again: a conflict
    // with the state of the moment. A route that committed an earlier transaction first is safe to
    // send again too: such routes take an Idempotency-Key. A deadlock is still logged as an error
    // (every path locks in one order: one is a bug to find), with the rest.
    if (isConcurrencyRollback(error)) {
      request.log[error.code === '40P01' ? 'error' : 'warn']({ err: loggableError(error) }, 'a transaction was undone by a concurrent one');
      reply.header('retry-after', '1');
      return sendProblem(reply, 'CONFLICT', 'the request met a concurrent change and its transaction was undone: send it again (with the same Idempotency-Key, where it takes one)');
    }
    // A database that cannot be reached (down, restarting, refusing connections) is not a fault of
    // this request: 503, to be tried again, and logged once per request without the stack.
    if (isDatabaseUnreachable(error)) {
      request.log.warn({ code: error.code, message: error.message }, 'a database is unreachable');
      reply.header('retry-after', '5');
      return sendProblem(reply, 'SERVICE_UNAVAILABLE', 'a database is unreachable; try again in a moment');
    }
    request.log.error({ err: loggableError(error) }, 'unhandled error');
    return sendProblem(reply, 'INTERNAL', 'the error was logged with this request id', { requestId: request.id });
  });
  app.server.on('checkExpectation', answerExpectationFailed);
  // Node takes the smaller of the two limits as the headers' and the larger as the whole request's.
  if (app.server.requestTimeout > 0) app.server.headersTimeout = Math.min(app.server.headersTimeout, app.server.requestTimeout);
  app.server.on('connect', answerConnect(allowedMethods));

  return app;
}

/** SQLSTATE 40001 (serialization failure), 40P01 (deadlock detected), 55P03 (lock not available). */
function isConcurrencyRollback(error: { code?: string }): boolean {
  return error.code === '40001' || error.code === '40P01' || error.code === '55P03';
}

/**
 * Errors that say a database cannot be reached, not that the request went wrong: a refused or
 * reset connection, PostgreSQL shutting down or starting (SQLSTATE class 57P: 57P01 admin shutdown,
 * 57P02 crash shutdown, 57P03 cannot connect now) or a connection exception (class 08, but for a
 * protocol violation), and the pool's own timeout waiting for a connection.
 */
function isDatabaseUnreachable(error: { code?: string; message?: string }): boolean {
  const code = error.code ?? '';
  if (code === 'ECONNREFUSED' || code === 'ECONNRESET' || code === 'EPIPE' || code === 'ETIMEDOUT') return true;
  // 08P01 (protocol violation: a statement sent with the wrong number of parameters) is a fault of
  // the code, not an unreachable database.
  if (/^57P0[123]$/.test(code) || (/^08[0-9A-Z]{3}$/.test(code) && code !== '08P01')) return true;
  const message = error.message ?? '';
  return message === 'Connection terminated unexpectedly' || message === 'timeout exceeded when trying to connect';
}

/** The query schema of a route that declares none: no parameter at all. */
const NO_QUERY = { type: 'object', properties: {}, additionalProperties: false } as const;

/**
 * An Idempotency-Key is stored with what it made (a checkout session, a stock movement, a refund, a
 * shipment): on a route that takes one, a key that looks like a card number is refused as such a
 * body is (found by a review: `Idempotency-Key: 4111111111111111` was kept as sent in four tables).
 */
function cardNumberAsKey(request: FastifyRequest): AppError | undefined {
  const key = request.headers['idempotency-key'];
  if (typeof key !== 'string') return undefined;
  const headers = (request.routeOptions.schema?.headers as { properties?: Record<string, unknown> } | undefined)?.properties;
  if (!headers?.['idempotency-key'] || !keyHoldsCardNumber(key)) return undefined;
  return new AppError('VALIDATION_FAILED', 'the Idempotency-Key looks like a card number, and card numbers are never accepted: send a key of your own, a UUID say');
}

function isEmptyObject(value: unknown): boolean {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && Object.keys(value).length === 0;
}

/** The 400 of a body sent to a route that takes none: each field named as unknown, as ajv would. */
function noBodyTaken(body: unknown): AppError {
  const fields = typeof body === 'object' && body !== null && !Array.isArray(body) ? Object.keys(body) : [];
  if (fields.length === 0) {
    return new AppError('VALIDATION_FAILED', 'this route takes no body', { errors: [{ location: 'body', path: '/', message: 'must be empty: this route takes no body' }] });
  }
  const errors = fields.map((field) => ({ location: 'body', path: '/', message: 'must NOT have additional properties', field }));
  return new AppError('VALIDATION_FAILED', `this route takes no body: ${fields[0]}`, { errors });
}

/** The methods an Allow header may name (HEAD goes with every GET route). */
const ROUTE_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;

function isMissingIdempotencyKey(v: { keyword: string; params: Record<string, unknown> }): boolean {
  return v.keyword === 'required' && v.params.missingProperty === 'idempotency-key';
}

/** Why a value of a request cannot be used (see the preHandler hook), or undefined. */
function unusable(v: unknown): string | undefined {
  if (typeof v === 'string') {
    const character = unstorableCharacter(v);
    return character === undefined ? undefined : `text must be storable Unicode: ${character} was sent`;
  }
  return typeof v === 'number' && !Number.isFinite(v) ? `numbers must be finite: ${v} was sent` : undefined;
}

/** A header value holding U+0000 (only an injected request can carry one: HTTP parsers refuse it). */
function nulInHeaders(headers: Record<string, string | string[] | undefined>): string | undefined {
  for (const name in headers) {
    const value = headers[name];
    if (typeof value === 'string' ? value.includes('\u0000') : value?.some((v) => v.includes('\u0000'))) {
      return 'text must be storable Unicode: the character U+0000 (NUL) was sent';
    }
  }
  return undefined;
}

function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

/** The headers every answer carries, whatever answered it. */
function setCommonHeaders(reply: import('fastify').FastifyReply, requestId: string): void {
  reply.header('x-request-id', requestId);
  reply.header('x-content-type-options', 'nosniff');
  // Answers carry tokens and personal data: nothing is kept by a cache unless a route says so
  // (the public catalog does).
  if (!reply.hasHeader('cache-control')) reply.header('cache-control', 'no-store');
}
