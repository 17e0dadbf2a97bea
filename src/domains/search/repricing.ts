import type { PriceWindow } from '../../contracts/products.ts';
import { type Tx, withTransaction } from '../../platform/db/pool.ts';
import { WorkerLoop } from '../../platform/messaging/worker-loop.ts';
import type { SearchDeps } from './deps.ts';
import { type PricedVariant, lastBoundaryAtOrBefore, nextBoundaryAfter, priceRangeAt } from './pricing.ts';

export const REPRICE_BATCH_MAX = 200;

/**
 * Re-evaluates the price range of the products whose next window boundary has passed (a sale that
 * started, a price that ended, with no event then), at that boundary's last instant before now:
 * the price then is the price now, and the row's times come from the windows, not from this clock,
 * so a rebuilt model swept later holds the same rows. Rows being written by the projection are
 * skipped (SKIP LOCKED) and taken on the next pass. Returns how many rows were repriced.
 */
export async function repriceDue(deps: Pick<SearchDeps, 'pool' | 'clock'>, batchSizeMax = REPRICE_BATCH_MAX): Promise<number> {
  const now = deps.clock.now();
  return withTransaction(deps.pool, (tx) => repriceDueIn(tx, now, batchSizeMax));
}

/**
 * Every row whose boundary has passed by `now`, in the caller's transaction: a rebuilt model, priced
 * at its events' times, is brought to now before it is swapped in (no read sees a price that ended).
 */
export async function repriceAllDue(tx: Tx, now: Date): Promise<number> {
  let total = 0;
  for (;;) {
    const n = await repriceDueIn(tx, now, REPRICE_BATCH_MAX);
    total += n;
    if (n < REPRICE_BATCH_MAX) return total;
  }
}

async function repriceDueIn(tx: Tx, now: Date, batchSizeMax: number): Promise<number> {
  const { rows } = await tx.query<{ product_id: string; variants_json: PricedVariant[]; price_windows_json: PriceWindow[]; reprice_at: Date }>(
    `SELECT product_id, variants_json, price_windows_json, reprice_at FROM product_search_view
      WHERE reprice_at <= $1 ORDER BY reprice_at LIMIT $2 FOR UPDATE SKIP LOCKED`,
    [now, batchSizeMax],
  );
  if (rows.length === 0) return 0;
  const repriced = rows.map((r) => {
    const at = lastBoundaryAtOrBefore(r.price_windows_json, now) ?? r.reprice_at;
    const range = priceRangeAt(r.variants_json, r.price_windows_json, at);
    return { id: r.product_id, at, range, next: nextBoundaryAfter(r.price_windows_json, now) };
  });
  await tx.query(
    `UPDATE product_search_view p
        -- Never back before the price event or snapshot the row was priced at (a snapshot replayed
        -- late asks for a pass at its own time): the range is the same since the last boundary.
        SET min_price = u.min, max_price = u.max, currency = u.currency, priced_at = greatest(p.priced_at, u.at), reprice_at = u.next,
            updated_at = greatest(p.updated_at, u.at)
       FROM unnest($1::uuid[], $2::int8[], $3::int8[], $4::text[], $5::timestamptz[], $6::timestamptz[]) AS u(id, min, max, currency, at, next)
      WHERE p.product_id = u.id`,
    [
      repriced.map((r) => r.id),
      repriced.map((r) => r.range?.min ?? null),
      repriced.map((r) => r.range?.max ?? null),
      repriced.map((r) => r.range?.currency ?? null),
      repriced.map((r) => r.at),
      repriced.map((r) => r.next),
    ],
  );
  return rows.length;
}

/** The sweep as a loop: every `intervalMs`, and again at once while a pass found a full batch. */
export function createRepricingSweep(deps: SearchDeps, intervalMs: number): WorkerLoop {
  return new WorkerLoop(
    'search:repricing',
    async () => (await repriceDue(deps)) === REPRICE_BATCH_MAX,
    intervalMs,
    (error) => deps.log.error({ err: error }, 'search repricing sweep failed'),
  );
}
