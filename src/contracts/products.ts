import { type Static, Type } from '@sinclair/typebox';
import { defineEvent } from './define.ts';
import { registerContracts } from './registry.ts';

/**
 * Events of the products domain. Each product event carries the whole product snapshot, so that
 * inventory, search, cart and orders keep their own copies without ever calling back. Snapshots
 * are ordered by `version` (incremented on every change of the product, prices included): a
 * consumer keeps the snapshot with the highest version it has seen.
 *
 * Patterns, not `format`, so the contract checker needs no format registry.
 */
const Uuid = Type.String({ pattern: '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$', maxLength: 36 });
const Instant = Type.String({ pattern: '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d+)?Z$', maxLength: 40 });
const Currency = Type.String({ pattern: '^[A-Z]{3}$' });
const MinorUnits = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER });
const Sku = Type.String({ minLength: 1, maxLength: 64 });

export const PRODUCT_STATUSES = ['draft', 'published', 'unlisted'] as const;
export const ProductStatusSchema = Type.Union(PRODUCT_STATUSES.map((s) => Type.Literal(s)));
export type ProductStatus = (typeof PRODUCT_STATUSES)[number];

/** Variant attributes: at most 10 names of up to 50 characters, values of up to 100. */
export const VARIANT_ATTRIBUTES_MAX = 10;
export const VariantAttributesSchema = Type.Record(Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9 _-]{0,49}$' }), Type.String({ minLength: 1, maxLength: 100 }), {
  maxProperties: VARIANT_ATTRIBUTES_MAX,
  // A record's key pattern is a patternProperties: without this, a name outside it (empty, past 50
  // characters) was taken with any value at all.
  additionalProperties: false,
  description: 'Variant attributes, name to value, e.g. {"size":"M","colour":"red"}',
});

export const IMAGE_TYPES = ['primary', 'gallery', 'thumbnail', 'swatch'] as const;
export const ImageTypeSchema = Type.Union(IMAGE_TYPES.map((t) => Type.Literal(t)));

export const VARIANTS_MAX = 50;
export const IMAGES_MAX = 20;
export const ATTRIBUTES_MAX = 50;
export const CATEGORY_DEPTH_MAX = 10;
/** Current and upcoming price windows carried in a snapshot (bounded: at most this many). */
export const SNAPSHOT_PRICES_MAX = 500;

export const PriceWindowSchema = Type.Object(
  {
    priceId: Uuid,
    variantId: Uuid,
    currency: Currency,
    basePrice: MinorUnits,
    discount: MinorUnits,
    effectiveFrom: Instant,
    /** Exclusive end; null while open-ended. */
    effectiveTo: Type.Union([Instant, Type.Null()]),
  },
  { additionalProperties: false },
);
export type PriceWindow = Static<typeof PriceWindowSchema>;

const snapshotProperties = {
  productId: Uuid,
  sellerId: Uuid,
  sku: Sku,
  title: Type.String({ minLength: 1, maxLength: 300 }),
  description: Type.String({ maxLength: 20000 }),
  categoryId: Uuid,
  /** From the root of the category tree down to the product's category. */
  categoryPath: Type.Array(
    Type.Object({ id: Uuid, name: Type.String({ minLength: 1, maxLength: 200 }), slug: Type.String({ minLength: 1, maxLength: 200 }) }, { additionalProperties: false }),
    { minItems: 1, maxItems: CATEGORY_DEPTH_MAX },
  ),
  status: ProductStatusSchema,
  version: Type.Integer({ minimum: 1 }),
  variants: Type.Array(
    Type.Object(
      {
        variantId: Uuid,
        sku: Sku,
        attributes: VariantAttributesSchema,
        listPrice: Type.Object({ amount: MinorUnits, currency: Currency }, { additionalProperties: false }),
        position: Type.Integer({ minimum: 0 }),
      },
      { additionalProperties: false },
    ),
    { maxItems: VARIANTS_MAX },
  ),
  images: Type.Array(
    Type.Object({ url: Type.String({ minLength: 1, maxLength: 2048 }), type: ImageTypeSchema, position: Type.Integer({ minimum: 0 }) }, { additionalProperties: false }),
    { maxItems: IMAGES_MAX },
  ),
  attributes: Type.Array(
    Type.Object(
      { name: Type.String({ minLength: 1, maxLength: 100 }), value: Type.String({ minLength: 1, maxLength: 1000 }), searchable: Type.Boolean() },
      { additionalProperties: false },
    ),
    { maxItems: ATTRIBUTES_MAX },
  ),
  /** Price windows that are current or upcoming when the snapshot was taken (history is left out). */
  prices: Type.Array(PriceWindowSchema, { maxItems: SNAPSHOT_PRICES_MAX }),
  createdAt: Instant,
  updatedAt: Instant,
};

export const ProductSnapshotSchema = Type.Object(snapshotProperties, { additionalProperties: false });
export type ProductSnapshot = Static<typeof ProductSnapshotSchema>;

export const ProductCreatedV1 = defineEvent('products.product_created.v1', Type.Object(snapshotProperties, { additionalProperties: false }));
export type ProductCreatedV1 = Static<typeof ProductCreatedV1.schema>;

export const PRODUCT_FIELDS = ['sku', 'title', 'description', 'categoryId', 'variants', 'images', 'attributes'] as const;

export const ProductUpdatedV1 = defineEvent(
  'products.product_updated.v1',
  Type.Object(
    {
      ...snapshotProperties,
      changedFields: Type.Array(Type.Union(PRODUCT_FIELDS.map((f) => Type.Literal(f))), { minItems: 1, maxItems: PRODUCT_FIELDS.length, uniqueItems: true }),
    },
    { additionalProperties: false },
  ),
);
export type ProductUpdatedV1 = Static<typeof ProductUpdatedV1.schema>;

export const ProductPublishedV1 = defineEvent(
  'products.product_published.v1',
  Type.Object({ ...snapshotProperties, publishedAt: Instant }, { additionalProperties: false }),
);
export type ProductPublishedV1 = Static<typeof ProductPublishedV1.schema>;

export const ProductUnlistedV1 = defineEvent(
  'products.product_unlisted.v1',
  Type.Object({ ...snapshotProperties, unlistedAt: Instant }, { additionalProperties: false }),
);
export type ProductUnlistedV1 = Static<typeof ProductUnlistedV1.schema>;

/**
 * What both v1 price events say of the window and the product: no longer emitted (v2 carries the
 * snapshot), kept so that the log's older events are still read.
 */
const priceWindowEventProperties = {
  productId: Uuid,
  sellerId: Uuid,
  /** The product's version after the change. */
  version: Type.Integer({ minimum: 1 }),
  variantId: Uuid,
  sku: Sku,
  priceId: Uuid,
  currency: Currency,
  basePrice: MinorUnits,
  discount: MinorUnits,
  effectiveFrom: Instant,
  effectiveTo: Type.Union([Instant, Type.Null()]),
};

export const PriceChangedV1 = defineEvent(
  'products.price_changed.v1',
  Type.Object(
    {
      ...priceWindowEventProperties,
      /** The open window this one closed (its effective_to is now this window's effectiveFrom), if any. */
      closedPriceId: Type.Union([Uuid, Type.Null()]),
      changedAt: Instant,
    },
    { additionalProperties: false },
  ),
);
export type PriceChangedV1 = Static<typeof PriceChangedV1.schema>;

/**
 * A scheduled price window was withdrawn before it started (it never applied). The window it had
 * closed, if any, now runs on to where the withdrawn one ended: `extendedPriceId`, `extendedTo`.
 */
export const PriceWithdrawnV1 = defineEvent(
  'products.price_withdrawn.v1',
  Type.Object(
    {
      ...priceWindowEventProperties,
      /** The window that ended where the withdrawn one started, and its new end (null: open again). */
      extendedPriceId: Type.Union([Uuid, Type.Null()]),
      extendedTo: Type.Union([Instant, Type.Null()]),
      withdrawnAt: Instant,
    },
    { additionalProperties: false },
  ),
);
export type PriceWithdrawnV1 = Static<typeof PriceWithdrawnV1.schema>;

/**
 * A price window was added: the product's full snapshot after the change (its `prices` hold the
 * new window and the window it closed, now ending at the new one's start, if that is still
 * current), and the change itself. Replaces v1 (the window alone), which only the log's older
 * events still carry: a consumer gets the product's prices without calling back (ADR 0024).
 */
export const PriceChangedV2 = defineEvent(
  'products.price_changed.v2',
  Type.Object(
    {
      ...snapshotProperties,
      /** The window added. */
      window: PriceWindowSchema,
      /** The open window this one closed (its effectiveTo is now window.effectiveFrom), if any. */
      closedPriceId: Type.Union([Uuid, Type.Null()]),
      changedAt: Instant,
    },
    { additionalProperties: false },
  ),
);
export type PriceChangedV2 = Static<typeof PriceChangedV2.schema>;

/**
 * A scheduled price window was withdrawn before it started: the product's full snapshot after the
 * withdrawal (the window is gone from its `prices`; the window it had closed runs on to where it
 * ended), the withdrawn window, and the extension. Replaces v1 (ADR 0024).
 */
export const PriceWithdrawnV2 = defineEvent(
  'products.price_withdrawn.v2',
  Type.Object(
    {
      ...snapshotProperties,
      /** The window withdrawn, as it was. */
      window: PriceWindowSchema,
      /** The window that ended where the withdrawn one started, and its new end (null: open again). */
      extendedPriceId: Type.Union([Uuid, Type.Null()]),
      extendedTo: Type.Union([Instant, Type.Null()]),
      withdrawnAt: Instant,
    },
    { additionalProperties: false },
  ),
);
export type PriceWithdrawnV2 = Static<typeof PriceWithdrawnV2.schema>;

/** The product events emitted now, each carrying the product's snapshot (v1 price events are still read from the log). */
export const PRODUCT_EVENT_TYPES = [
  ProductCreatedV1.type,
  ProductUpdatedV1.type,
  ProductPublishedV1.type,
  ProductUnlistedV1.type,
  PriceChangedV2.type,
  PriceWithdrawnV2.type,
] as const;

/**
 * Category events. The aggregate is the whole category tree (its invariants, no cycle and at most
 * CATEGORY_DEPTH_MAX levels, hold across categories), under this one fixed id: every category event
 * has it as subject, so a consumer gets the tree's changes in the order they were made.
 */
export const CATEGORY_TREE_AGGREGATE_ID = '00000000-0000-7000-8000-000000000000';
export const CATEGORY_TREE_AGGREGATE_TYPE = 'category_tree';

/** From the root of the tree down to the category itself. */
const CategoryPathSchema = Type.Array(
  Type.Object({ id: Uuid, name: Type.String({ minLength: 1, maxLength: 200 }), slug: Type.String({ minLength: 1, maxLength: 200 }) }, { additionalProperties: false }),
  { minItems: 1, maxItems: CATEGORY_DEPTH_MAX },
);

const categoryProperties = {
  categoryId: Uuid,
  parentId: Type.Union([Uuid, Type.Null()]),
  name: Type.String({ minLength: 1, maxLength: 200 }),
  slug: Type.String({ minLength: 1, maxLength: 200 }),
  /** Sort order among its siblings, ascending. */
  position: Type.Integer({ minimum: 0 }),
  path: CategoryPathSchema,
};

export const CategoryCreatedV1 = defineEvent(
  'products.category_created.v1',
  Type.Object({ ...categoryProperties, createdAt: Instant }, { additionalProperties: false }),
);
export type CategoryCreatedV1 = Static<typeof CategoryCreatedV1.schema>;

export const CATEGORY_FIELDS = ['name', 'slug', 'parentId', 'position'] as const;

/**
 * A category renamed, re-slugged, moved or reordered. The categories under it keep their place
 * under it, so a rename or a move changes their paths too: a consumer holding paths (products'
 * categoryPath, search's category ids) rewrites every path that runs through `categoryId`,
 * replacing its `previousPath` prefix with `path`.
 */
export const CategoryUpdatedV1 = defineEvent(
  'products.category_updated.v1',
  Type.Object(
    {
      ...categoryProperties,
      previousPath: CategoryPathSchema,
      changedFields: Type.Array(Type.Union(CATEGORY_FIELDS.map((f) => Type.Literal(f))), { minItems: 1, maxItems: CATEGORY_FIELDS.length, uniqueItems: true }),
      updatedAt: Instant,
    },
    { additionalProperties: false },
  ),
);
export type CategoryUpdatedV1 = Static<typeof CategoryUpdatedV1.schema>;

export const CATEGORY_EVENT_TYPES = [CategoryCreatedV1.type, CategoryUpdatedV1.type] as const;

registerContracts(
  ProductCreatedV1,
  ProductUpdatedV1,
  ProductPublishedV1,
  ProductUnlistedV1,
  PriceChangedV1,
  PriceWithdrawnV1,
  PriceChangedV2,
  PriceWithdrawnV2,
  CategoryCreatedV1,
  CategoryUpdatedV1,
);
