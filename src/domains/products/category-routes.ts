import { ProblemResponse, authProblems } from '../../platform/http/schemas.ts';
import type { HttpApp } from '../../platform/http/server.ts';
import type { ProductsDeps } from './deps.ts';
import { type TreeCache, createCategory, updateCategory } from './manage-categories.ts';
import { CategoryIdParams, CategorySchema, CreateCategoryBody, PatchCategoryBody } from './schemas.ts';
import { CATEGORY_DEPTH_MAX } from './sql.ts';

const tags = ['catalog (admin)'];
const admin = { access: ['admin'] as const };

const treeRules =
  `Slugs are unique across the whole tree (409 SLUG_TAKEN). The tree has at most ${CATEGORY_DEPTH_MAX} levels (409 CATEGORY_TOO_DEEP). ` +
  'An unknown parentId is 422 UNPROCESSABLE. GET /v1/categories shows the change at once (a new ETag).';

export function registerCategoryRoutes(app: HttpApp, deps: ProductsDeps, tree: TreeCache): void {
  app.post(
    '/v1/admin/categories',
    {
      config: admin,
      schema: {
        tags,
        summary: 'Create a category, a root or under a parent',
        description: `The slug is made from the name when absent ("Home & Garden" → home-and-garden; a name without Latin letters or digits needs a slug). The category goes after its last sibling unless a position is given. ${treeRules} Announced with products.category_created.v1.`,
        body: CreateCategoryBody,
        response: { 201: CategorySchema, ...authProblems, 409: ProblemResponse, 422: ProblemResponse },
      },
    },
    async (request, reply) => reply.status(201).send(await createCategory(deps, tree, request.body, request.trace)),
  );

  app.patch(
    '/v1/admin/categories/:categoryId',
    {
      config: admin,
      schema: {
        tags,
        summary: 'Rename, re-slug, reorder or move a category (with everything under it)',
        description: `A rename keeps the slug unless one is sent. Moving a category under itself or one of its descendants is 409 CATEGORY_CYCLE. ${treeRules} A body that changes nothing answers the category as it is. Announced with products.category_updated.v1; products under the category show its new name and path at once.`,
        params: CategoryIdParams,
        body: PatchCategoryBody,
        response: { 200: CategorySchema, ...authProblems, 404: ProblemResponse, 409: ProblemResponse, 422: ProblemResponse },
      },
    },
    async (request) => updateCategory(deps, tree, request.params.categoryId, request.body, request.trace),
  );
}
