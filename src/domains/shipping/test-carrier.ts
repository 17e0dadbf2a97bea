import { randomBytes } from 'node:crypto';
import type { ShipmentStatus } from '../../contracts/shipping.ts';
import type { Clock } from '../../platform/clock.ts';
import { SIGNATURE_HEADER, signatureHeader } from '../../platform/http/webhook-signature.ts';
import type { CarrierWebhookBody } from './carrier-webhook.ts';

/**
 * A test double of a carrier that behaves like a real one towards bazaar: it hands out tracking
 * numbers, scans parcels and reports each scan by a webhook signed with its webhook secret (the one
 * an admin set in its credentials). Like a real carrier it may send a webhook twice (a retry after
 * a timeout, freshly signed) and send scans out of order (a depot's scans uploaded late): a test
 * makes the scans, then sends them in any order, as often as it likes.
 */
export interface CarrierDelivery {
  eventId: string;
  body: string;
}

/** Where webhooks go (the marketplace's webhook route); answers the HTTP status. */
export type CarrierSink = (request: { headers: Record<string, string>; body: string }) => Promise<number>;

export interface TestCarrierOptions {
  /** The carrier's name in bazaar (carrier_integrations.carrier_name, the webhook path). */
  name: string;
  webhookSecret: string;
  clock: Clock;
}

export class TestCarrier {
  readonly name: string;
  readonly #secret: string;
  readonly #clock: Clock;
  #sink: CarrierSink | undefined;

  constructor(options: TestCarrierOptions) {
    this.name = options.name;
    this.#secret = options.webhookSecret;
    this.#clock = options.clock;
  }

  connect(sink: CarrierSink): void {
    this.#sink = sink;
  }

  /** A tracking number of this carrier, as printed on a label. */
  newTrackingNumber(): string {
    return `TC${randomBytes(8).toString('hex').toUpperCase()}`;
  }

  /** A scan of a parcel (status null: information only), reported by the webhook returned; nothing is sent yet. */
  scan(trackingNumber: string, status: ShipmentStatus | null, at: { occurredAt?: Date; location?: string; message?: string } = {}): CarrierDelivery {
    const now = this.#clock.now();
    const body: CarrierWebhookBody = {
      id: `evt_${randomBytes(10).toString('hex')}`,
      type: 'tracking.updated',
      created: Math.floor(now.getTime() / 1000),
      data: {
        trackingNumber,
        ...(status !== null ? { status } : {}),
        occurredAt: (at.occurredAt ?? now).toISOString(),
        ...(at.location !== undefined ? { location: at.location } : {}),
        ...(at.message !== undefined ? { message: at.message } : {}),
      },
    };
    return { eventId: body.id, body: JSON.stringify(body) };
  }

  /** The request the carrier sends for a webhook, signed now with `secret` (default: its own). */
  signed(delivery: CarrierDelivery, secret = this.#secret): { headers: Record<string, string>; body: string } {
    const timestamp = Math.floor(this.#clock.now().getTime() / 1000);
    return { headers: { 'content-type': 'application/json', [SIGNATURE_HEADER]: signatureHeader(secret, timestamp, delivery.body) }, body: delivery.body };
  }

  /** Sends webhooks in the order given (any order: that is the point), each signed at sending; answers their HTTP statuses. */
  async send(...deliveries: CarrierDelivery[]): Promise<number[]> {
    const sink = this.#sink;
    if (!sink) throw new Error(`test carrier ${this.name} is not connected`);
    const statuses: number[] = [];
    for (const d of deliveries) statuses.push(await sink(this.signed(d)));
    return statuses;
  }
}
