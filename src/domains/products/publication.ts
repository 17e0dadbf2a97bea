import type { ProductStatus } from '../../contracts/products.ts';

/**
 * The publication lifecycle, as a pure decision: draft → published → unlisted → published …
 * A product goes live only with at least one variant that has a price now.
 */
export type PublicationCommand = 'publish' | 'unlist';

export interface PublicationFacts {
  /** Whether at least one variant has a price window in effect at the moment of the command. */
  hasCurrentPrice: boolean;
}

export type PublicationDecision = { ok: true; next: Extract<ProductStatus, 'published' | 'unlisted'> } | { ok: false; reason: string };

export function decidePublication(current: ProductStatus, command: PublicationCommand, facts: PublicationFacts): PublicationDecision {
  if (command === 'publish') {
    if (current === 'published') return { ok: false, reason: 'the product is already published' };
    if (!facts.hasCurrentPrice) return { ok: false, reason: 'a product needs at least one variant with a current price to be published' };
    return { ok: true, next: 'published' };
  }
  if (current !== 'published') return { ok: false, reason: `only a published product can be unlisted; this one is ${current}` };
  return { ok: true, next: 'unlisted' };
}
