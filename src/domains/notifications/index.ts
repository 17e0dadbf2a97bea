import { WorkerLoop } from '../../platform/messaging/worker-loop.ts';
import type { DomainContext, DomainModule } from '../../platform/module.ts';
import { DeliveryWorker } from './delivery.ts';
import type { NotificationsDeps, OrderLookup } from './deps.ts';
import { accountsSubscription, ordersSubscription, paymentsSubscription, shippingSubscription } from './handlers.ts';
import type { NotificationProvider } from './provider.ts';
import { registerNotificationRoutes } from './routes.ts';
import { TestNotificationProvider } from './test-provider.ts';
import type { ProviderChannel } from './types.ts';

export type { OrderLookup } from './deps.ts';
export { type NotificationProvider, type OutgoingMessage, ProviderError } from './provider.ts';
export { TestNotificationProvider, type DeliveredMessage } from './test-provider.ts';
export { CHANNELS, DEFAULT_CHANNELS, NOTIFICATION_TYPES, type Channel, type NotificationType } from './types.ts';

export interface NotificationsWiring {
  /** Orders' public API: a refund's buyer is read from there. */
  orders: OrderLookup;
}

export interface NotificationsOptions {
  /** Providers used instead of the built-in test provider, per channel (a real email service, say). */
  providers?: NotificationProvider[];
  /** Jitter of the retry backoff; Math.random by default. */
  random?: () => number;
}

export type NotificationsModule = DomainModule & {
  /** The built-in provider (email and push), which tests inspect and make fail. */
  testProvider: TestNotificationProvider;
  /** One round of the delivery worker (tests call it after moving their clock). */
  runDeliveryOnce(): Promise<boolean>;
};

const SEND_TIMEOUT_MS = 10_000;
const LEASE_MS = 60_000;
const DELIVERY_BATCH_SIZE_MAX = 50;

export function createNotificationsModule(ctx: DomainContext, wiring: NotificationsWiring, options: NotificationsOptions = {}): NotificationsModule {
  const settings = ctx.config.notifications;
  const random = options.random ?? Math.random;
  const testProvider = new TestNotificationProvider({ latencyMs: settings.testProviderLatencyMs, failureRate: settings.testProviderFailurePercent / 100, random });
  const providers = new Map<ProviderChannel, NotificationProvider>();
  for (const provider of [testProvider, ...(options.providers ?? [])]) for (const channel of provider.channels) providers.set(channel, provider);
  const deps: NotificationsDeps = {
    pool: ctx.pool,
    clock: ctx.clock,
    log: ctx.log,
    orders: wiring.orders,
    providers,
    random,
    delivery: {
      attemptsMax: settings.sendAttemptsMax,
      retryDelayBaseMs: settings.retryDelayBaseMs,
      retryDelayMaxMs: settings.retryDelayMaxMs,
      sendTimeoutMs: SEND_TIMEOUT_MS,
      leaseMs: LEASE_MS,
      batchSizeMax: DELIVERY_BATCH_SIZE_MAX,
    },
  };
  const worker = new DeliveryWorker(deps);
  let loop: WorkerLoop | undefined;

  return {
    name: 'notifications',
    // The sender hears of new notifications right after the consumer round that made them commits.
    subscriptions: [accountsSubscription(), ordersSubscription(), paymentsSubscription(deps), shippingSubscription()].map((s) => ({
      ...s,
      afterCommit: () => loop?.wake(),
    })),
    routes: (app) => registerNotificationRoutes(app, deps),
    testProvider,
    runDeliveryOnce: () => worker.runOnce(),
    async start() {
      loop ??= new WorkerLoop('notifications:delivery', () => worker.runOnce(), settings.deliveryPollMs, (error) =>
        ctx.log.error({ err: error }, 'notification delivery round failed'),
      );
      loop.start();
    },
    async stop() {
      await loop?.stop();
    },
  };
}
