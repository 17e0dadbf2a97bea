import { type Static, Type } from '@sinclair/typebox';
import { compileInCharacters } from '../../contracts/define.ts';
import { SHIPMENT_STATUS_VALUES, type ShipmentStatus, TRACKING_NUMBER_PATTERN } from '../../contracts/shipping.ts';
import { isCalendarDateTime, isStorableInstant } from '../../platform/clock.ts';
import { findCardData, issuedIdHoldsCardNumber } from '../../platform/card-data.ts';
import { AppError } from '../../platform/http/errors.ts';

/**
 * The tracking webhook every carrier integration sends (a real carrier's own format is translated
 * to it by its adapter; the test carrier sends it as is), signed like the payment gateway's:
 * `Bazaar-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">` with the carrier's
 * webhook secret. `id` is the carrier's event id (a repeat is the same event); `status` is absent
 * for a scan that only informs (a depot passed).
 */
export const CARRIER_EVENT_ID_PATTERN = '^[A-Za-z0-9_.:-]{1,255}$';
const INSTANT_PATTERN = '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d{1,6})?(Z|[+-]\\d{2}:\\d{2})$';

/**
 * The body's schema. TypeBox counts UTF-16 units, not characters: the contract (`unitsPerCharacter`
 * 1) states the limits in characters; the check (null) leaves the texts' lengths to scanOf, which
 * counts characters and names the limit as it is (the route's 16 KiB body limit bounds them first).
 */
function webhookBody(unitsPerCharacter: number | null) {
  const within = (max: number) => (unitsPerCharacter === null ? {} : { maxLength: max * unitsPerCharacter });
  return Type.Object(
    {
      id: Type.String({ pattern: CARRIER_EVENT_ID_PATTERN, maxLength: 255 }),
      type: Type.Literal('tracking.updated'),
      created: Type.Integer({ minimum: 0, maximum: 253402300799 }),
      data: Type.Object(
        {
          trackingNumber: Type.String({ pattern: TRACKING_NUMBER_PATTERN, maxLength: 100 }),
          status: Type.Optional(Type.Union(SHIPMENT_STATUS_VALUES.map((s) => Type.Literal(s)))),
          occurredAt: Type.String({ pattern: INSTANT_PATTERN, maxLength: 40 }),
          location: Type.Optional(Type.String({ minLength: 1, ...within(LOCATION_LENGTH_MAX) })),
          message: Type.Optional(Type.String({ minLength: 1, ...within(MESSAGE_LENGTH_MAX) })),
        },
        { additionalProperties: false },
      ),
    },
    { additionalProperties: false },
  );
}
const LOCATION_LENGTH_MAX = 200;
const MESSAGE_LENGTH_MAX = 500;
export const CarrierWebhookBody = webhookBody(1);
export type CarrierWebhookBody = Static<typeof CarrierWebhookBody>;
const checkBody = compileInCharacters(webhookBody(null));

/** How far ahead of our clock a carrier's scan time may be (clocks differ a little; a scan is never in the future). */
export const SCAN_CLOCK_SKEW_MS = 5 * 60_000;

export interface CarrierScan {
  eventId: string;
  trackingNumber: string;
  status: ShipmentStatus | null;
  occurredAt: Date;
  details: { location?: string; message?: string };
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function characters(text: string): number {
  let n = 0;
  for (const _ of text) n++;
  return n;
}

/** A value that must be one of a few constants is told which; TypeBox says only "Expected union value". */
function describeError(schema: unknown, message: string): string {
  const alternatives = (schema as { anyOf?: unknown[] }).anyOf;
  const constants = alternatives?.map((a) => (a as { const?: unknown }).const);
  if (constants && constants.length > 0 && constants.every((c) => c !== undefined)) return `must be one of ${constants.map((c) => JSON.stringify(c)).join(', ')}`;
  return message;
}

/** A webhook body's JSON (UTF-8, a byte order mark allowed); anything else is a 400 that changes nothing. */
export function webhookJson(raw: Buffer): unknown {
  try {
    return JSON.parse(utf8.decode(raw));
  } catch {
    throw new AppError('MALFORMED_JSON', 'the webhook body is not JSON in UTF-8');
  }
}

/** Reads a (signature-checked) webhook body; anything that is not one is a 400 that changes nothing. */
export function parseCarrierWebhook(raw: Buffer, now: Date): CarrierScan {
  const body = webhookJson(raw);
  if (!checkBody.Check(body)) {
    const first = [...checkBody.Errors(body)][0];
    throw new AppError('VALIDATION_FAILED', `webhook body ${first?.path || '/'} ${first ? describeError(first.schema, first.message) : 'is not valid'}`);
  }
  // A carrier's free text is shown to the buyer and kept: card data is refused, as in every webhook.
  // The tracking number is the carrier's own identifier, checked as the shipment route checks it.
  // A carrier's texts often quote it ("Parcel 7946… delivered"): those digits, and only those, are
  // not taken for a card number in them (found by a review: such an update was still refused).
  const { trackingNumber, ...rest } = body.data;
  const cardField = issuedIdHoldsCardNumber(trackingNumber) ? '/trackingNumber' : findCardData(rest, { except: trackingNumber });
  if (cardField) throw new AppError('VALIDATION_FAILED', `the webhook carries what looks like card data (/data${cardField}); it was not stored`);
  return scanOf(body, now);
}

/** A stored webhook body (checked when it was received) read again, e.g. when its shipment appears. */
export function scanOf(body: CarrierWebhookBody, now: Date | 'received before'): CarrierScan {
  const { data } = body;
  for (const [field, max] of [['location', LOCATION_LENGTH_MAX], ['message', MESSAGE_LENGTH_MAX]] as const) {
    const text = data[field];
    // TypeBox counts UTF-16 units; the limits are in characters, as PostgreSQL and the API count them.
    if (text !== undefined && characters(text) > max) throw new AppError('VALIDATION_FAILED', `webhook body /data/${field} is longer than ${max} characters`);
  }
  const occurredMs = Date.parse(data.occurredAt);
  if (!isCalendarDateTime(data.occurredAt) || !isStorableInstant(occurredMs)) throw new AppError('VALIDATION_FAILED', 'webhook body /data/occurredAt is not a valid instant');
  // A scan kept waiting was judged when it was received: this process's clock, which may be behind
  // the receiver's, does not judge it again (a seller's shipment was refused for it).
  if (now !== 'received before' && occurredMs > now.getTime() + SCAN_CLOCK_SKEW_MS) throw new AppError('VALIDATION_FAILED', 'webhook body /data/occurredAt is in the future');
  return {
    eventId: body.id,
    trackingNumber: data.trackingNumber.toUpperCase(),
    status: data.status ?? null,
    occurredAt: new Date(occurredMs),
    details: shownDetails(data.location, data.message),
  };
}

/**
 * The scan's texts as buyers are shown them: control characters (U+009B opens a terminal escape)
 * and bidirectional overrides (which make text read otherwise than it is) become spaces, runs of
 * spaces one, and a text left blank is no text. The body as received is kept as it came.
 */
export function shownDetails(location: string | undefined, message: string | undefined): CarrierScan['details'] {
  const shown = (text: string | undefined) => text?.replace(UNSHOWN, ' ').replace(/\s+/g, ' ').trim() || undefined;
  const [l, m] = [shown(location), shown(message)];
  return { ...(l !== undefined ? { location: l } : {}), ...(m !== undefined ? { message: m } : {}) };
}

const UNSHOWN = /[\p{Cc}\u202a-\u202e\u2066-\u2069\ufffd]/gu;
