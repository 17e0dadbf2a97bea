import { isUuid } from '../../platform/ids.ts';
import type { DomainContext, DomainModule } from '../../platform/module.ts';
import type { Trace } from '../../platform/messaging/envelope.ts';
import type { WorkerLoop } from '../../platform/messaging/worker-loop.ts';
import { type AdjustOptions, type Adjustment, type AdjustmentResult, adjustStock } from './adjust-stock.ts';
import { type ConfirmOptions, confirmReservation, releaseReservation } from './close-reservation.ts';
import type { InventoryDeps } from './deps.ts';
import { createExpirySweeper, expireDueReservations } from './expiry-sweeper.ts';
import { catalogSubscription, ordersSubscription } from './handlers.ts';
import { KnownStock } from './known-stock.ts';
import { inventoryMetrics } from './metrics.ts';
import { type ReceiveOptions, type StockReceipt, receiveStock } from './receive-stock.ts';
import { ReservationQueue } from './reservation-queue.ts';
import { type Reservation, type ReserveResult, findReservation, findReservationsByKeys, toReservation } from './reservation-view.ts';
import { answerSoldOut, reserveBatch } from './reserve-batch.ts';
import type { ReserveInput } from './reserve-input.ts';
import { reserve } from './reserve.ts';
import type { InventoryPorts } from './ports.ts';
import { registerInventoryRoutes } from './routes.ts';
import { type PurchaseLimitChange, setPurchaseLimit } from './purchase-limit.ts';
import { SoldOutMemo } from './sold-out-memo.ts';
import { type StockItemView, getAvailability } from './stock-queries.ts';

export type { Reservation, ReserveResult } from './reservation-view.ts';
export type { ReserveInput } from './reserve-input.ts';
export type { InventoryCatalog, InventoryPorts } from './ports.ts';
export type { ReceiveOptions, StockReceipt } from './receive-stock.ts';
export type { StockItemView } from './stock-queries.ts';
export type { ConfirmOptions } from './close-reservation.ts';
export type { AdjustOptions, Adjustment, AdjustmentResult } from './adjust-stock.ts';
export type { PurchaseLimitChange } from './purchase-limit.ts';
export type { ReservationStatus } from './lifecycle.ts';

/** What other domains (checkout), the seed and the benchmarks may ask the inventory domain. */
export interface InventoryApi {
  /**
   * Holds stock for every item or for none, until `ttlSeconds` (RESERVATION_TTL_SECONDS by default).
   * The same idempotency key returns the same reservation (replayed: true) and never makes a second;
   * with other items, owner or reference it is IDEMPOTENCY_KEY_REUSED. Not enough stock is
   * OUT_OF_STOCK (extensions.unavailable lists the variants) and stores nothing; going past a
   * seller's limit of units per buyer is PURCHASE_LIMIT_EXCEEDED and stores nothing either.
   */
  reserve(input: ReserveInput): Promise<ReserveResult>;
  /** The units are sold. Confirming again returns the same; a released or expired one is RESERVATION_NOT_ACTIVE. */
  confirm(reservationId: string, options?: ConfirmOptions): Promise<Reservation>;
  /** The units come back. Releasing again (or after expiry) changes nothing; a confirmed one is RESERVATION_NOT_ACTIVE. */
  release(reservationId: string, reason: string, trace?: Trace | null): Promise<Reservation>;
  getReservation(reservationId: string): Promise<Reservation | undefined>;
  /**
   * The reservation made under an idempotency key for this owner, undefined when there is none (or
   * it is another owner's). Reads only: for a caller that must learn what an earlier reserve whose
   * answer it lost did, without making a reservation when it made none.
   */
  getReservationByKey(idempotencyKey: string, ownerId: string): Promise<Reservation | undefined>;
  /** Current stock per variant (at most 1000); variants without a stock item are left out. */
  getAvailability(variantIds: readonly string[]): Promise<StockItemView[]>;
  /**
   * Bulk receipt of stock, creating missing stock items; set-based in chunks (for 100k+ variants).
   * With `reference` (a UUID), each variant is received once under it: a repeated call is a no-op.
   */
  receiveStock(receipts: readonly StockReceipt[], options?: ReceiveOptions): Promise<{ created: number; received: number }>;
  /** A seller's adjustment (what the seller route does), optionally under the seller's idempotency key. */
  adjustStock(sellerId: string, variantId: string, adjustment: Adjustment, options?: AdjustOptions): Promise<AdjustmentResult>;
  /** A seller's limit of units per buyer on an own variant (what the seller route does); null clears it. */
  setPurchaseLimit(sellerId: string, variantId: string, change: PurchaseLimitChange, trace?: Trace | null): Promise<StockItemView>;
  /** One sweep of at most `batchSizeMax` due reservations (what the background sweeper runs); returns how many expired. */
  expireDue(batchSizeMax?: number): Promise<number>;
}

export interface InventoryOptions {
  sweepIntervalMs?: number;
  /** Single-item requests of one variant taken by one transaction at most. */
  batchSizeMax?: number;
  /** Requests that may wait for one variant in this process. */
  waitingMax?: number;
  /** How long a "sold out" mark is trusted without news from this process; 0 disables it. */
  soldOutMemoMs?: number;
  /** How long a busy variant's next batch waits for the buyers the last one answered (QueueLimits.gatherMs); 0 disables it. */
  gatherMs?: number;
}

/** Sold-out key lookups in flight at once per process (a few of the pool's connections). */
const SOLD_OUT_LOOKUPS_MAX = 3;

const DEFAULTS = { sweepIntervalMs: 1000, batchSizeMax: 256, waitingMax: 20_000, soldOutMemoMs: 1000, gatherMs: 3 };

export function createInventoryModule(ctx: DomainContext, options: InventoryOptions = {}, ports: InventoryPorts = {}): DomainModule & { api: InventoryApi } {
  const settings = { ...DEFAULTS, ...options };
  const deps: InventoryDeps = {
    pool: ctx.pool,
    clock: ctx.clock,
    log: ctx.log,
    reservationTtlSeconds: ctx.config.reservationTtlSeconds,
    soldOut: new SoldOutMemo(settings.soldOutMemoMs),
    knownStock: new KnownStock(),
    metrics: inventoryMetrics(ctx.metrics),
  };
  const queue = new ReservationQueue(
    (variantId, batch) => reserveBatch(deps, variantId, batch),
    { batchSizeMax: settings.batchSizeMax, waitingMax: settings.waitingMax, gatherMs: settings.gatherMs },
    { isSoldOut: (variantId) => deps.soldOut.isSoldOut(variantId), answer: (variantId, batch) => answerSoldOut(deps, variantId, batch), lookupsMax: SOLD_OUT_LOOKUPS_MAX },
  );
  let sweeper: WorkerLoop | undefined;

  const api: InventoryApi = {
    reserve: (input) => reserve(deps, queue, input),
    confirm: (id, confirmOptions) => confirmReservation(deps, id, confirmOptions),
    release: (id, reason, trace) => releaseReservation(deps, id, reason, trace ?? null),
    getReservation: async (id) => {
      if (!isUuid(id)) return undefined;
      const row = await findReservation(deps.pool, id);
      return row ? toReservation(row) : undefined;
    },
    getReservationByKey: async (key, ownerId) => {
      const row = (await findReservationsByKeys(deps.pool, [key])).get(key);
      return row && row.owner_id === ownerId.toLowerCase() ? toReservation(row) : undefined;
    },
    getAvailability: (variantIds) => getAvailability(deps.pool, variantIds),
    receiveStock: (receipts, receiveOptions) => receiveStock(deps, receipts, receiveOptions),
    adjustStock: (sellerId, variantId, adjustment, adjustOptions) => adjustStock(deps, sellerId, variantId, adjustment, adjustOptions),
    setPurchaseLimit: (sellerId, variantId, change, trace) => setPurchaseLimit(deps, sellerId, variantId, change, trace ?? null),
    expireDue: (batchSizeMax) => expireDueReservations(deps, batchSizeMax),
  };

  return {
    name: 'inventory',
    api,
    subscriptions: [catalogSubscription, ordersSubscription(deps)],
    routes(app) {
      if (!ports.catalog) throw new Error('the inventory routes need the products catalog (ports.catalog): buyers may reserve only what is for sale');
      registerInventoryRoutes(app, deps, api.reserve, ports.catalog);
    },
    async start() {
      sweeper ??= createExpirySweeper(deps, settings.sweepIntervalMs);
      sweeper.start();
    },
    async stop() {
      await sweeper?.stop();
      await queue.idle();
    },
  };
}
