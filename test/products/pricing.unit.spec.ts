import { describe, expect, it } from 'vitest';
import { type PriceWindowRow, currentWindows, nextPriceChange, planWindow, priceAt } from '../../src/domains/products/pricing.ts';

const V = '0190a0a0-0000-7000-8000-000000000001';
const t = (iso: string) => new Date(iso);

function w(id: string, from: string, to: string | null, basePrice = 1000, discount = 0, currency = 'USD'): PriceWindowRow {
  return { id, variantId: V, currency, basePrice, discount, effectiveFrom: t(from), effectiveTo: to === null ? null : t(to) };
}

describe('the price at an instant', () => {
  const windows = [w('a', '2026-01-01T00:00:00Z', '2026-02-01T00:00:00Z', 1000), w('b', '2026-02-01T00:00:00Z', null, 900)];

  it('includes the start of a window', () => {
    expect(priceAt(windows, V, 'USD', t('2026-01-01T00:00:00Z'))?.id).toBe('a');
  });

  it('excludes the end of a window, where the next one starts', () => {
    expect(priceAt(windows, V, 'USD', t('2026-01-31T23:59:59.999Z'))?.id).toBe('a');
    expect(priceAt(windows, V, 'USD', t('2026-02-01T00:00:00Z'))?.id).toBe('b');
  });

  it('holds an open-ended window forever after its start', () => {
    expect(priceAt(windows, V, 'USD', t('2099-01-01T00:00:00Z'))?.id).toBe('b');
  });

  it('has no price before the first window, in a gap, or in another currency', () => {
    expect(priceAt(windows, V, 'USD', t('2025-12-31T23:59:59.999Z'))).toBeUndefined();
    const gap = [w('a', '2026-01-01T00:00:00Z', '2026-01-10T00:00:00Z'), w('c', '2026-01-20T00:00:00Z', null)];
    expect(priceAt(gap, V, 'USD', t('2026-01-15T00:00:00Z'))).toBeUndefined();
    expect(priceAt(windows, V, 'EUR', t('2026-03-01T00:00:00Z'))).toBeUndefined();
  });

  it('lists one current window per variant and currency', () => {
    const both = [...windows, w('e', '2026-01-01T00:00:00Z', null, 800, 0, 'EUR')];
    expect(currentWindows(both, t('2026-03-01T00:00:00Z')).map((x) => x.id).sort()).toEqual(['b', 'e']);
  });

  it('knows the next instant a price starts or ends', () => {
    expect(nextPriceChange(windows, t('2026-01-15T00:00:00Z'))).toEqual(t('2026-02-01T00:00:00Z'));
    expect(nextPriceChange(windows, t('2026-02-01T00:00:00Z'))).toBeUndefined();
    expect(nextPriceChange(windows, t('2025-06-01T00:00:00Z'))).toEqual(t('2026-01-01T00:00:00Z'));
  });
});

describe('adding a price window', () => {
  const now = t('2026-03-01T00:00:00Z');
  const open = w('open', '2026-01-01T00:00:00Z', null);

  it('closes the open window at the start of a new open window', () => {
    expect(planWindow([open], { effectiveFrom: t('2026-04-01T00:00:00Z'), effectiveTo: null, basePrice: 500, discount: 0 }, now)).toEqual({ ok: true, closeWindowId: 'open' });
  });

  it('closes nothing when no window is open', () => {
    const closed = w('closed', '2026-01-01T00:00:00Z', '2026-03-15T00:00:00Z');
    expect(planWindow([closed], { effectiveFrom: t('2026-03-15T00:00:00Z'), effectiveTo: null, basePrice: 500, discount: 0 }, now)).toEqual({ ok: true, closeWindowId: null });
  });

  it('refuses a bounded window that overlaps the open one', () => {
    const plan = planWindow([open], { effectiveFrom: t('2026-04-01T00:00:00Z'), effectiveTo: t('2026-05-01T00:00:00Z'), basePrice: 500, discount: 0 }, now);
    expect(plan).toMatchObject({ ok: false, code: 'PRICE_WINDOW_OVERLAP' });
  });

  it('refuses an open window that starts before a scheduled open window', () => {
    const scheduled = w('later', '2026-06-01T00:00:00Z', null);
    const plan = planWindow([w('a', '2026-01-01T00:00:00Z', '2026-06-01T00:00:00Z'), scheduled], { effectiveFrom: t('2026-04-01T00:00:00Z'), effectiveTo: null, basePrice: 1, discount: 0 }, now);
    expect(plan).toMatchObject({ ok: false, code: 'PRICE_WINDOW_OVERLAP' });
  });

  it('refuses an open window starting at the same instant as the open one, saying why and what to do', () => {
    const started = planWindow([w('now', '2026-03-01T00:00:00Z', null)], { effectiveFrom: now, effectiveTo: null, basePrice: 1, discount: 0 }, now);
    expect(started).toMatchObject({ ok: false, code: 'PRICE_WINDOW_OVERLAP', reason: expect.stringContaining('starts at the same instant (2026-03-01T00:00:00.000Z)') });
    expect((started as { reason: string }).reason).toMatch(/must start later$/);
    const scheduled = planWindow([w('later', '2026-06-01T00:00:00Z', null)], { effectiveFrom: t('2026-06-01T00:00:00Z'), effectiveTo: null, basePrice: 1, discount: 0 }, now);
    expect(scheduled).toMatchObject({ ok: false, code: 'PRICE_WINDOW_OVERLAP', reason: expect.stringMatching(/withdraw that scheduled window first$/) });
  });

  it('accepts windows that only touch: the end is exclusive', () => {
    const first = w('first', '2026-03-01T00:00:00Z', '2026-04-01T00:00:00Z');
    expect(planWindow([first], { effectiveFrom: t('2026-04-01T00:00:00Z'), effectiveTo: t('2026-05-01T00:00:00Z'), basePrice: 1, discount: 0 }, now)).toEqual({ ok: true, closeWindowId: null });
  });

  it('never starts a window in the past, so history is not rewritten', () => {
    expect(planWindow([], { effectiveFrom: t('2026-02-28T23:59:59Z'), effectiveTo: null, basePrice: 1, discount: 0 }, now)).toMatchObject({ ok: false, code: 'VALIDATION_FAILED' });
  });

  it('refuses an empty window and a discount above the base price', () => {
    expect(planWindow([], { effectiveFrom: now, effectiveTo: now, basePrice: 1, discount: 0 }, now)).toMatchObject({ ok: false, code: 'VALIDATION_FAILED' });
    expect(planWindow([], { effectiveFrom: now, effectiveTo: null, basePrice: 100, discount: 101 }, now)).toMatchObject({ ok: false, code: 'VALIDATION_FAILED' });
  });
});
