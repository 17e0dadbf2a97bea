/**
 * The one catalogue of error codes a client can meet. Codes are stable: clients branch on them.
 * Every error goes out as RFC 9457 problem+json; no stack trace or SQL ever reaches a client.
 */
export const ERROR_CATALOGUE = {
  VALIDATION_FAILED: { status: 400, title: 'The request is not valid' },
  MALFORMED_JSON: { status: 400, title: 'The request body is not valid JSON' },
  INVALID_CURSOR: {
    status: 400,
    title: 'The pagination cursor is not valid',
    detail: 'the cursor is not one this API gave for this list (it was changed, cut short or made up): use nextCursor as it came',
  },
  UNAUTHENTICATED: { status: 401, title: 'Authentication is required' },
  INVALID_CREDENTIALS: { status: 401, title: 'Email or password is wrong' },
  PASSWORD_MISMATCH: { status: 403, title: 'The current password is not right' },
  INVALID_TOKEN: { status: 401, title: 'The access token is not valid' },
  INVALID_SIGNATURE: { status: 401, title: 'The webhook signature is not valid' },
  FORBIDDEN: { status: 403, title: 'You may not do this' },
  ACCOUNT_DISABLED: { status: 403, title: 'The account is disabled' },
  NOT_FOUND: { status: 404, title: 'Not found' },
  ROUTE_NOT_FOUND: { status: 404, title: 'No such route' },
  METHOD_NOT_ALLOWED: { status: 405, title: 'Method not allowed' },
  CONFLICT: { status: 409, title: 'The request conflicts with the current state' },
  EMAIL_TAKEN: { status: 409, title: 'An account with this email exists' },
  SKU_TAKEN: { status: 409, title: 'This SKU is already used by one of your products' },
  SLUG_TAKEN: { status: 409, title: 'Another category has this slug' },
  CATEGORY_CYCLE: { status: 409, title: 'A category cannot be moved under itself or one of its descendants' },
  CATEGORY_TOO_DEEP: { status: 409, title: 'The category tree would be deeper than allowed' },
  OUT_OF_STOCK: { status: 409, title: 'Not enough stock' },
  PURCHASE_LIMIT_EXCEEDED: { status: 409, title: 'The seller limits how many units one buyer may have' },
  IDEMPOTENCY_KEY_IN_USE: { status: 409, title: 'A request with this Idempotency-Key is still in progress' },
  INVALID_STATE_TRANSITION: { status: 409, title: 'This change is not allowed in the current state' },
  PRICE_WINDOW_OVERLAP: { status: 409, title: 'The price window overlaps an existing one' },
  VERSION_CONFLICT: { status: 409, title: 'The resource changed since you read it; read it again and retry' },
  RESERVATION_NOT_ACTIVE: { status: 409, title: 'The reservation is no longer active' },
  CART_EMPTY: { status: 409, title: 'There is no active cart with items to check out' },
  CHECKOUT_IN_PROGRESS: { status: 409, title: 'A checkout of this cart is already in progress' },
  REBUILD_IN_PROGRESS: { status: 409, title: 'A rebuild of this read model is already running' },
  EVENT_LOG_INCOMPLETE: { status: 409, title: 'Older events of the log were pruned: a rebuild would lack them' },
  PAYMENT_DECLINED: { status: 402, title: 'The payment was declined' },
  REFUND_EXCEEDS_CAPTURED: { status: 409, title: 'The refund exceeds what is left to refund of the captured amount' },
  COUPON_CODE_TAKEN: { status: 409, title: 'A coupon with this code exists' },
  COUPON_EXHAUSTED: { status: 409, title: 'The coupon has no uses left' },
  COUPON_ALREADY_USED: { status: 409, title: 'The coupon was already used by this buyer' },
  COUPON_NOT_APPLICABLE: { status: 422, title: 'The coupon does not apply' },
  TRACKING_NUMBER_TAKEN: { status: 409, title: 'A shipment with this carrier and tracking number exists' },
  CARRIER_NAME_TAKEN: { status: 409, title: 'A carrier with this name exists' },
  CARRIER_NOT_AVAILABLE: { status: 422, title: 'The carrier is not known or not enabled' },
  VARIANT_NOT_AVAILABLE: { status: 409, title: 'The variant is not for sale' },
  CART_LIMIT_EXCEEDED: { status: 409, title: 'The cart would exceed its limits' },
  REQUEST_TIMEOUT: { status: 408, title: 'The request was not received in time' },
  PAYLOAD_TOO_LARGE: { status: 413, title: 'The request body is too large' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, title: 'Unsupported content type' },
  IDEMPOTENCY_KEY_REQUIRED: { status: 400, title: 'An Idempotency-Key header is required' },
  IDEMPOTENCY_KEY_REUSED: { status: 422, title: 'The Idempotency-Key was used with another request' },
  UNPROCESSABLE: { status: 422, title: 'The request cannot be processed' },
  RATE_LIMITED: { status: 429, title: 'Too many requests' },
  HEADERS_TOO_LARGE: { status: 431, title: 'The request headers are too large' },
  EXPECTATION_FAILED: { status: 417, title: 'The Expect header cannot be met' },
  INTERNAL: { status: 500, title: 'Internal error' },
  SERVICE_UNAVAILABLE: { status: 503, title: 'Service unavailable' },
} as const satisfies Record<string, { status: number; title: string; detail?: string }>;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;

export class AppError extends Error {
  readonly status: number;
  constructor(
    readonly code: ErrorCode,
    readonly detail?: string,
    readonly extensions?: Record<string, unknown>,
  ) {
    // A client's mistake (4xx) is answered, not debugged: capturing its stack costs more than the
    // rest of a sold-out answer, so only server faults carry one.
    const stackTraceLimit = Error.stackTraceLimit;
    if (ERROR_CATALOGUE[code].status < 500) Error.stackTraceLimit = 0;
    super(detail ?? ERROR_CATALOGUE[code].title);
    Error.stackTraceLimit = stackTraceLimit;
    this.name = 'AppError';
    this.status = ERROR_CATALOGUE[code].status;
  }
}

export interface Problem {
  type: string;
  title: string;
  status: number;
  code: ErrorCode;
  detail?: string;
  instance?: string;
  [extension: string]: unknown;
}

/** Each code's problem type URI, made once (a flash sale's sold-out answers ask for it thousands of times a second). */
const PROBLEM_TYPES = new Map(
  (Object.keys(ERROR_CATALOGUE) as ErrorCode[]).map((code) => [code, `https://bazaar.dev/problems/${code.toLowerCase().replaceAll('_', '-')}`]),
);

export function problemOf(code: ErrorCode, detail?: string, extensions?: Record<string, unknown>, instance?: string): Problem {
  const entry: { status: number; title: string; detail?: string } = ERROR_CATALOGUE[code];
  detail ??= entry.detail;
  // Extensions never replace a member RFC 9457 defines: an extension named `status` (a
  // reservation's, say) once became the HTTP status, and the answer a 500.
  return {
    ...extensions,
    type: PROBLEM_TYPES.get(code) as string,
    title: entry.title,
    status: entry.status,
    code,
    ...(detail ? { detail } : {}),
    ...(instance ? { instance } : {}),
  };
}

export const notFound = (what = 'resource'): AppError => new AppError('NOT_FOUND', `${what} not found`);
