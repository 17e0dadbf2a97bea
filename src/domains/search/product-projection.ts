import { IN_STOCK_TURNS, STOCK_LEVELS_OF } from '../../contracts/inventory.ts';
import {
  CATEGORY_DEPTH_MAX,
  CategoryUpdatedV1,
  PriceChangedV1,
  type PriceWindow,
  PriceWithdrawnV1,
  PRODUCT_EVENT_TYPES,
  ProductPublishedV1,
  type ProductSnapshot,
} from '../../contracts/products.ts';
import type { Tx } from '../../platform/db/pool.ts';
import type { EventEnvelope } from '../../platform/messaging/envelope.ts';
import type { HandlerContext, Subscription } from '../../platform/messaging/subscription.ts';
import { type Clock, systemClock } from '../../platform/clock.ts';
import { readModelHooks } from './checkpoints.ts';
import { repriceAllDue } from './repricing.ts';
import { type PricedVariant, attributeValues, nextBoundaryAfter, priceRangeAt, withPriceChange, withPriceWithdrawal } from './pricing.ts';

export const PRODUCT_SEARCH_MODEL = 'product_search';
export const PRODUCT_SEARCH_CONSUMER = 'search.product_search';

/** Events that carry the whole product: every one products emits now (v1 price events, the window alone, are still read from the log). */
const SNAPSHOT_EVENTS = new Set<string>(PRODUCT_EVENT_TYPES);

function primaryImage(images: ProductSnapshot['images']): string | null {
  const sorted = [...images].sort((a, b) => Number(b.type === 'primary') - Number(a.type === 'primary') || a.position - b.position);
  return sorted[0]?.url ?? null;
}

/**
 * Upserts a product snapshot unless the row holds a newer version. Prices are evaluated at the
 * event's time, so a rebuild computes exactly what live delivery did; `in_stock` comes from the
 * stock levels held for its variants.
 */
async function applySnapshot(tx: Tx, event: EventEnvelope): Promise<void> {
  const p = event.data as ProductSnapshot & { publishedAt?: string };
  const variants: PricedVariant[] = p.variants.map((v) => ({ variantId: v.variantId, position: v.position, listPrice: v.listPrice }));
  // The price events kept that are newer than this snapshot (it came late, or before them all)
  // are folded onto its windows in version order: the row is priced as it was after the last.
  const kept = await keptPriceEvents(tx, p.productId, 0);
  const later = kept.filter((e) => versionOf(e) > p.version);
  const last = later.at(-1);
  const windows = foldPriceEvents(p.prices, later);
  const at = new Date(last?.time ?? event.time);
  const range = priceRangeAt(variants, windows, at);
  const publishedAt = event.type === ProductPublishedV1.type ? (p.publishedAt ?? null) : null;
  // A published product whose publication event was missed (parked, say) still sorts by something.
  const publishedFallback = p.status === 'published' ? p.updatedAt : null;
  const variantIds = p.variants.map((v) => v.variantId);
  const { rows } = await tx.query(
    `INSERT INTO product_search_view AS p (product_id, seller_id, title, description, category_id, category_ids, variant_attributes_json,
        attributes_json, status, min_price, max_price, currency, in_stock, image_url, published_at, product_version, updated_at,
        variant_ids, variants_json, price_windows_json, priced_at, reprice_at, published_version, price_version, snapshot_windows_json)
     VALUES ($1, $2, $3, $4, $5, $6::uuid[], $7, $8, $9, $10, $11, $12,
        EXISTS (SELECT 1 FROM product_stock_levels s WHERE s.variant_id = ANY($17::uuid[]) AND s.available > 0),
        $13, coalesce($14::timestamptz, $15::timestamptz), $16, $20, $17::uuid[], $18, $19, $20, $21,
        CASE WHEN $14::timestamptz IS NOT NULL THEN $16::integer WHEN $15::timestamptz IS NOT NULL THEN 0 END, $22, $23)
     ON CONFLICT (product_id) DO UPDATE SET
        seller_id = EXCLUDED.seller_id, title = EXCLUDED.title, description = EXCLUDED.description, category_id = EXCLUDED.category_id,
        category_ids = EXCLUDED.category_ids, variant_attributes_json = EXCLUDED.variant_attributes_json, attributes_json = EXCLUDED.attributes_json,
        status = EXCLUDED.status, in_stock = EXCLUDED.in_stock, image_url = EXCLUDED.image_url,
        published_at = coalesce($14::timestamptz, p.published_at, $15::timestamptz),
        -- The publication's version; 0 when the date is the fallback's (see the late UPDATE below).
        published_version = CASE WHEN $14::timestamptz IS NOT NULL THEN $16::integer
                                 WHEN p.published_at IS NULL AND $15::timestamptz IS NOT NULL THEN 0
                                 ELSE p.published_version END,
        product_version = EXCLUDED.product_version,
        -- The snapshot's windows with the newer price events folded on, dated by the last of them
        -- (any newer snapshot dates the row, earlier or not: a sweep may have dated it later).
        -- A row from before search migration 0009 whose newer price events were not kept (UNFOLDABLE)
        -- keeps its windows and their time, as it did then (the sweep works the range out again).
        updated_at = CASE WHEN ${UNFOLDABLE} THEN p.updated_at ELSE EXCLUDED.updated_at END,
        variant_ids = EXCLUDED.variant_ids,
        variants_json = EXCLUDED.variants_json,
        price_windows_json = CASE WHEN ${UNFOLDABLE} THEN p.price_windows_json ELSE EXCLUDED.price_windows_json END,
        min_price = CASE WHEN ${UNFOLDABLE} THEN p.min_price ELSE EXCLUDED.min_price END,
        max_price = CASE WHEN ${UNFOLDABLE} THEN p.max_price ELSE EXCLUDED.max_price END,
        currency = CASE WHEN ${UNFOLDABLE} THEN p.currency ELSE EXCLUDED.currency END,
        priced_at = CASE WHEN ${UNFOLDABLE} THEN p.priced_at ELSE EXCLUDED.priced_at END,
        reprice_at = CASE WHEN ${UNFOLDABLE} THEN $20 ELSE EXCLUDED.reprice_at END,
        -- The last price event folded on (0: none newer than the snapshot), as in order.
        price_version = CASE WHEN ${UNFOLDABLE} THEN p.price_version ELSE EXCLUDED.price_version END,
        -- Not on a row whose windows hold price events that were not kept: a fold from these
        -- windows would drop them (found by a review).
        snapshot_windows_json = CASE WHEN ${UNFOLDABLE} THEN NULL ELSE EXCLUDED.snapshot_windows_json END,
        unkept_price_version = CASE WHEN ${UNFOLDABLE} THEN p.unkept_price_version END
      WHERE p.product_version < EXCLUDED.product_version
     RETURNING 1`,
    [
      p.productId,
      p.sellerId,
      p.title,
      p.description,
      p.categoryId,
      p.categoryPath.map((c) => c.id),
      JSON.stringify(p.variants.map((v) => v.attributes)),
      JSON.stringify(attributeValues(p.attributes, p.variants.map((v) => v.attributes))),
      p.status,
      range?.min ?? null,
      range?.max ?? null,
      range?.currency ?? null,
      primaryImage(p.images),
      publishedAt,
      publishedFallback,
      p.version,
      variantIds,
      JSON.stringify(variants),
      JSON.stringify(windows),
      at,
      nextBoundaryAfter(windows, at),
      last ? versionOf(last) : 0,
      JSON.stringify(p.prices),
    ],
  );
  // A publication replayed late (parked, then a newer snapshot applied) still dates the product's
  // publication, as it does in a rebuild, which applies the events in order (found by a review).
  if (rows.length === 0 && publishedAt !== null) {
    await tx.query(
      // A row with a date and no version was dated before search migration 0008: left as it was.
      `UPDATE product_search_view SET published_at = $2, published_version = $3
        WHERE product_id = $1 AND (published_version < $3 OR (published_version IS NULL AND published_at IS NULL))`,
      [p.productId, publishedAt, p.version],
    );
  }
  // The price events this snapshot covers are in its windows: no longer kept.
  if (rows.length > 0 && later.length < kept.length) {
    await tx.query('DELETE FROM search_early_price_events WHERE product_id = $1 AND product_version <= $2', [p.productId, p.version]);
  }
}

/**
 * A row from before search migration 0009 with price events applied that were not kept (the newest
 * of them: unkept_price_version once noted, else price_version), newer than the snapshot applied to
 * it: its windows cannot be folded again from the snapshot's (see the migration), so they are kept
 * as they are, as before, until a snapshot covers those events.
 */
const UNFOLDABLE = '(p.snapshot_windows_json IS NULL AND coalesce(p.unkept_price_version, p.price_version) > EXCLUDED.product_version)';

type PriceEvent = EventEnvelope<PriceChangedV1 | PriceWithdrawnV1>;

const versionOf = (event: EventEnvelope): number => (event.data as { version: number }).version;

/** The windows after one price event: a window added (closing the one it follows) or withdrawn. */
function windowsAfter(windows: readonly PriceWindow[], event: EventEnvelope): PriceWindow[] {
  if (event.type === PriceChangedV1.type) {
    const c = event.data as PriceChangedV1;
    return withPriceChange(windows, {
      priceId: c.priceId,
      variantId: c.variantId,
      currency: c.currency,
      basePrice: c.basePrice,
      discount: c.discount,
      effectiveFrom: c.effectiveFrom,
      effectiveTo: c.effectiveTo,
      closedPriceId: c.closedPriceId,
    });
  }
  return withPriceWithdrawal(windows, event.data as PriceWithdrawnV1);
}

/** Price events folded onto windows in the order given (version order). */
export function foldPriceEvents(windows: readonly PriceWindow[], events: readonly EventEnvelope[]): PriceWindow[] {
  return events.reduce<PriceWindow[]>((folded, event) => windowsAfter(folded, event), [...windows]);
}

/** The product's kept price events newer than `version`, in version order. */
async function keptPriceEvents(tx: Tx, productId: string, version: number): Promise<PriceEvent[]> {
  const { rows } = await tx.query<{ envelope: PriceEvent }>(
    'SELECT envelope FROM search_early_price_events WHERE product_id = $1 AND product_version > $2 ORDER BY product_version',
    [productId, version],
  );
  return rows.map((r) => r.envelope);
}

/**
 * A price event is a change of the windows, not a snapshot of them: it is kept while no snapshot
 * covers it, and the row's windows are the snapshot's with the kept events folded on in version
 * order. One newer than every event applied is folded onto the row's windows as they are; one that
 * comes late (a dead letter replayed after newer events were applied) makes the fold start again
 * from the snapshot's windows, so it takes its place among them (found by a review: it was skipped
 * for good, and a sale never showed, or a withdrawn window stayed). One that comes before the
 * product's first snapshot (only when that snapshot was parked: products announce it first) waits
 * for it.
 */
async function applyPriceEvent(tx: Tx, event: EventEnvelope): Promise<void> {
  const { productId, version } = event.data as PriceChangedV1 | PriceWithdrawnV1;
  const { rows } = await tx.query<{ variants_json: PricedVariant[]; price_windows_json: PriceWindow[]; snapshot_windows_json: PriceWindow[] | null; product_version: number; price_version: number }>(
    'SELECT variants_json, price_windows_json, snapshot_windows_json, product_version, price_version FROM product_search_view WHERE product_id = $1 FOR UPDATE',
    [productId],
  );
  const row = rows[0];
  // The snapshot the row holds covers it.
  if (row && row.product_version >= version) return;
  const kept = await tx.query(
    // Dated by the event, not this clock: a rebuild keeps the same rows.
    `INSERT INTO search_early_price_events (product_id, product_version, envelope, received_at) VALUES ($1, $2, $3, $4)
     ON CONFLICT (product_id, product_version) DO NOTHING`,
    [productId, version, JSON.stringify(event), event.time],
  );
  // No row yet: the snapshot folds it when it comes. Kept already: folded already.
  if (!row || kept.rowCount === 0) return;
  let windows: PriceWindow[];
  let last: EventEnvelope = event;
  if (version > row.price_version) {
    windows = windowsAfter(row.price_windows_json, event);
  } else {
    // Came late: the fold starts again from the snapshot's windows (none kept on a row from before
    // search migration 0009 that had price events applied since its snapshot: skipped, as before).
    if (row.snapshot_windows_json === null) return;
    const events = await keptPriceEvents(tx, productId, row.product_version);
    windows = foldPriceEvents(row.snapshot_windows_json, events);
    last = events.at(-1) ?? event;
  }
  const at = new Date(last.time);
  const range = priceRangeAt(row.variants_json, windows, at);
  await tx.query(
    `UPDATE product_search_view SET price_windows_json = $2, min_price = $3, max_price = $4, currency = $5, priced_at = $6,
            price_version = greatest(price_version, $7), updated_at = $6, reprice_at = $8,
            -- The snapshot's windows, on a row from before search migration 0009 that had no price event since it.
            snapshot_windows_json = coalesce(snapshot_windows_json, CASE WHEN price_version <= product_version THEN price_windows_json END),
            -- On one that had: the newest of those, which were not kept (found by a review: a later
            -- snapshot covering them all still kept the row's windows, without those it brought).
            unkept_price_version = CASE WHEN snapshot_windows_json IS NULL AND price_version > product_version
                                        THEN coalesce(unkept_price_version, price_version) END
      WHERE product_id = $1`,
    [productId, JSON.stringify(windows), range?.min ?? null, range?.max ?? null, range?.currency ?? null, at, version, nextBoundaryAfter(windows, at)],
  );
}

interface LevelRow {
  stockItemId: string;
  variantId: string;
  available: number;
  version: number;
  at: string;
}

/** Keeps the newest level per stock item (one statement may not touch a row twice). */
export function newestLevels(levels: readonly LevelRow[]): LevelRow[] {
  const byItem = new Map<string, LevelRow>();
  for (const l of levels) {
    const seen = byItem.get(l.stockItemId);
    if (!seen || seen.version < l.version) byItem.set(l.stockItemId, l);
  }
  return [...byItem.values()];
}

/** Stock levels (newer versions only), then `in_stock` of the products with those variants. */
async function applyLevels(tx: Tx, levels: readonly LevelRow[]): Promise<void> {
  if (levels.length === 0) return;
  await tx.query(
    `INSERT INTO product_stock_levels AS s (stock_item_id, variant_id, available, stock_version, updated_at)
     SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::int[], $4::int8[], $5::timestamptz[])
     ON CONFLICT (stock_item_id) DO UPDATE
       SET variant_id = EXCLUDED.variant_id, available = EXCLUDED.available, stock_version = EXCLUDED.stock_version, updated_at = EXCLUDED.updated_at
     WHERE s.stock_version < EXCLUDED.stock_version`,
    [levels.map((l) => l.stockItemId), levels.map((l) => l.variantId), levels.map((l) => l.available), levels.map((l) => l.version), levels.map((l) => l.at)],
  );
  await tx.query(
    `UPDATE product_search_view p SET in_stock = x.in_stock
       FROM (SELECT q.product_id, EXISTS (SELECT 1 FROM product_stock_levels s WHERE s.variant_id = ANY(q.variant_ids) AND s.available > 0) AS in_stock
               FROM product_search_view q WHERE q.variant_ids && $1::uuid[]) x
      WHERE p.product_id = x.product_id AND p.in_stock IS DISTINCT FROM x.in_stock`,
    [[...new Set(levels.map((l) => l.variantId))]],
  );
}

/**
 * How much older than the newest move naming a category a move may be and still set its parent.
 * Moves come in the order they committed in, except a dead letter replayed late; their times come
 * from the clocks of the servers that made them, which may disagree by a little (found by a review:
 * a move stamped by a clock 5 s behind, committed last, was taken for an older one).
 */
const CATEGORY_MOVE_SKEW_MINUTES = 5;

/**
 * A category moved (a new parent): every product filed under it or under a category below it gets
 * the path the categories' parents now make. The parents are facts of the move events, each kept
 * as of the newest event that names it (search_category_parents): a move more than
 * CATEGORY_MOVE_SKEW_MINUTES older than the newest naming a category (a dead letter replayed late)
 * changes no parent that one set, and the paths it makes are the newer ones (found by a review: the
 * old ancestors came back). Within that window the move applied last wins, as in order. A category no
 * move has named keeps the parent the product's path gives it. A rename, re-slug or reorder changes
 * no id, so nothing here.
 */
async function applyCategoryMove(tx: Tx, event: EventEnvelope): Promise<void> {
  const c = event.data as CategoryUpdatedV1;
  if (!c.changedFields.includes('parentId')) return;
  const ids = c.path.map((p) => p.id);
  await tx.query(
    `INSERT INTO search_category_parents AS c (category_id, parent_id, as_of)
     SELECT f.category_id, f.parent_id, $3 FROM unnest($1::uuid[], $2::uuid[]) AS f(category_id, parent_id)
     ON CONFLICT (category_id) DO UPDATE SET parent_id = EXCLUDED.parent_id, as_of = greatest(c.as_of, EXCLUDED.as_of)
      WHERE EXCLUDED.as_of > c.as_of - interval '${CATEGORY_MOVE_SKEW_MINUTES} minutes'`,
    [ids, ids.map((_, i) => ids[i - 1] ?? null), c.updatedAt],
  );
  const { rows: paths } = await tx.query<{ category_ids: string[] }>(
    'SELECT DISTINCT category_ids FROM product_search_view WHERE category_ids @> ARRAY[$1::uuid]',
    [c.categoryId],
  );
  if (paths.length === 0) return;
  const { rows: facts } = await tx.query<{ category_id: string; parent_id: string | null }>('SELECT category_id, parent_id FROM search_category_parents');
  const parents = new Map(facts.map((f) => [f.category_id, f.parent_id]));
  const moves = paths.map(({ category_ids: old }) => ({ old, path: pathFrom(old, parents) })).filter((m) => m.path.join() !== m.old.join());
  if (moves.length === 0) return;
  await tx.query(
    // The containment lets the GIN index find the rows (an equality join alone scanned the table).
    `UPDATE product_search_view p SET category_ids = m.path
       FROM jsonb_to_recordset($1::jsonb) AS m(old uuid[], path uuid[])
      WHERE p.category_ids @> ARRAY[$2::uuid] AND p.category_ids = m.old`,
    [JSON.stringify(moves), c.categoryId],
  );
}

/**
 * The path (root first) to the last category of `old`, each parent as `parents` has it, else as
 * `old` does; a loop (facts of different times) or more than CATEGORY_DEPTH_MAX levels ends it.
 */
export function pathFrom(old: readonly string[], parents: ReadonlyMap<string, string | null>): string[] {
  const leaf = old.at(-1);
  if (leaf === undefined) return [];
  const path = [leaf];
  for (let at = leaf; path.length < CATEGORY_DEPTH_MAX; ) {
    const i = old.indexOf(at);
    const parent = parents.has(at) ? parents.get(at) : i > 0 ? old[i - 1] : null;
    if (!parent || path.includes(parent)) break;
    path.unshift(parent);
    at = parent;
  }
  return path;
}

/** Applies events in order; the stock levels of the whole batch are folded into one write at the end (the same outcome: levels are versioned). */
async function apply(ctx: HandlerContext, events: readonly EventEnvelope[]): Promise<void> {
  const levels: LevelRow[] = [];
  for (const event of events) {
    if (SNAPSHOT_EVENTS.has(event.type)) await applySnapshot(ctx.tx, event);
    else if (event.type === PriceChangedV1.type || event.type === PriceWithdrawnV1.type) await applyPriceEvent(ctx.tx, event);
    else if (event.type === CategoryUpdatedV1.type) await applyCategoryMove(ctx.tx, event);
    else {
      const levelsOf = STOCK_LEVELS_OF[event.type];
      if (!levelsOf) throw new Error(`${PRODUCT_SEARCH_CONSUMER} cannot handle ${event.type}`);
      for (const l of levelsOf(event.data as never)) levels.push({ stockItemId: l.stockItemId, variantId: l.variantId, available: l.available, version: l.version, at: event.time });
    }
  }
  await applyLevels(ctx.tx, newestLevels(levels));
}

/**
 * search.product_search: product_search_view from the products' snapshots, price changes and
 * category moves, and whether each product is in stock from inventory's stock levels. Every write is ordered by the
 * versions the events carry (products.version, stock_items.version), so an older event never
 * overwrites a newer state, whatever the order events of different sources arrive in.
 */
export function productSearchSubscription(clock: Clock = systemClock): Subscription {
  return {
    consumer: PRODUCT_SEARCH_CONSUMER,
    domain: 'search',
    // Whether a product is in stock, not how many units: the stock events that can turn it (a flash
    // sale's reservations are most of inventory's events, and none of them matters here but the last).
    events: [...SNAPSHOT_EVENTS, PriceChangedV1.type, PriceWithdrawnV1.type, CategoryUpdatedV1.type, ...IN_STOCK_TURNS],
    handle: (ctx, event) => apply(ctx, [event]),
    handleBatch: apply,
    readModel: readModelHooks(
      PRODUCT_SEARCH_MODEL,
      'Published products for full-text search, filters and facets (product_search_view, product_stock_levels), from products and inventory events.',
      ['product_search_view', 'product_stock_levels', 'search_early_price_events', 'search_category_parents'],
      // Rows are priced at their events' times: a price that ended since, with no event, is
      // brought to now before any search reads the rebuilt model (not by the next sweep).
      (tx) => repriceAllDue(tx, clock.now()),
    ),
  };
}
