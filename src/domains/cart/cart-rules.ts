import { CART_ITEMS_MAX, CART_QUANTITY_MAX } from '../../contracts/cart.ts';
import { AppError } from '../../platform/http/errors.ts';
import type { CatalogVariant } from './ports.ts';

/**
 * What may go in a cart (pure): a published variant with a price now, in stock for the whole
 * line's quantity, within the cart's bounds (CART_ITEMS_MAX lines of at most CART_QUANTITY_MAX) and
 * within the seller's limit per buyer, if any (what the buyer holds or bought already is counted
 * by inventory when the checkout reserves).
 */

export function refusalToSell(variantId: string, variant: CatalogVariant | undefined, available: number, quantity: number, maxPerBuyer?: number): AppError | undefined {
  if (!variant) return new AppError('NOT_FOUND', `variant ${variantId} not found`);
  if (!variant.published) return new AppError('VARIANT_NOT_AVAILABLE', `variant ${variantId} is not published`, { variantId });
  if (!variant.price) return new AppError('VARIANT_NOT_AVAILABLE', `variant ${variantId} has no price now`, { variantId });
  if (maxPerBuyer !== undefined && quantity > maxPerBuyer) {
    return new AppError('PURCHASE_LIMIT_EXCEEDED', `variant ${variantId}: at most ${maxPerBuyer} per buyer, not ${quantity}`, {
      variantId,
      maxPerBuyer,
      requested: quantity,
    });
  }
  if (available < quantity) {
    return new AppError('OUT_OF_STOCK', available === 0 ? `variant ${variantId} is out of stock` : `only ${available} of variant ${variantId} in stock`, {
      unavailable: [{ variantId, requested: quantity, available }],
    });
  }
  return undefined;
}

export type AddDecision = { ok: true; quantity: number; isNewLine: boolean } | { ok: false; error: AppError };

/** Adding a variant already in the cart raises that line's quantity; a new variant takes a new line. */
export function decideAdd(input: {
  variantId: string;
  variant: CatalogVariant | undefined;
  available: number;
  maxPerBuyer?: number | undefined;
  existingQuantity: number | undefined;
  addedQuantity: number;
  lineCount: number;
}): AddDecision {
  const quantity = (input.existingQuantity ?? 0) + input.addedQuantity;
  if (quantity > CART_QUANTITY_MAX) {
    return { ok: false, error: new AppError('CART_LIMIT_EXCEEDED', `a cart line holds at most ${CART_QUANTITY_MAX} units; this one would hold ${quantity}`) };
  }
  const isNewLine = input.existingQuantity === undefined;
  if (isNewLine && input.lineCount >= CART_ITEMS_MAX) {
    return { ok: false, error: new AppError('CART_LIMIT_EXCEEDED', `a cart holds at most ${CART_ITEMS_MAX} different variants`) };
  }
  const refusal = refusalToSell(input.variantId, input.variant, input.available, quantity, input.maxPerBuyer);
  return refusal ? { ok: false, error: refusal } : { ok: true, quantity, isNewLine };
}

/** Lowering a quantity is always allowed; raising it needs the variant on sale and in stock. */
export function refusalToChange(input: {
  variantId: string;
  variant: CatalogVariant | undefined;
  available: number;
  maxPerBuyer?: number | undefined;
  from: number;
  to: number;
}): AppError | undefined {
  if (input.to <= input.from) return undefined;
  return refusalToSell(input.variantId, input.variant, input.available, input.to, input.maxPerBuyer);
}
