import { SNAPSHOT_PRICES_MAX } from '../../contracts/products.ts';
import { Type } from '@sinclair/typebox';
import { principalOf } from '../../platform/http/access.ts';
import { notFound } from '../../platform/http/errors.ts';
import { ProblemResponse, authProblems } from '../../platform/http/schemas.ts';
import type { HttpApp } from '../../platform/http/server.ts';
import { addPriceWindow } from './add-price.ts';
import { changePublication } from './change-publication.ts';
import { createProduct } from './create-product.ts';
import type { ProductsDeps } from './deps.ts';
import { sendCacheable } from './http-cache.ts';
import { type CategoryTreeCache, listPublished } from './public-reads.ts';
import {
  AddPriceBody,
  CategoryTreeSchema,
  CreateProductBody,
  PatchProductBody,
  PriceChangeSchema,
  PriceWindowParams,
  PriceWithdrawalSchema,
  ProductIdParams,
  PublicListQuery,
  PublicPageSchema,
  PublicProductSchema,
  SellerListQuery,
  SellerPageSchema,
  SellerProductSchema,
} from './schemas.ts';
import { getOwnProduct, listOwnProducts } from './seller-reads.ts';
import { updateProduct } from './update-product.ts';
import { withdrawPriceWindow } from './withdraw-price.ts';

/** How long browsers and shared caches may reuse public reads without asking again. */
export const PRODUCT_MAX_AGE_SECONDS = 30;
export const LIST_MAX_AGE_SECONDS = 10;
export const CATEGORIES_MAX_AGE_SECONDS = 300;

const sellerTags = ['catalog (seller)'];
const publicTags = ['catalog'];
const seller = { access: ['seller'] as const };
const notModified = { 304: Type.Null({ description: 'Not modified: the ETag sent in If-None-Match is current' }) };

export function registerProductRoutes(app: HttpApp, deps: ProductsDeps, categories: CategoryTreeCache): void {
  app.post(
    '/v1/seller/products',
    {
      config: { ...seller, location: true },
      schema: {
        tags: sellerTags,
        summary: 'Create a product (draft) with variants, images and attributes',
        description: 'Each variant\'s price is its list price and opens its first price window (now, or at priceEffectiveFrom). SKUs are unique per seller (409 SKU_TAKEN).',
        body: CreateProductBody,
        response: { 201: SellerProductSchema, ...authProblems, 409: ProblemResponse, 422: ProblemResponse },
      },
    },
    async (request, reply) => {
      const view = await createProduct(deps, principalOf(request).userId, request.body, request.trace);
      return reply.status(201).header('location', `/v1/seller/products/${view.id}`).send(view);
    },
  );

  app.get(
    '/v1/seller/products',
    {
      config: seller,
      schema: { tags: sellerTags, summary: 'Own products in any status, newest first', querystring: SellerListQuery, response: { 200: SellerPageSchema, ...authProblems } },
    },
    async (request) => listOwnProducts(deps, principalOf(request).userId, request.query),
  );

  app.get(
    '/v1/seller/products/:productId',
    {
      config: seller,
      schema: {
        tags: sellerTags,
        summary: 'One own product, with its status, version, prices in effect and upcoming, and the last 200 closed',
        params: ProductIdParams,
        response: { 200: SellerProductSchema, ...authProblems, 404: ProblemResponse },
      },
    },
    async (request) => getOwnProduct(deps, principalOf(request).userId, request.params.productId),
  );

  app.patch(
    '/v1/seller/products/:productId',
    {
      config: seller,
      schema: {
        tags: sellerTags,
        summary: 'Edit an own product (optimistic concurrency on version)',
        description:
          'Send the version you read; if the product changed since, nothing is written and the answer is 409 VERSION_CONFLICT with currentVersion. Images and attributes, when sent, replace the old ones; variants are changed by id or added, never removed. Prices change through /prices. A body whose values are all as they are changes nothing: 200 with the same version, and no event.',
        params: ProductIdParams,
        body: PatchProductBody,
        response: { 200: SellerProductSchema, ...authProblems, 404: ProblemResponse, 409: ProblemResponse, 422: ProblemResponse },
      },
    },
    async (request) => updateProduct(deps, principalOf(request).userId, request.params.productId, request.body, request.trace),
  );

  app.post(
    '/v1/seller/products/:productId/prices',
    {
      config: seller,
      schema: {
        tags: sellerTags,
        summary: 'Add a price window for a variant and currency',
        description:
          `Windows are [effectiveFrom, effectiveTo); a null end is open. An open window closes the open window it follows at its own start; any other overlap is 409 PRICE_WINDOW_OVERLAP. A window never starts in the past. A product has at most ${SNAPSHOT_PRICES_MAX} windows in effect or scheduled (all variants and currencies): one more is 409 CONFLICT. Announced with products.price_changed.v2 (the product's snapshot after the change).`,
        params: ProductIdParams,
        body: AddPriceBody,
        response: { 201: PriceChangeSchema, ...authProblems, 404: ProblemResponse, 409: ProblemResponse, 422: ProblemResponse },
      },
    },
    async (request, reply) => {
      const change = await addPriceWindow(deps, principalOf(request).userId, request.params.productId, request.body, request.trace);
      return reply.status(201).send(change);
    },
  );

  app.delete(
    '/v1/seller/products/:productId/prices/:priceId',
    {
      config: seller,
      schema: {
        tags: sellerTags,
        summary: 'Withdraw a price window that has not started',
        description:
          'A scheduled window is withdrawn before its start, as if it had never been added: the window it had closed runs on to where it ended (extendedPriceId, extendedTo). A window that has started is history: 409 INVALID_STATE_TRANSITION (add a new window to change the price from now on). Kept in product_price_withdrawals; announced with products.price_withdrawn.v2 (the product\'s snapshot after the withdrawal).',
        params: PriceWindowParams,
        response: { 200: PriceWithdrawalSchema, ...authProblems, 404: ProblemResponse, 409: ProblemResponse },
      },
    },
    async (request) => withdrawPriceWindow(deps, principalOf(request).userId, request.params.productId, request.params.priceId, request.trace),
  );

  for (const command of ['publish', 'unlist'] as const) {
    app.post(
      `/v1/seller/products/:productId/${command}`,
      {
        config: seller,
        schema: {
          tags: sellerTags,
          summary: command === 'publish' ? 'Publish (from draft or unlisted); needs a variant with a current price' : 'Unlist a published product',
          params: ProductIdParams,
          response: { 200: SellerProductSchema, ...authProblems, 404: ProblemResponse, 409: ProblemResponse },
        },
      },
      async (request) => changePublication(deps, principalOf(request).userId, request.params.productId, command, request.trace),
    );
  }

  app.get(
    '/v1/categories',
    {
      config: { access: 'public' },
      schema: { tags: publicTags, summary: 'The category tree', response: { 200: CategoryTreeSchema, ...notModified } },
    },
    async (request, reply) => sendCacheable(request, reply, await categories.get(), CATEGORIES_MAX_AGE_SECONDS),
  );

  app.get(
    '/v1/products',
    {
      config: { access: 'public' },
      schema: {
        tags: publicTags,
        summary: 'Published products, newest first, optionally under a category (its subcategories included)',
        querystring: PublicListQuery,
        response: { 200: PublicPageSchema, ...notModified, 400: ProblemResponse },
      },
    },
    async (request, reply) => sendCacheable(request, reply, await listPublished(deps, request.query), LIST_MAX_AGE_SECONDS),
  );

  app.get(
    '/v1/products/:productId',
    {
      config: { access: 'public' },
      schema: {
        tags: publicTags,
        summary: 'One published product with variants, images, attributes, current prices and availability',
        description: `Carries ETag and Cache-Control (public, max-age up to ${PRODUCT_MAX_AGE_SECONDS} s, less when a price window starts or ends sooner); If-None-Match gives 304.`,
        params: ProductIdParams,
        response: { 200: PublicProductSchema, ...notModified, 400: ProblemResponse, 404: ProblemResponse },
      },
    },
    async (request, reply) => {
      const cached = await deps.cache.get(request.params.productId);
      if (!cached) throw notFound('product');
      let maxAge = PRODUCT_MAX_AGE_SECONDS;
      if (cached.pricesValidUntilMs !== undefined) maxAge = Math.min(maxAge, (cached.pricesValidUntilMs - deps.clock.now().getTime()) / 1000);
      return sendCacheable(request, reply, cached, maxAge);
    },
  );
}
