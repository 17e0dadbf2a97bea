import { type SealingKey, loadOrCreateSealingKeys } from '../../platform/sealed-secrets.ts';
import type { DomainContext, DomainModule } from '../../platform/module.ts';
import type { ShippingDeps } from './deps.ts';
import type { OrdersReader } from './ports.ts';
import { registerShippingRoutes } from './routes.ts';
import { TestCarrier } from './test-carrier.ts';
import { createWaitingWebhooksSweep } from './waiting-webhooks.ts';
import type { WorkerLoop } from '../../platform/messaging/worker-loop.ts';

export { CarrierWebhookBody } from './carrier-webhook.ts';
export type { OrdersReader, OrderToShip } from './ports.ts';
export { TestCarrier, type CarrierDelivery, type CarrierSink } from './test-carrier.ts';

/** Generated into DATA_DIR when SHIPPING_CREDENTIALS_KEY is unset (as the JWT keys are). */
const CREDENTIALS_KEY_FILE = 'shipping-credentials-key';

export type ShippingModule = DomainModule & {
  /** A test double of a carrier named `name`, sending its signed webhooks to this marketplace's route. */
  testCarrier(name: string, webhookSecret: string): TestCarrier;
};

/**
 * Shipping: sellers ship orders with a carrier and a tracking number, carriers report their scans
 * by signed webhooks, buyers follow them. Orders learn of it by shipping events only
 * (shipping.shipment_created.v1, shipping.shipment_status_changed.v1); shipping reads an order
 * through the orders api (`orders`, wired in src/domains.ts), never its database.
 */
export function createShippingModule(ctx: DomainContext, ports: { orders: OrdersReader }): ShippingModule {
  let keys: Promise<SealingKey[]> | undefined;
  const deps: ShippingDeps = {
    pool: ctx.pool,
    clock: ctx.clock,
    log: ctx.log,
    orders: ports.orders,
    credentialsKeys: () => {
      keys ??= loadOrCreateSealingKeys(ctx.config.shipping.credentialsKeys, ctx.config.dataDir, CREDENTIALS_KEY_FILE, 'SHIPPING_CREDENTIALS_KEY');
      // A failed read is tried again next time rather than remembered.
      keys.catch(() => {
        keys = undefined;
      });
      return keys;
    },
  };
  let sweep: WorkerLoop | undefined;
  let inject: ((request: { headers: Record<string, string>; body: string; url: string }) => Promise<number>) | undefined;
  return {
    name: 'shipping',
    async routes(app) {
      await registerShippingRoutes(app, deps);
      inject = async ({ headers, body, url }) => (await app.inject({ method: 'POST', url, headers, payload: body })).statusCode;
    },
    async start() {
      // A bad key file stops start-up here, not at the first carrier's webhook.
      await deps.credentialsKeys();
      sweep ??= createWaitingWebhooksSweep(ctx.pool, ctx.clock, ctx.log, ctx.config.shipping.waitingWebhookDays);
      sweep.start();
    },
    async stop() {
      await sweep?.stop();
    },
    testCarrier(name, webhookSecret) {
      const carrier = new TestCarrier({ name, webhookSecret, clock: ctx.clock });
      carrier.connect(async (request) => {
        if (!inject) throw new Error('the shipping routes are not registered');
        return inject({ ...request, url: `/v1/shipping/webhooks/${name}` });
      });
      return carrier;
    },
  };
}
