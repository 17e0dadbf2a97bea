import { describe, expect, it } from 'vitest';
import { decidePublication } from '../../src/domains/products/publication.ts';

const priced = { hasCurrentPrice: true };

describe('the publication lifecycle', () => {
  it('publishes a draft that has a current price', () => {
    expect(decidePublication('draft', 'publish', priced)).toEqual({ ok: true, next: 'published' });
  });

  it('refuses to publish a product without a current price', () => {
    expect(decidePublication('draft', 'publish', { hasCurrentPrice: false })).toMatchObject({ ok: false });
    expect(decidePublication('unlisted', 'publish', { hasCurrentPrice: false })).toMatchObject({ ok: false });
  });

  it('unlists a published product and publishes it again', () => {
    expect(decidePublication('published', 'unlist', priced)).toEqual({ ok: true, next: 'unlisted' });
    expect(decidePublication('unlisted', 'publish', priced)).toEqual({ ok: true, next: 'published' });
  });

  it('refuses every other transition', () => {
    expect(decidePublication('published', 'publish', priced)).toMatchObject({ ok: false, reason: expect.stringContaining('already published') });
    expect(decidePublication('draft', 'unlist', priced)).toMatchObject({ ok: false });
    expect(decidePublication('unlisted', 'unlist', priced)).toMatchObject({ ok: false });
  });
});
