/**
 * The response headers bazaar sends, written into the OpenAPI document (the route schemas describe
 * bodies only): what every answer carries, what a kind of answer carries, and what a route says it
 * sets. Also the conditional request header of the routes that answer 304, and the body and
 * signature header of the signed webhooks (whose routes read their bodies raw).
 */
type Header = { description: string; schema: { type: 'string' } };
type Response = { headers?: Record<string, Header> };
type Parameter = { in?: string; name?: string };
type Operation = { responses?: Record<string, Response>; parameters?: Parameter[] };

const header = (description: string): Header => ({ description, schema: { type: 'string' } });

const ALWAYS = {
  'X-Request-Id': header("This request's id (the one sent in X-Request-Id when it is a valid one), also in the server's log and in a 500's problem"),
};
const BY_STATUS: Record<string, Record<string, Header>> = {
  '304': { ETag: header('The representation the client holds is still current') },
  '401': { 'WWW-Authenticate': header('Bearer realm="bazaar" (bearer-token routes)') },
  '405': { Allow: header('The methods the path takes') },
  // Only a write whose transaction PostgreSQL undid for a concurrent one (a deadlock's victim, a
  // serialization failure) carries it among the 409s: send it again (found by a review: undeclared).
  '409': { 'Retry-After': header('Sent when the transaction was undone for a concurrent one: seconds to wait before sending the request again (with the same Idempotency-Key, where the route takes one)') },
  '429': { 'Retry-After': header('Seconds to wait before trying again') },
  '503': { 'Retry-After': header('Seconds to wait before trying again') },
};
const CACHED = {
  ETag: header('Validator of the representation: send it back in If-None-Match to get 304 while it has not changed'),
  'Cache-Control': header('How long the answer may be reused (public reads), or no-store'),
};
const REPLAYED = { 'Idempotent-Replayed': header('true when this is the first answer to the same Idempotency-Key and body, given again') };
const LOCATION = { Location: header('Where the resource made (or the work started) can be read') };

/**
 * Adds the headers to `paths` (an OpenAPI paths object). `locations` names the operations
 * (`post /v1/...`, OpenAPI path syntax) that answer their 201 or 202 with a Location.
 */
export function describeHeaders(paths: Record<string, Record<string, Operation>>, locations: ReadonlySet<string>): void {
  for (const [path, operations] of Object.entries(paths)) {
    for (const [method, op] of Object.entries(operations)) {
      if (!op?.responses) continue;
      const params = op.parameters ?? [];
      const idempotent = params.some((p) => p.in === 'header' && p.name?.toLowerCase() === 'idempotency-key');
      const conditional = Boolean(op.responses['304']);
      if (conditional && !params.some((p) => p.in === 'header' && p.name?.toLowerCase() === 'if-none-match')) {
        op.parameters = [
          ...params,
          { in: 'header', name: 'If-None-Match', required: false, description: 'An ETag this API gave: 304 while the representation is the same', schema: { type: 'string' } } as Parameter,
        ];
      }
      for (const [status, response] of Object.entries(op.responses)) {
        const success = status.startsWith('2');
        response.headers = {
          ...response.headers,
          ...ALWAYS,
          ...BY_STATUS[status],
          ...(success && conditional ? CACHED : {}),
          ...(success && idempotent ? REPLAYED : {}),
          ...((status === '201' || status === '202') && locations.has(`${method} ${path}`) ? LOCATION : {}),
        };
      }
    }
  }
}

/** The body a signed webhook route reads raw and checks itself, and the header its signature comes in. */
export interface SignedBody {
  schema: unknown;
  signatureHeader: string;
  signatureDescription: string;
}

/** Adds to each signed webhook operation (`post /v1/...` → SignedBody) its request body and signature header. */
export function describeSignedBodies(paths: Record<string, Record<string, Operation & { requestBody?: unknown }>>, signed: ReadonlyMap<string, SignedBody>): void {
  for (const [key, body] of signed) {
    const [method, path] = key.split(' ') as [string, string];
    const op = paths[path]?.[method];
    if (!op) continue;
    op.requestBody = { required: true, content: { 'application/json': { schema: body.schema } } };
    op.parameters = [
      ...(op.parameters ?? []),
      { in: 'header', name: body.signatureHeader, required: true, description: body.signatureDescription, schema: { type: 'string' } } as Parameter,
    ];
  }
}
