import type { DomainContext, DomainModule } from '../../platform/module.ts';
import { sellerDashboardSubscription } from './dashboard-projection.ts';
import type { SearchDeps } from './deps.ts';
import { productSearchSubscription } from './product-projection.ts';
import { registerSearchRoutes } from './routes.ts';

export { PRODUCT_SEARCH_MODEL } from './product-projection.ts';
export { SELLER_DASHBOARD_MODEL } from './dashboard-projection.ts';

/**
 * The search domain: read models only, disposable and rebuilt from the other domains' events
 * (POST /v1/admin/read-models/{name}/rebuild). It reads no other domain's database and offers no
 * API to other domains.
 */
export function createSearchModule(ctx: DomainContext): DomainModule {
  const deps: SearchDeps = { pool: ctx.pool, clock: ctx.clock, log: ctx.log };
  return {
    name: 'search',
    subscriptions: [productSearchSubscription(), sellerDashboardSubscription()],
    routes: (app) => registerSearchRoutes(app, deps),
  };
}
