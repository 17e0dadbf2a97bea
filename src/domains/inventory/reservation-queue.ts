import { performance } from 'node:perf_hooks';
import { AppError } from '../../platform/http/errors.ts';
import type { BatchOutcome, BatchRequest } from './reserve-batch.ts';
import type { ReserveRequest } from './reserve-input.ts';
import type { ReserveResult } from './reservation-view.ts';

interface Waiting extends BatchRequest {
  resolve(value: ReserveResult): void;
  reject(error: unknown): void;
}

export interface QueueLimits {
  /** Requests one transaction takes at most. */
  batchSizeMax: number;
  /** Requests that may wait for one variant; beyond it the caller is told to come back. */
  waitingMax: number;
  /**
   * How long the next batch of a busy variant (its last batch took several requests and ended less
   * than busyWindowMs ago) waits for more requests before it starts, as PostgreSQL's commit_delay
   * does for commits: it starts sooner once as many wait as that batch took plus those that waited
   * already (the buyers it answered, back again). 0 or absent: a batch starts at once.
   */
  gatherMs?: number;
  /** A variant whose last batch ended less than this ago is busy (default BUSY_WINDOW_MS). */
  busyWindowMs?: number;
}

/** A variant whose last batch ended this recently is busy: its next batch may gather first. */
export const BUSY_WINDOW_MS = 50;

export type RunBatch = (variantId: string, batch: readonly BatchRequest[]) => Promise<BatchOutcome[]>;

/**
 * Requests for a variant this process knows to be sold out need no turn in the variant's queue:
 * nothing is written for them, only their keys are looked up (a retry of a request that did get a
 * unit gets it back). They skip the queue, and those arriving in the same turn of the event loop
 * share one lookup, several lookups running at once. Those still waiting when the variant is no
 * longer sold out (stock came back) go to its queue instead.
 */
export interface SoldOutLane {
  isSoldOut(variantId: string): boolean;
  answer: RunBatch;
  /** Lookups in flight at most; arrivals meanwhile wait for the next one. */
  lookupsMax: number;
}

/**
 * Per-variant queues of single-item reserve requests. At most one transaction per variant is in
 * flight in this process; whatever arrives meanwhile waits and goes into the next transaction as
 * one batch. Under load a hot item's cost is one lock and one commit per batch instead of per
 * buyer (group commit at the application level); when idle a request runs at once, alone, and
 * while busy a batch waits a moment for the buyers the last one answered (`gatherMs`).
 */
export class ReservationQueue {
  readonly #waiting = new Map<string, Waiting[]>();
  readonly #draining = new Map<string, Promise<void>>();
  /** Variants whose next batch is gathering requests: how many it waits for, and its start. */
  readonly #gathering = new Map<string, { enough: number; start: () => void }>();
  /** When each variant's last batch ended and how many requests it had (busy variants only). */
  readonly #lastBatch = new Map<string, { endedAt: number; size: number }>();
  readonly #soldOut = new Map<string, Waiting[]>();
  readonly #lookups = new Set<Promise<void>>();
  #lookupScheduled = false;

  constructor(
    readonly runBatch: RunBatch,
    readonly limits: QueueLimits,
    readonly soldOutLane?: SoldOutLane,
  ) {}

  submit(request: ReserveRequest): Promise<ReserveResult> {
    const variantId = request.items[0]?.variantId;
    if (!variantId || request.items.length !== 1) throw new Error('the reservation queue takes single-item requests');
    if (this.soldOutLane?.isSoldOut(variantId)) {
      const promise = this.#enqueue(this.#soldOut, variantId, request);
      this.#scheduleLookups();
      return promise;
    }
    const promise = this.#enqueue(this.#waiting, variantId, request);
    const gathering = this.#gathering.get(variantId);
    if (gathering && (this.#waiting.get(variantId)?.length ?? 0) >= gathering.enough) gathering.start();
    // The queue is not empty, so #drain reaches an await before it could finish: the entry is set
    // before the drain can remove it.
    if (!this.#draining.has(variantId)) this.#draining.set(variantId, this.#drain(variantId));
    return promise;
  }

  /** Resolves when every request submitted so far has been answered (used on stop). */
  async idle(): Promise<void> {
    while (this.#draining.size > 0 || this.#lookups.size > 0 || this.#soldOut.size > 0) {
      await Promise.all([...this.#draining.values(), ...this.#lookups]);
      // Sold-out arrivals still waiting for their lookup to be scheduled.
      if (this.#soldOut.size > 0) await new Promise((resolve) => setImmediate(resolve));
    }
  }

  /** Adds a request to a variant's list in `lists`, or tells the buyer to come back when it is full. */
  #enqueue(lists: Map<string, Waiting[]>, variantId: string, request: ReserveRequest): Promise<ReserveResult> {
    const list = lists.get(variantId) ?? [];
    if (list.length >= this.limits.waitingMax) {
      throw new AppError('RATE_LIMITED', 'too many buyers are waiting for this item; try again in a moment', { retryAfterSeconds: 1 });
    }
    const promise = new Promise<ReserveResult>((resolve, reject) => {
      list.push({ request, trace: request.trace, resolve, reject });
    });
    lists.set(variantId, list);
    return promise;
  }

  #scheduleLookups(): void {
    const lane = this.soldOutLane;
    if (!lane || this.#lookupScheduled || this.#soldOut.size === 0 || this.#lookups.size >= lane.lookupsMax) return;
    this.#lookupScheduled = true;
    setImmediate(() => {
      this.#lookupScheduled = false;
      for (const [variantId, waiting] of this.#soldOut) {
        // Stock came back while they waited (the mark is gone): they take the variant's queue, whose
        // batches hold one request per key and run one at a time, instead of being told "sold out".
        if (!lane.isSoldOut(variantId)) {
          this.#soldOut.delete(variantId);
          this.#requeue(variantId, waiting);
          continue;
        }
        if (this.#lookups.size >= lane.lookupsMax) break;
        const batch = waiting.splice(0, this.limits.batchSizeMax);
        if (waiting.length === 0) this.#soldOut.delete(variantId);
        const lookup = settleBatch(batch, () => lane.answer(variantId, batch)).finally(() => {
          this.#lookups.delete(lookup);
          this.#scheduleLookups();
        });
        this.#lookups.add(lookup);
      }
    });
  }

  /** Puts requests admitted to the sold-out lane into the variant's queue, and starts it. */
  #requeue(variantId: string, requests: Waiting[]): void {
    const queue = this.#waiting.get(variantId) ?? [];
    queue.push(...requests);
    this.#waiting.set(variantId, queue);
    if (!this.#draining.has(variantId)) this.#draining.set(variantId, this.#drain(variantId));
  }

  async #drain(variantId: string): Promise<void> {
    const last = this.#lastBatch.get(variantId);
    let lastSize = last && performance.now() - last.endedAt < this.#busyWindowMs ? last.size : 0;
    for (;;) {
      const queue = this.#waiting.get(variantId);
      if (!queue || queue.length === 0) {
        // Both go in the same synchronous step, so a request submitted after this starts a new drain.
        this.#waiting.delete(variantId);
        this.#draining.delete(variantId);
        return;
      }
      // In a flash sale the buyers a batch answered come back together, a few at a time over a few
      // milliseconds: the first to arrive would run alone while the others wait for it, then run as
      // a second batch, two commits where one does (and so on, batch after batch). A variant that
      // had concurrent buyers waits a moment for those the last batch answered; not once it is sold
      // out (they go to the sold-out lane, and this batch is answered "sold out" anyway).
      if (lastSize > 1 && !this.soldOutLane?.isSoldOut(variantId)) {
        await this.#gather(variantId, Math.min(this.limits.batchSizeMax, lastSize + queue.length));
      }
      const batch = takeBatch(queue, this.limits.batchSizeMax);
      await settleBatch(batch, () => this.runBatch(variantId, batch));
      this.#noteBatch(variantId, batch.length);
      lastSize = batch.length;
    }
  }

  get #busyWindowMs(): number {
    return this.limits.busyWindowMs ?? BUSY_WINDOW_MS;
  }

  /** Waits until `enough` requests for the variant wait, or gatherMs passed (at once when that is 0 or `enough` is 1). */
  async #gather(variantId: string, enough: number): Promise<void> {
    const gatherMs = this.limits.gatherMs ?? 0;
    if (gatherMs <= 0 || enough <= 1 || (this.#waiting.get(variantId)?.length ?? 0) >= enough) return;
    await new Promise<void>((resolve) => {
      let started = false;
      const start = () => {
        if (started) return;
        started = true;
        clearTimeout(timer);
        this.#gathering.delete(variantId);
        resolve();
      };
      // A timer fires before the event loop reads the sockets that became readable while it was
      // busy: the batch starts after that read (setImmediate runs after it), with what it brought.
      const timer = setTimeout(() => setImmediate(start), gatherMs);
      this.#gathering.set(variantId, { enough, start });
    });
  }

  /** Remembers a batch that just ended, for the gathering of the next; forgets variants no longer busy. */
  #noteBatch(variantId: string, size: number): void {
    const now = performance.now();
    if (this.#lastBatch.size >= LAST_BATCHES_MAX) {
      for (const [id, last] of this.#lastBatch) if (now - last.endedAt >= this.#busyWindowMs) this.#lastBatch.delete(id);
    }
    this.#lastBatch.delete(variantId);
    if (this.#lastBatch.size < LAST_BATCHES_MAX) this.#lastBatch.set(variantId, { endedAt: now, size });
  }
}

/** Variants remembered as busy at most (pruned of those no longer busy when full). */
const LAST_BATCHES_MAX = 1000;

/** Runs a batch and gives each waiting request its outcome (all the error, if the batch failed). */
async function settleBatch(batch: readonly Waiting[], run: () => Promise<BatchOutcome[]>): Promise<void> {
  let outcomes: BatchOutcome[];
  try {
    outcomes = await run();
  } catch (error) {
    for (const w of batch) w.reject(error);
    return;
  }
  batch.forEach((w, i) => {
    const outcome = outcomes[i];
    if (!outcome) w.reject(new Error('the reservation batch gave no answer for a request'));
    else if (outcome.ok) w.resolve(outcome.value);
    else w.reject(outcome.error);
  });
}

/**
 * Takes up to `max` requests in arrival order with distinct idempotency keys; a repeated key stays
 * queued for the next batch, where it sees what the first one did (replay, or a refusal).
 */
export function takeBatch<T extends { request: { idempotencyKey: string } }>(queue: T[], max: number): T[] {
  const keys = new Set<string>();
  const batch: T[] = [];
  const kept: T[] = [];
  let looked = 0;
  for (; looked < queue.length && batch.length < max; looked++) {
    const w = queue[looked] as T;
    if (keys.has(w.request.idempotencyKey)) {
      kept.push(w);
    } else {
      keys.add(w.request.idempotencyKey);
      batch.push(w);
    }
  }
  // The skipped duplicates go back to the front, in order, before everything not looked at.
  queue.splice(0, looked, ...kept);
  return batch;
}
