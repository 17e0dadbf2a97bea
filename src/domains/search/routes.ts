import { principalOf } from '../../platform/http/access.ts';
import { ProblemResponse, authProblems } from '../../platform/http/schemas.ts';
import type { HttpApp } from '../../platform/http/server.ts';
import { sellerDashboard } from './dashboard.ts';
import type { SearchDeps } from './deps.ts';
import { DashboardQuerySchema, DashboardSchema, SearchQuerySchema, SearchResultSchema } from './schemas.ts';
import { searchProducts } from './search-products.ts';

const EVENTUAL = 'Served from a read model kept from the events of other domains: a change shows up once its event is applied (usually within milliseconds).';

export function registerSearchRoutes(app: HttpApp, deps: SearchDeps): void {
  app.get(
    '/v1/search/products',
    {
      config: { access: 'public' },
      schema: {
        tags: ['search'],
        summary: 'Full-text search of published products, with filters, facets, sorts and a cursor',
        description:
          `Finds published products by words of their title (weighted most), attributes and description. Filters: category (with its subcategories), seller, ` +
          `currency with a price range of the "from" price, stock, attributes. Sorts: relevance, newest, price_asc, price_desc, each with a stable cursor ` +
          `(the sort is part of the cursor: change the sort and start again). The first page also gives the total and the facets over every hit. ${EVENTUAL}`,
        querystring: SearchQuerySchema,
        response: { 200: SearchResultSchema, 400: ProblemResponse },
      },
    },
    async (request) => searchProducts(deps, request.query),
  );

  app.get(
    '/v1/seller/dashboard',
    {
      config: { access: ['seller'] },
      schema: {
        tags: ['search'],
        summary: 'Your orders and revenue, per currency and per UTC day, and your top products',
        description:
          'Revenue counts an order when it is paid (its total, on the UTC day it was paid); refunds count when the money goes back (the cancellation of a paid ' +
          `order is refunded, so it shows as refunded); an order cancelled before payment never counts. Net revenue is revenue minus refunds. ${EVENTUAL}`,
        querystring: DashboardQuerySchema,
        response: { 200: DashboardSchema, ...authProblems },
      },
    },
    async (request) => sellerDashboard(deps, principalOf(request).userId, request.query),
  );
}
