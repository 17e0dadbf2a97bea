import type { PRODUCT_FIELDS, ProductSnapshot } from '../../contracts/products.ts';
import { VARIANTS_MAX } from '../../contracts/products.ts';
import { withTransaction } from '../../platform/db/pool.ts';
import { AppError, notFound } from '../../platform/http/errors.ts';
import type { Trace } from '../../platform/messaging/envelope.ts';
import { mappingDatabaseErrors } from './db-errors.ts';
import type { ProductsDeps } from './deps.ts';
import { emit, productEvent } from './events.ts';
import { assertDistinctSkus, attributeRows, imageRows, variantRows, withNfcSkus } from './new-parts.ts';
import type { PatchProductBody } from './schemas.ts';
import {
  categoryExists,
  countVariants,
  deleteAttributes,
  deleteImages,
  holdCategoryTree,
  insertAttributes,
  insertImages,
  insertPrices,
  insertVariants,
  lockOwnProduct,
  mustKeepLiveWindowsBounded,
  selectProduct,
  updateProductRow,
  updateVariant,
} from './sql.ts';
import { type SellerProductView, toSellerView, toSnapshot } from './views.ts';

const VARIANT_SKU_CONSTRAINTS = 'product_variants_product_sku_key, product_variants_seller_sku_key';

type Field = (typeof PRODUCT_FIELDS)[number];

function changedFieldsOf(body: PatchProductBody): Field[] {
  const fields: Field[] = [];
  if (body.sku !== undefined) fields.push('sku');
  if (body.title !== undefined) fields.push('title');
  if (body.description !== undefined) fields.push('description');
  if (body.categoryId !== undefined) fields.push('categoryId');
  if (body.variants !== undefined || body.addVariants !== undefined) fields.push('variants');
  if (body.images !== undefined) fields.push('images');
  if (body.attributes !== undefined) fields.push('attributes');
  return fields;
}

/** The fields whose content differs between two snapshots of one product (version and times aside). */
function fieldsChanged(before: ProductSnapshot, after: ProductSnapshot): Field[] {
  const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
  const fields: Field[] = [];
  for (const f of ['sku', 'title', 'description', 'categoryId', 'variants', 'images', 'attributes'] as const) {
    if (!same(before[f], after[f])) fields.push(f);
  }
  return fields;
}

/**
 * Edits one of the seller's products under optimistic concurrency: the body names the version the
 * seller read, and a product changed since then is refused with VERSION_CONFLICT (nothing is
 * written). Images and attributes are replaced as wholes; variants are changed by id or added,
 * never removed (carts and orders refer to them). Announced with products.product_updated.v1,
 * naming the fields whose content changed. A body that changes nothing (every value as it is)
 * writes nothing: no new version, no event, and the product is answered as it is.
 */
export async function updateProduct(
  deps: ProductsDeps,
  sellerId: string,
  productId: string,
  given: PatchProductBody,
  trace: Trace | null,
): Promise<SellerProductView> {
  const body = withNfcSkus(given);
  const changedFields = changedFieldsOf(body);
  if (changedFields.length === 0) throw new AppError('VALIDATION_FAILED', 'the body changes nothing: send at least one field besides version');
  assertDistinctSkus([...(body.variants ?? []).flatMap((v) => (v.sku ? [v.sku] : [])), ...(body.addVariants ?? []).map((v) => v.sku)], 'variants');
  // Two changes of one variant would leave only the last: which one the seller meant is not known.
  const ids = (body.variants ?? []).map((v) => v.id.toLowerCase());
  const twice = ids.findIndex((id, i) => ids.indexOf(id) !== i);
  if (twice >= 0) throw new AppError('VALIDATION_FAILED', `variants[${twice}].id names a variant already changed by variants[${ids.indexOf(ids[twice] as string)}]: one change per variant`);
  const view = await mappingDatabaseErrors(() =>
    withTransaction(deps.pool, async (tx) => {
      await holdCategoryTree(tx);
      const product = await lockOwnProduct(tx, productId, sellerId);
      if (!product) throw notFound('product');
      // Read once the product is held (see changePublication): new windows start, and live ones are
      // counted, at the time of the change.
      const now = deps.clock.now();
      if (product.version !== body.version) {
        throw new AppError('VERSION_CONFLICT', `you sent version ${body.version}; the product is at version ${product.version}`, { currentVersion: product.version });
      }
      if (body.categoryId !== undefined && !(await categoryExists(tx, body.categoryId))) {
        throw new AppError('UNPROCESSABLE', 'categoryId does not name a category');
      }
      const before = await selectProduct(tx, productId, { at: now, history: true });
      if (!before) throw new Error('the product being edited cannot be read');
      // The writes below are undone when they changed nothing (see fieldsChanged).
      await tx.query('SAVEPOINT patch');
      // Variants may swap SKUs: uniqueness is checked once they are all written (products migration 0004).
      const skusChange = (body.variants ?? []).some((v) => v.sku !== undefined);
      if (skusChange) await tx.query(`SET CONSTRAINTS ${VARIANT_SKU_CONSTRAINTS} DEFERRED`);
      for (const [i, v] of (body.variants ?? []).entries()) {
        const found = await updateVariant(tx, productId, v.id, { ...(v.sku ? { sku: v.sku } : {}), ...(v.attributes ? { attributes: v.attributes } : {}) }, now);
        if (!found) throw new AppError('UNPROCESSABLE', `variants[${i}].id is not a variant of this product`);
      }
      if (skusChange) await tx.query(`SET CONSTRAINTS ${VARIANT_SKU_CONSTRAINTS} IMMEDIATE`);
      if (body.addVariants) {
        const existing = await countVariants(tx, productId);
        if (existing + body.addVariants.length > VARIANTS_MAX) throw new AppError('VALIDATION_FAILED', `a product has at most ${VARIANTS_MAX} variants`);
        const { variants, prices } = variantRows(body.addVariants, { productId, sellerId, now, firstPosition: existing });
        await insertVariants(tx, variants);
        await insertPrices(tx, prices);
        await mustKeepLiveWindowsBounded(tx, productId, now);
      }
      if (body.images) {
        await deleteImages(tx, productId);
        await insertImages(tx, imageRows(body.images, productId, now));
      }
      if (body.attributes) {
        await deleteAttributes(tx, productId);
        await insertAttributes(tx, attributeRows(body.attributes, productId, now));
      }
      const changes = {
        ...(body.sku !== undefined ? { sku: body.sku } : {}),
        ...(body.title !== undefined ? { title: body.title } : {}),
        ...(body.description !== undefined ? { description: body.description } : {}),
        ...(body.categoryId !== undefined ? { categoryId: body.categoryId } : {}),
      };
      await updateProductRow(tx, productId, changes, now);
      const record = await selectProduct(tx, productId, { at: now, history: true });
      if (!record) throw new Error('the product being edited cannot be read back');
      const after = toSnapshot(record, now);
      const changed = fieldsChanged(toSnapshot(before, now), after);
      if (changed.length === 0) {
        await tx.query('ROLLBACK TO SAVEPOINT patch');
        return toSellerView(before, now);
      }
      await emit(tx, [productEvent(after, { kind: 'updated', changedFields: changed })], trace, now);
      return toSellerView(record, now);
    }),
  );
  deps.invalidate([productId]);
  return view;
}
