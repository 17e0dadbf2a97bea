import type { WorkerLoop } from '../../platform/messaging/worker-loop.ts';
import type { DomainContext, DomainModule } from '../../platform/module.ts';
import { sellerDashboardSubscription } from './dashboard-projection.ts';
import type { SearchDeps } from './deps.ts';
import { productSearchSubscription } from './product-projection.ts';
import { createRepricingSweep } from './repricing.ts';
import { registerSearchRoutes } from './routes.ts';

/** How often the repricing sweep looks for price windows that started or ended (ms). */
export const REPRICE_INTERVAL_MS = 5_000;

export interface SearchOptions {
  repriceIntervalMs?: number;
}

export { PRODUCT_SEARCH_MODEL } from './product-projection.ts';
export { SELLER_DASHBOARD_MODEL } from './dashboard-projection.ts';

/**
 * The event types the search domain's rebuildable read models replay from their sources' logs:
 * `events prune` keeps them unless told otherwise, so that the models can still be rebuilt.
 */
export function readModelEventTypes(): string[] {
  return [...new Set([productSearchSubscription(), sellerDashboardSubscription()].filter((s) => s.readModel).flatMap((s) => s.events))].sort();
}

/**
 * The search domain: read models only, disposable and rebuilt from the other domains' events
 * (POST /v1/admin/read-models/{name}/rebuild). It reads no other domain's database and offers no
 * API to other domains.
 */
export function createSearchModule(ctx: DomainContext, options: SearchOptions = {}): DomainModule {
  const deps: SearchDeps = { pool: ctx.pool, clock: ctx.clock, log: ctx.log };
  let repricing: WorkerLoop | undefined;
  return {
    name: 'search',
    subscriptions: [productSearchSubscription(ctx.clock), sellerDashboardSubscription()],
    routes: (app) => registerSearchRoutes(app, deps),
    async start() {
      repricing ??= createRepricingSweep(deps, options.repriceIntervalMs ?? REPRICE_INTERVAL_MS);
      repricing.start();
    },
    async stop() {
      await repricing?.stop();
    },
  };
}
