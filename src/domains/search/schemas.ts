import { Type } from '@sinclair/typebox';
import { ORDER_STATUS_VALUES } from '../../contracts/orders.ts';
import { CurrencyCode, Defaulted, MoneySchema, PageQuerySchema, TotalMoneySchema } from '../../platform/http/schemas.ts';
import { DASHBOARD_DAYS_MAX } from './dashboard.ts';
import { SEARCH_SORTS } from './search-products.ts';

const Uuid = Type.String({ format: 'uuid' });
/** A currency as stored (answers); what a client asks for must be one in circulation (CurrencyCode). */
const Currency = Type.String({ pattern: '^[A-Z]{3}$', minLength: 3, maxLength: 3, description: 'ISO 4217 code' });
const Amount = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, description: 'Integer minor units' });

export const SearchQuerySchema = Type.Object(
  {
    q: Type.Optional(Type.String({ minLength: 1, maxLength: 200, description: 'Words to find (web search syntax: "quoted phrase", -excluded, or); English stemming' })),
    category: Type.Optional({ ...Uuid, description: 'A category: products of it and of its subcategories' }),
    seller: Type.Optional({ ...Uuid, description: 'Products of one seller' }),
    currency: Type.Optional({ ...CurrencyCode, description: 'Products priced in this currency; needed by minPrice, maxPrice and the price sorts' }),
    minPrice: Type.Optional({ ...Amount, description: 'Lowest "from" price (the cheapest variant now), in minor units of currency' }),
    maxPrice: Type.Optional({ ...Amount, description: 'Highest "from" price, in minor units of currency' }),
    inStock: Type.Optional(Type.Boolean({ description: 'true: some variant has stock available; false: none has' })),
    attr: Type.Optional(
      Type.Array(Type.String({ minLength: 3, maxLength: 300, pattern: '^[^:]+:.+$' }), {
        maxItems: 10,
        description: 'Attribute filters name:value (a product attribute or a variant attribute), e.g. attr=colour:black; each must hold',
      }),
    ),
    sort: Type.Optional(
      Type.Union(
        SEARCH_SORTS.map((s) => Type.Literal(s)),
        { description: 'relevance (default with q; needs q), newest (default without q), price_asc or price_desc (need currency)' },
      ),
    ),
    facets: Defaulted(Type.Boolean({ default: true, description: 'Count the hits per category, price band, stock and attribute value (first page only)' })),
    ...PageQuerySchema,
  },
  { additionalProperties: false },
);

export const SearchHitSchema = Type.Object(
  {
    productId: Uuid,
    sellerId: Uuid,
    title: Type.String(),
    description: Type.String({ description: 'The first 300 characters' }),
    categoryId: Uuid,
    categoryIds: Type.Array(Uuid, { description: 'The category and its ancestors, root first' }),
    price: Type.Union([Type.Object({ min: MoneySchema, max: MoneySchema }), Type.Null()], { description: 'Lowest and highest variant price in effect; null when none is priced' }),
    inStock: Type.Boolean(),
    imageUrl: Type.Union([Type.String(), Type.Null()]),
    attributes: Type.Record(Type.String(), Type.Array(Type.String()), { description: 'Attribute name to values, product and variant attributes' }),
    publishedAt: Type.String({ format: 'date-time' }),
    score: Type.Union([Type.Number(), Type.Null()], { description: 'Relevance when sorted by relevance' }),
  },
  { additionalProperties: false },
);

export const SearchResultSchema = Type.Object(
  {
    items: Type.Array(SearchHitSchema),
    nextCursor: Type.Union([Type.String(), Type.Null()]),
    total: Type.Union([Type.Integer(), Type.Null()], { description: 'Hits of the query, on the first page (with facets); null otherwise' }),
    facets: Type.Union(
      [
        Type.Object({
          categories: Type.Array(Type.Object({ categoryId: Uuid, count: Type.Integer() }), { description: 'Hits per product category (they add up to total)' }),
          prices: Type.Array(
            Type.Object({
              currency: Type.Union([Currency, Type.Null()]),
              min: Type.Union([Type.Integer(), Type.Null()], { description: 'Band start, inclusive (minor units); null for unpriced products' }),
              max: Type.Union([Type.Integer(), Type.Null()], { description: 'Band end, exclusive; null when open' }),
              count: Type.Integer(),
            }),
            { description: 'Hits per currency and band of "from" price (they add up to total)' },
          ),
          stock: Type.Object({ inStock: Type.Integer(), outOfStock: Type.Integer() }),
          attributes: Type.Array(Type.Object({ name: Type.String(), value: Type.String(), count: Type.Integer() }), { description: 'The 100 most frequent attribute values among the hits' }),
        }),
        Type.Null(),
      ],
      { description: 'On the first page unless facets=false; null otherwise' },
    ),
  },
  { additionalProperties: false },
);

export const DashboardQuerySchema = Type.Object(
  {
    from: Type.Optional(Type.String({ format: 'date', maxLength: 10, description: 'First UTC day (default: 29 days before to)' })),
    to: Type.Optional(Type.String({ format: 'date', maxLength: 10, description: `Last UTC day (default: today); at most ${DASHBOARD_DAYS_MAX} days in all` })),
    currency: Type.Optional(CurrencyCode),
    topBy: Defaulted(Type.Union([Type.Literal('revenue'), Type.Literal('units')], { default: 'revenue' })),
    topLimit: Defaulted(Type.Integer({ minimum: 1, maximum: 50, default: 10, description: 'Top products per currency' })),
  },
  { additionalProperties: false },
);

const Status = Type.Union(ORDER_STATUS_VALUES.map((s) => Type.Literal(s)));

export const DashboardSchema = Type.Object(
  {
    sellerId: Uuid,
    from: Type.String({ format: 'date' }),
    to: Type.String({ format: 'date' }),
    topBy: Type.Union([Type.Literal('revenue'), Type.Literal('units')]),
    currencies: Type.Array(
      Type.Object(
        {
          currency: Currency,
          paidOrders: Type.Integer({ description: 'Orders paid (ever), cancelled ones included' }),
          revenue: { ...TotalMoneySchema, description: 'Totals of the paid orders' },
          refunded: { ...TotalMoneySchema, description: 'Refunds made, cancellations of paid orders included' },
          netRevenue: { ...TotalMoneySchema, description: 'revenue - refunded' },
          ordersByStatus: Type.Record(Type.String(), Type.Integer(), { description: 'Orders per current status, unpaid ones included' }),
          recentOrders: Type.Array(
            Type.Object({ orderId: Uuid, orderNumber: Type.String(), status: Status, total: MoneySchema, itemCount: Type.Integer(), placedAt: Type.String({ format: 'date-time' }) }),
            { description: 'The 10 most recently placed orders' },
          ),
          days: Type.Array(
            Type.Object({ day: Type.String({ format: 'date' }), orders: Type.Integer(), revenue: TotalMoneySchema, refunded: TotalMoneySchema, netRevenue: TotalMoneySchema }),
            { description: 'Each UTC day of the range with any figure: orders paid, their revenue, refunds made that day' },
          ),
          topProducts: Type.Array(Type.Object({ productId: Uuid, title: Type.String(), unitsSold: Type.Integer(), revenue: TotalMoneySchema })),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);
