import { Counter, Histogram } from 'prom-client';
import type { Metrics } from '../../platform/metrics.ts';

/** Flash-sale observability: how well reservations batch, and how many answers came from memory. */
export interface InventoryMetrics {
  batchSize: Histogram;
  soldOutAnswers: Counter;
}

export function inventoryMetrics(metrics: Metrics): InventoryMetrics {
  const registers = [metrics.registry];
  const existing = metrics.registry.getSingleMetric('bazaar_inventory_reservation_batch_size');
  if (existing) {
    return {
      batchSize: existing as Histogram,
      soldOutAnswers: metrics.registry.getSingleMetric('bazaar_inventory_sold_out_answers_total') as Counter,
    };
  }
  return {
    batchSize: new Histogram({
      name: 'bazaar_inventory_reservation_batch_size',
      help: 'Single-item reserve requests of one variant handled by one transaction',
      buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512],
      registers,
    }),
    soldOutAnswers: new Counter({
      name: 'bazaar_inventory_sold_out_answers_total',
      help: 'Reserve requests answered "out of stock" from the in-memory sold-out mark, without a lock or a write',
      registers,
    }),
  };
}
