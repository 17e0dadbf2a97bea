import {
  CATEGORY_TREE_AGGREGATE_ID,
  CATEGORY_TREE_AGGREGATE_TYPE,
  CategoryCreatedV1,
  CategoryUpdatedV1,
  PriceChangedV2,
  type PriceWindow,
  PriceWithdrawnV2,
  ProductCreatedV1,
  ProductPublishedV1,
  type ProductSnapshot,
  ProductUnlistedV1,
  ProductUpdatedV1,
  type PRODUCT_FIELDS,
} from '../../contracts/products.ts';
import type { Queryable } from '../../platform/db/pool.ts';
import type { Trace } from '../../platform/messaging/envelope.ts';
import type { NewEvent } from '../../platform/messaging/outbox.ts';
import { appendEvents } from '../../platform/messaging/outbox.ts';

/** A product event is about one product: the aggregate id is the product id (category events: see categoryEvent). */
export const AGGREGATE_TYPE = 'product';

export type ProductChange =
  | { kind: 'created' }
  | { kind: 'updated'; changedFields: (typeof PRODUCT_FIELDS)[number][] }
  | { kind: 'published'; at: Date }
  | { kind: 'unlisted'; at: Date }
  | { kind: 'price_changed'; window: PriceWindow; closedPriceId: string | null; at: Date }
  | { kind: 'price_withdrawn'; window: PriceWindow; extendedPriceId: string | null; extendedTo: string | null; at: Date };

export function productEvent(snapshot: ProductSnapshot, change: ProductChange): NewEvent {
  const base = { aggregateId: snapshot.productId, aggregateType: AGGREGATE_TYPE };
  switch (change.kind) {
    case 'created':
      return { ...base, type: ProductCreatedV1.type, data: snapshot satisfies ProductCreatedV1 };
    case 'updated':
      return { ...base, type: ProductUpdatedV1.type, data: { ...snapshot, changedFields: change.changedFields } satisfies ProductUpdatedV1 };
    case 'published':
      return { ...base, type: ProductPublishedV1.type, data: { ...snapshot, publishedAt: change.at.toISOString() } satisfies ProductPublishedV1 };
    case 'unlisted':
      return { ...base, type: ProductUnlistedV1.type, data: { ...snapshot, unlistedAt: change.at.toISOString() } satisfies ProductUnlistedV1 };
    case 'price_changed':
      return {
        ...base,
        type: PriceChangedV2.type,
        data: { ...snapshot, window: change.window, closedPriceId: change.closedPriceId, changedAt: change.at.toISOString() } satisfies PriceChangedV2,
      };
    case 'price_withdrawn':
      return {
        ...base,
        type: PriceWithdrawnV2.type,
        data: {
          ...snapshot,
          window: change.window,
          extendedPriceId: change.extendedPriceId,
          extendedTo: change.extendedTo,
          withdrawnAt: change.at.toISOString(),
        } satisfies PriceWithdrawnV2,
      };
  }
}

/** Category events are about the whole tree (one aggregate, so consumers get its changes in order). */
export function categoryEvent(change: { kind: 'created'; data: CategoryCreatedV1 } | { kind: 'updated'; data: CategoryUpdatedV1 }): NewEvent {
  const base = { aggregateId: CATEGORY_TREE_AGGREGATE_ID, aggregateType: CATEGORY_TREE_AGGREGATE_TYPE };
  return change.kind === 'created' ? { ...base, type: CategoryCreatedV1.type, data: change.data } : { ...base, type: CategoryUpdatedV1.type, data: change.data };
}

export async function emit(tx: Queryable, events: NewEvent[], trace: Trace | null, now: Date): Promise<void> {
  await appendEvents(tx, 'products', events, trace, now);
}
