import { AppError } from '../../platform/http/errors.ts';
import { newId } from '../../platform/ids.ts';
import { charactersWithin } from '../../platform/unicode.ts';
import { type AttributeInput, type ImageInput, type NewVariantInput, SKU_LENGTH_MAX } from './schemas.ts';
import type { AttributeInsert, ImageInsert, PriceInsert, VariantInsert } from './sql.ts';

/** Turns request parts (variants, images, attributes) into rows; shared by create and edit. */

export function variantRows(
  input: readonly NewVariantInput[],
  ctx: { productId: string; sellerId: string; now: Date; firstPosition: number },
): { variants: VariantInsert[]; prices: PriceInsert[] } {
  const variants: VariantInsert[] = [];
  const prices: PriceInsert[] = [];
  input.forEach((v, i) => {
    const id = newId();
    const effectiveFrom = v.priceEffectiveFrom ? new Date(v.priceEffectiveFrom) : ctx.now;
    if (effectiveFrom.getTime() < ctx.now.getTime()) {
      throw new AppError('VALIDATION_FAILED', `variants[${i}].priceEffectiveFrom must not be in the past`);
    }
    variants.push({
      id,
      productId: ctx.productId,
      sellerId: ctx.sellerId,
      sku: v.sku,
      attributes: v.attributes ?? {},
      price: v.price.amount,
      currency: v.price.currency,
      position: ctx.firstPosition + i,
      createdAt: ctx.now,
    });
    prices.push({
      id: newId(),
      productId: ctx.productId,
      variantId: id,
      currency: v.price.currency,
      basePrice: v.price.amount,
      discount: 0,
      effectiveFrom,
      effectiveTo: null,
      createdBy: ctx.sellerId,
      createdAt: ctx.now,
    });
  });
  return { variants, prices };
}

/**
 * Whether a browser can load `url` at all: the schema's pattern cannot tell a port past 65535 or a
 * bracketed host that is no IPv6 address (`[1]`), which a browser refuses.
 */
function loadable(url: string): boolean {
  try {
    const parsed = new URL(url);
    return parsed.hostname !== '' && parsed.username === '' && parsed.password === '';
  } catch {
    return false;
  }
}

export function imageRows(input: readonly ImageInput[], productId: string, now: Date): ImageInsert[] {
  return input.map((img, i) => {
    if (!loadable(img.url)) throw new AppError('VALIDATION_FAILED', `images[${i}].url cannot be loaded: its host or port is not valid`);
    // The scheme is stored in lower case (it is case-insensitive; the database's check reads it so).
    const url = img.url.replace(/^https?/i, (scheme) => scheme.toLowerCase());
    return { id: newId(), productId, url, type: img.type ?? (i === 0 ? 'primary' : 'gallery'), position: i, createdAt: now };
  });
}

export function attributeRows(input: readonly AttributeInput[], productId: string, now: Date): AttributeInsert[] {
  const seen = new Set<string>();
  return input.map((a, i) => {
    const key = `${a.name}\u0000${a.value}`;
    if (seen.has(key)) throw new AppError('VALIDATION_FAILED', `attributes[${i}] repeats ${a.name}: ${a.value}`);
    seen.add(key);
    return { id: newId(), productId, name: a.name, value: a.value, searchable: a.searchable ?? false, position: i, createdAt: now };
  });
}

/**
 * The body with its SKUs (the product's and its variants') in Unicode NFC: one SKU written with
 * composed or decomposed accents (É, or E and U+0301) looks the same and is one SKU, so it is kept
 * in one form and two spellings of it are twins, refused as SKU_TAKEN (found by a review). Used by
 * the API's writes and by the bulk import.
 */
export function withNfcSkus<B extends { sku?: string; variants?: readonly { sku?: string }[]; addVariants?: readonly { sku: string }[] }>(body: B): B {
  const nfc = <V extends { sku?: string }>(v: V): V => (v.sku === undefined ? v : { ...v, sku: nfcSku(v.sku) });
  return {
    ...nfc(body),
    ...(body.variants ? { variants: body.variants.map(nfc) } : {}),
    ...(body.addVariants ? { addVariants: body.addVariants.map(nfc) } : {}),
  };
}

/**
 * A SKU in NFC, refused when that makes it longer than a SKU may be: a few characters are never
 * kept composed (U+0958 becomes two), and the schema measured the SKU as sent (found by a review:
 * a 500 from the database's length check).
 */
export function nfcSku(sku: string): string {
  const normalized = sku.normalize('NFC');
  if (!charactersWithin(normalized, 1, SKU_LENGTH_MAX)) {
    throw new AppError('VALIDATION_FAILED', `SKU ${JSON.stringify(sku)} holds more than ${SKU_LENGTH_MAX} characters in Unicode NFC, the form it is kept in`);
  }
  return normalized;
}

/** Variant SKUs must differ within one request (the database checks against the stored ones). */
export function assertDistinctSkus(skus: readonly string[], where: string): void {
  const seen = new Set<string>();
  for (const sku of skus) {
    if (seen.has(sku)) throw new AppError('VALIDATION_FAILED', `${where}: SKU ${sku} appears twice`);
    seen.add(sku);
  }
}
