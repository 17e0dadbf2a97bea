import { type Static, Type } from '@sinclair/typebox';
import { CART_ITEMS_MAX, CART_QUANTITY_MAX } from '../../contracts/cart.ts';
import {
  ATTRIBUTES_MAX,
  CATEGORY_DEPTH_MAX,
  IMAGES_MAX,
  ImageTypeSchema,
  ProductStatusSchema,
  VARIANTS_MAX,
  VariantAttributesSchema,
} from '../../contracts/products.ts';
import { CurrencyCode, MoneySchema, MultilineText, NamedRecord, NOT_SHOWN, PageQuerySchema, WRITTEN, pageOf } from '../../platform/http/schemas.ts';

/** Request and response shapes of the catalog routes; every request object closed, every string and list bounded. */

const closed = { additionalProperties: false } as const;

/** What may not be at either end of a one-line text: a space, an invisible character (U+200B…) or a blank filler (U+3164, U+2800). */
const EDGE = `\\s\\p{Cf}\\p{Default_Ignorable_Code_Point}\\u2800${NOT_SHOWN}`;
/** Not in a one-line text anywhere: what is not shown, and the line and paragraph separators. */
const NOT_IN_LINE = `${NOT_SHOWN}\\u2028\\u2029`;
/**
 * What may end a one-line text although it shows nothing alone, right after a character that
 * shows: a variation selector (❤️ is U+2764 U+FE0F; a Japanese name's ideographic variant, U+E0100
 * on; Mongolian's free variation selectors), the tags that end a flag (🏴󠁧󠁢󠁥󠁮󠁧󠁿), and the marks
 * that set the direction of what precedes (LRM, RLM, ALM: Hebrew or Arabic ending in punctuation).
 * Never at the start.
 */
const TAIL = '[\\p{Variation_Selector}\\u{E0020}-\\u{E007F}\\u200E\\u200F\\u061C]';
/** Format characters that show, written before what they mark (Arabic number signs, the Syriac abbreviation mark…): a text may start with one. */
const PREPENDED = '[\\u0600-\\u0605\\u06DD\\u070F\\u0890\\u0891\\u08E2\\u{110BD}\\u{110CD}]';
/**
 * One line of printable text with something written in it and nothing blank at either end: a value
 * search facets show and filters must match exactly (a lone U+200B was a facet nobody could read).
 */
const trimmed = (maxLength: number, extraForbidden = '') =>
  Type.String({
    minLength: 1,
    maxLength,
    // The last character shown is no blank; selectors, tags and direction marks may follow it.
    pattern: `^(?=[\\s\\S]*${WRITTEN})(?:[^${EDGE}${extraForbidden}]|${PREPENDED})(?:${TAIL}+|[^${NOT_IN_LINE}${extraForbidden}]*[^${EDGE}${extraForbidden}]${TAIL}*)?$`,
  });
/**
 * Variant attributes as a seller gives them: the contract's names and values, without a space at
 * either end of a name or a value (search lists them as facets, and a filter must be able to name them).
 */
const VariantAttributesInput = NamedRecord({ pattern: '^[A-Za-z0-9](?:[A-Za-z0-9 _-]{0,48}[A-Za-z0-9_-])?$' }, trimmed(100), {
  maxProperties: VariantAttributesSchema.maxProperties,
  description: VariantAttributesSchema.description,
});

/**
 * The highest price: a full cart (CART_ITEMS_MAX lines of CART_QUANTITY_MAX units) of it still adds
 * up to an exact integer in JavaScript (below 2^53; with 10^12 a cart's total was off by a cent).
 */
export const PRICE_MAX = Math.floor(Number.MAX_SAFE_INTEGER / (CART_ITEMS_MAX * CART_QUANTITY_MAX) / 1_000_000_000) * 1_000_000_000;

const Uuid = Type.String({ format: 'uuid' });
const Instant = Type.String({ format: 'date-time' });
/** Characters (code points) a SKU holds at most, as the database checks it. */
export const SKU_LENGTH_MAX = 64;

const Sku = Type.String({
  minLength: 1,
  maxLength: SKU_LENGTH_MAX,
  // \p{Cf}: invisible format characters (U+200B, U+2060, U+FEFF…), which made twins of one SKU;
  // with the other characters drawn as nothing (U+034F, variation selectors, U+3164) and U+2800.
  pattern: `^[^\\s\\p{Cf}\\p{Default_Ignorable_Code_Point}\\u2800${NOT_SHOWN}]+$`,
  description: 'Stock keeping unit: 1 to 64 characters without spaces, invisible or control characters',
});
/** A product's title: something written, with no space at either end (a title of spaces alone was shown in the catalog). */
const Title = { ...trimmed(300), description: 'Up to 300 characters on one line, with something written and no space at either end' };
const Description = MultilineText(20000);
const PriceInput = Type.Object(
  {
    amount: Type.Integer({ minimum: 0, maximum: PRICE_MAX, description: `Integer minor units (cents), at most ${PRICE_MAX}` }),
    currency: CurrencyCode,
  },
  closed,
);

export const ProductIdParams = Type.Object({ productId: Uuid }, closed);

export const NewVariantInput = Type.Object(
  {
    sku: Sku,
    attributes: Type.Optional(VariantAttributesInput),
    price: { ...PriceInput, description: 'List price; also opens the variant\'s first price window' },
    priceEffectiveFrom: Type.Optional({ ...Instant, description: 'When the first price window starts; now by default, never in the past' }),
  },
  closed,
);
export type NewVariantInput = Static<typeof NewVariantInput>;

export const ImageInput = Type.Object(
  {
    url: Type.String({
      minLength: 8,
      maxLength: 2048,
      // A host (a name or a bracketed IPv6 address, then a port or not), and no user or password
      // before it (the URL is shown to everyone); the scheme in any case.
      pattern: `^[Hh][Tt][Tt][Pp][Ss]?://(?:\\[[0-9A-Fa-f:.]+\\]|[^\\s/?#@:[\\]${NOT_SHOWN}]+)(?::[0-9]{1,5})?(?:[/?#][^\\s${NOT_SHOWN}]*)?$`,
      description: 'Absolute http(s) URL with a host and no credentials',
    }),
    type: Type.Optional(ImageTypeSchema),
  },
  closed,
);
export type ImageInput = Static<typeof ImageInput>;

export const AttributeInput = Type.Object(
  {
    // No ':' in a name: search filters products by `attr=name:value`.
    name: { ...trimmed(100, ':'), description: 'Printable, no space at either end and no colon' },
    value: { ...trimmed(1000), description: 'Printable, no space at either end' },
    searchable: Type.Optional(Type.Boolean({ description: 'Offered to search as a full-text field and a facet; false by default' })),
  },
  closed,
);
export type AttributeInput = Static<typeof AttributeInput>;

export const CreateProductBody = Type.Object(
  {
    sku: Sku,
    title: Title,
    description: Type.Optional(Description),
    categoryId: Uuid,
    variants: Type.Array(NewVariantInput, { minItems: 1, maxItems: VARIANTS_MAX }),
    images: Type.Optional(Type.Array(ImageInput, { maxItems: IMAGES_MAX, description: 'In display order' })),
    attributes: Type.Optional(Type.Array(AttributeInput, { maxItems: ATTRIBUTES_MAX })),
  },
  closed,
);
export type CreateProductBody = Static<typeof CreateProductBody>;

export const PatchProductBody = Type.Object(
  {
    version: Type.Integer({ minimum: 1, description: 'The version you read; a stale version is refused with 409 VERSION_CONFLICT' }),
    sku: Type.Optional(Sku),
    title: Type.Optional(Title),
    description: Type.Optional(Description),
    categoryId: Type.Optional(Uuid),
    images: Type.Optional(Type.Array(ImageInput, { maxItems: IMAGES_MAX, description: 'Replaces every image, in display order' })),
    attributes: Type.Optional(Type.Array(AttributeInput, { maxItems: ATTRIBUTES_MAX, description: 'Replaces every attribute' })),
    variants: Type.Optional(
      Type.Array(Type.Object({ id: Uuid, sku: Type.Optional(Sku), attributes: Type.Optional(VariantAttributesInput) }, closed), {
        maxItems: VARIANTS_MAX,
        description: 'Changes to existing variants (by id); variants are never removed',
      }),
    ),
    addVariants: Type.Optional(Type.Array(NewVariantInput, { minItems: 1, maxItems: VARIANTS_MAX, description: 'New variants' })),
  },
  closed,
);
export type PatchProductBody = Static<typeof PatchProductBody>;

export const AddPriceBody = Type.Object(
  {
    variantId: Uuid,
    price: { ...PriceInput, description: 'Base price of one unit' },
    discount: Type.Optional({ ...PriceInput, description: 'Off the base price, same currency; 0 by default' }),
    effectiveFrom: Type.Optional({ ...Instant, description: 'Start (inclusive); now by default, never in the past' }),
    effectiveTo: Type.Optional(Type.Union([Instant, Type.Null()], { description: 'End (exclusive); null or absent for open-ended' })),
  },
  closed,
);
export type AddPriceBody = Static<typeof AddPriceBody>;

// ---------------------------------------------------------------------------
// Category tree (admin)
// ---------------------------------------------------------------------------

/** Positions an admin may give; past it the next free one is taken (see selectNextPosition). */
export const CATEGORY_POSITION_MAX = 1_000_000;

export const CategoryIdParams = Type.Object({ categoryId: Uuid }, closed);

const CategoryName = { ...trimmed(200), description: 'Display name: 1 to 200 printable characters on one line, something written, no space at either end' };
const CategorySlug = Type.String({
  minLength: 1,
  maxLength: 200,
  pattern: '^[a-z0-9]+(?:-[a-z0-9]+)*$',
  description: 'URL key, unique across the whole tree: lowercase letters and digits, words joined by single hyphens, up to 200 characters',
});
const CategoryPosition = Type.Integer({ minimum: 0, maximum: CATEGORY_POSITION_MAX, description: 'Order among its siblings, ascending (ties by name)' });
const ParentId = Type.Union([Uuid, Type.Null()], { description: 'Parent category; null for a root' });

export const CreateCategoryBody = Type.Object(
  {
    name: CategoryName,
    slug: Type.Optional({ ...CategorySlug, description: `${CategorySlug.description}; derived from the name when absent` }),
    parentId: Type.Optional({ ...ParentId, description: 'Parent category; absent or null for a root' }),
    position: Type.Optional({ ...CategoryPosition, description: 'Order among its siblings, ascending (ties by name); after the last sibling when absent' }),
  },
  closed,
);
export type CreateCategoryBody = Static<typeof CreateCategoryBody>;

export const PatchCategoryBody = Type.Object(
  {
    name: Type.Optional({ ...CategoryName, description: `${CategoryName.description}; the slug stays unless sent` }),
    slug: Type.Optional(CategorySlug),
    parentId: Type.Optional({ ...ParentId, description: 'Move under this category (null: make it a root); its subcategories move with it' }),
    position: Type.Optional({ ...CategoryPosition, description: 'Order among its siblings; after the last sibling of the new parent when moved without one' }),
  },
  { ...closed, minProperties: 1 },
);
export type PatchCategoryBody = Static<typeof PatchCategoryBody>;

export const SellerListQuery = Type.Object({ ...PageQuerySchema, status: Type.Optional(ProductStatusSchema) }, closed);
export const PublicListQuery = Type.Object(
  { ...PageQuerySchema, categoryId: Type.Optional({ ...Uuid, description: 'Only this category and the categories under it' }) },
  closed,
);

// ---------------------------------------------------------------------------
// Responses
// ---------------------------------------------------------------------------

const CategoryRefSchema = Type.Object({ id: Uuid, name: Type.String(), slug: Type.String() });

const CurrentPriceSchema = Type.Object({
  price: { ...MoneySchema, description: 'What a buyer pays per unit: base price minus discount' },
  basePrice: MoneySchema,
  discount: MoneySchema,
  effectiveFrom: Instant,
  effectiveTo: Type.Union([Instant, Type.Null()]),
});

const AvailabilitySchema = Type.Object({
  status: Type.Union([Type.Literal('in_stock'), Type.Literal('out_of_stock'), Type.Literal('unknown')]),
  available: Type.Union([Type.Integer(), Type.Null()], { description: 'Latest units known to be available (from inventory, eventually consistent)' }),
  asOf: Type.Union([Instant, Type.Null()], {
    description: 'When inventory reported this level: the last change of the available units (a sale takes reserved units and does not move it)',
  }),
  maxPerBuyer: Type.Union([Type.Integer({ minimum: 1 }), Type.Null()], {
    description: 'Most units one buyer may hold and buy of this variant, set by its seller (a reservation or checkout past it is 409 PURCHASE_LIMIT_EXCEEDED); null: no limit',
  }),
});

const productViewProperties = {
  id: Uuid,
  sellerId: Uuid,
  sku: Type.String(),
  title: Type.String(),
  description: Type.String(),
  category: Type.Object({ id: Uuid, name: Type.String(), slug: Type.String(), path: Type.Array(CategoryRefSchema, { maxItems: CATEGORY_DEPTH_MAX }) }),
  version: Type.Integer(),
  variants: Type.Array(
    Type.Object({
      id: Uuid,
      sku: Type.String(),
      attributes: Type.Record(Type.String(), Type.String()),
      listPrice: MoneySchema,
      currentPrices: Type.Array(CurrentPriceSchema, { description: 'Prices in effect now, one per currency' }),
      availability: AvailabilitySchema,
    }),
  ),
  images: Type.Array(Type.Object({ url: Type.String(), type: ImageTypeSchema, position: Type.Integer() })),
  attributes: Type.Array(Type.Object({ name: Type.String(), value: Type.String(), searchable: Type.Boolean() })),
  createdAt: Instant,
  updatedAt: Instant,
};

export const PublicProductSchema = Type.Object(productViewProperties);

export const PriceWindowSchema = Type.Object({
  priceId: Uuid,
  variantId: Uuid,
  price: { ...MoneySchema, description: 'What a buyer pays per unit in this window: base price minus discount' },
  basePrice: MoneySchema,
  discount: MoneySchema,
  effectiveFrom: Instant,
  effectiveTo: Type.Union([Instant, Type.Null()]),
  current: Type.Boolean({ description: 'In effect now' }),
});

export const SellerProductSchema = Type.Object({
  ...productViewProperties,
  status: ProductStatusSchema,
  priceWindows: Type.Array(PriceWindowSchema, { description: 'Every price window, newest first (at most 200), history included' }),
});

export const SellerListItemSchema = Type.Object({
  id: Uuid,
  sku: Type.String(),
  title: Type.String(),
  categoryId: Uuid,
  status: ProductStatusSchema,
  version: Type.Integer(),
  createdAt: Instant,
  updatedAt: Instant,
});
export const SellerPageSchema = pageOf(SellerListItemSchema);

export const PublicListItemSchema = Type.Object({
  id: Uuid,
  sellerId: Uuid,
  sku: Type.String(),
  title: Type.String(),
  categoryId: Uuid,
  imageUrl: Type.Union([Type.String(), Type.Null()]),
  priceFrom: Type.Union([MoneySchema, Type.Null()], {
    description: 'Lowest price in effect now among the variants, in their list currency (a window in another currency only when none is in effect in it)',
  }),
  createdAt: Instant,
});
export const PublicPageSchema = pageOf(PublicListItemSchema);

export const PriceChangeSchema = Type.Object({
  window: PriceWindowSchema,
  closedPriceId: Type.Union([Uuid, Type.Null()], { description: 'The open window this one closed at its start, if any' }),
  version: Type.Integer({ description: 'The product version after the change' }),
});

export const PriceWindowParams = Type.Object({ productId: Uuid, priceId: Uuid }, closed);

export const PriceWithdrawalSchema = Type.Object({
  priceId: Uuid,
  withdrawnAt: Type.String({ format: 'date-time' }),
  extendedPriceId: Type.Union([Uuid, Type.Null()], {
    description: 'The window that ended where the withdrawn one started: it now runs on to where the withdrawn one ended',
  }),
  extendedTo: Type.Union([Type.String({ format: 'date-time' }), Type.Null()], { description: 'Its new end; null: open-ended again (or nothing was extended)' }),
  version: Type.Integer({ description: 'The product version after the change' }),
});

export const CategorySchema = Type.Object({
  id: Uuid,
  parentId: Type.Union([Uuid, Type.Null()]),
  name: Type.String(),
  slug: Type.String(),
  position: Type.Integer(),
  path: Type.Array(CategoryRefSchema, { maxItems: CATEGORY_DEPTH_MAX, description: 'From the root down to this category' }),
  createdAt: Instant,
});
export type CategoryView = Static<typeof CategorySchema>;

export interface CategoryNode {
  id: string;
  name: string;
  slug: string;
  children: CategoryNode[];
}

export const CategoryTreeSchema = Type.Object({
  items: Type.Array(
    Type.Recursive((Node) => Type.Object({ id: Uuid, name: Type.String(), slug: Type.String(), children: Type.Array(Node) }), { $id: 'CategoryNode' }),
  ),
});
