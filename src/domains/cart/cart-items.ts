import { CartItemAddedV1, CartItemQuantityChangedV1, CartItemRemovedV1 } from '../../contracts/cart.ts';
import { type Pool, type Queryable, withTransaction } from '../../platform/db/pool.ts';
import { AppError } from '../../platform/http/errors.ts';
import { newId } from '../../platform/ids.ts';
import type { Trace } from '../../platform/messaging/envelope.ts';
import { appendEvents } from '../../platform/messaging/outbox.ts';
import { decideAdd, refusalToChange } from './cart-rules.ts';
import type { CartDeps } from './deps.ts';
import type { CatalogVariant } from './ports.ts';
import { type SaleFacts, cartCurrencyOf } from './price-cart.ts';
import {
  type CartContents,
  type CartItemRow,
  deleteItem,
  activeCartContents,
  selectCartContents,
  selectOwnItem,
  touchCart,
  updateItemQuantity,
  writeItemChange,
} from './sql.ts';

const itemNotFound = () => new AppError('NOT_FOUND', 'cart item not found');

/**
 * The catalog and stock for one variant of the buyer's cart, read before any transaction (no
 * connection held while asking), priced as an add prices it (see addItem).
 */
async function saleFacts(
  deps: CartDeps,
  buyerId: string,
  variantId: string,
  currency: string | undefined,
): Promise<{ variant: CatalogVariant | undefined; available: number; maxPerBuyer: number | undefined }> {
  const cartIds = currency ? [] : ((await selectCartContents(deps.pool, { userId: buyerId }))?.items ?? []).map((i) => i.variantId);
  const facts = await saleFactsOf(deps, [...new Set([variantId, ...cartIds])]);
  const shopIn = currency ?? cartCurrencyOf(cartIds, facts.variants);
  const variant = await pricedIn(deps, variantId, facts.variants.get(variantId), shopIn);
  return { variant, available: facts.available.get(variantId) ?? 0, maxPerBuyer: facts.maxPerBuyer.get(variantId) };
}

/**
 * A variant with no price of its list currency now is judged by its price in the currency the buyer
 * shops in (`?currency=`, else the cart's own), when that is another: as checkout buys it.
 */
async function pricedIn(deps: CartDeps, variantId: string, variant: CatalogVariant | undefined, currency: string | undefined): Promise<CatalogVariant | undefined> {
  if (!variant || variant.price || !currency || currency === variant.listPrice.currency) return variant;
  return (await deps.catalog.getVariantsForPurchase([variantId], deps.clock.now(), { currency })).get(variantId) ?? variant;
}

/** The catalog and stock of `variantIds`, asked of both domains at once (see priceCart, which can use them). */
async function saleFactsOf(deps: CartDeps, variantIds: string[]): Promise<SaleFacts> {
  const [variants, stock] = await Promise.all([deps.catalog.getVariantsForPurchase(variantIds, deps.clock.now()), deps.stock.getAvailability(variantIds)]);
  return {
    asked: new Set(variantIds),
    variants,
    available: new Map(stock.map((s) => [s.variantId, s.available])),
    maxPerBuyer: new Map(stock.flatMap((s) => (s.maxPerBuyer === null ? [] : [[s.variantId, s.maxPerBuyer] as const]))),
  };
}

/**
 * Runs a change of a cart decided from the cart as read, without a lock, and written by one
 * compare-and-set statement (`change` answers null when the cart moved on meanwhile). A change that
 * lost the race runs once more under the cart's row lock, where it cannot lose again: the common
 * case takes two statements, a buyer's concurrent changes still all land.
 */
export async function changeCart<T>(
  pool: Pool,
  read: (db: Queryable, lock: boolean) => Promise<CartContents | undefined>,
  change: (db: Queryable, cart: CartContents | undefined) => Promise<T | null>,
  /** The cart as already read without a lock, for the first attempt. */
  readBefore?: CartContents,
): Promise<T> {
  const first = await change(pool, readBefore ?? (await read(pool, false)));
  if (first !== null) return first;
  return withTransaction(pool, async (tx) => {
    const locked = await change(tx, await read(tx, true));
    if (locked === null) throw new Error('a cart changed under its row lock');
    return locked;
  });
}

/**
 * Adds a published, in-stock variant to the buyer's active cart (made on first use), or raises its
 * quantity when it is there already (see changeCart). Returns the cart as this change left it and
 * the sale facts of all its variants, asked for once (read before the write, no connection held
 * while asking), so the answer needs no second read of either.
 */
export async function addItem(
  deps: CartDeps,
  buyerId: string,
  input: { variantId: string; quantity: number },
  trace: Trace | null,
  /** The currency the buyer shops in (`?currency=`): a variant priced now in it may be added, whatever its list currency's price. */
  currency?: string,
): Promise<{ isNewLine: boolean; cart: CartContents; facts: SaleFacts }> {
  const variantId = input.variantId.toLowerCase();
  // Read, not made: a refused add leaves nothing behind, not even a new empty cart.
  const before = await selectCartContents(deps.pool, { userId: buyerId });
  const facts = await saleFactsOf(deps, [...new Set([variantId, ...(before?.items ?? []).map((i) => i.variantId)])]);
  // Unless the buyer names a currency, the cart's own (see priceCart) is the one a variant must have a price in.
  const shopIn = currency ?? cartCurrencyOf((before?.items ?? []).map((i) => i.variantId), facts.variants);
  const variant = await pricedIn(deps, variantId, facts.variants.get(variantId), shopIn);
  const available = facts.available.get(variantId) ?? 0;
  const decide = (items: readonly CartItemRow[]) =>
    decideAdd({
      variantId,
      variant,
      available,
      maxPerBuyer: facts.maxPerBuyer.get(variantId),
      existingQuantity: items.find((i) => i.variantId === variantId)?.quantity,
      addedQuantity: input.quantity,
      lineCount: items.length,
    });
  // Refused by the cart as read before any cart is made (a buyer without one has none yet).
  const early = decide(before?.items ?? []);
  if (!early.ok) throw early.error;
  const added = await changeCart(
    deps.pool,
    (db, lock) => activeCartContents(db, buyerId, deps.clock.now(), lock),
    async (db, cart) => {
      if (!cart) throw new Error('an active cart was not made');
      const now = deps.clock.now();
      const existing = cart.items.find((i) => i.variantId === variantId);
      const decision = decide(cart.items);
      if (!decision.ok) throw decision.error;
      const item: CartItemRow = existing
        ? { ...existing, quantity: decision.quantity }
        : { id: newId(), cartId: cart.id, productId: variant!.productId, variantId, quantity: decision.quantity, addedAt: now };
      const data: CartItemAddedV1 = {
        cartId: cart.id,
        buyerId,
        itemId: item.id,
        productId: item.productId,
        variantId,
        addedQuantity: input.quantity,
        quantity: decision.quantity,
        addedAt: now.toISOString(),
      };
      const version = await writeItemChange(
        db,
        existing ? { kind: 'quantity', itemId: item.id, quantity: item.quantity } : { kind: 'insert', item },
        cart.id,
        cart.version,
        [{ type: CartItemAddedV1.type, aggregateId: cart.id, aggregateType: 'cart', data }],
        trace,
        now,
      );
      if (version === null) return null;
      const items = existing ? cart.items.map((i) => (i.id === item.id ? item : i)) : [...cart.items, item];
      return { isNewLine: decision.isNewLine, cart: { ...cart, version, updatedAt: now, items } };
    },
    before,
  );
  return { ...added, facts };
}

/** Sets an own item's quantity; raising it needs the variant on sale (priced in `currency` when named, as for an add) and in stock. */
export async function changeItemQuantity(deps: CartDeps, buyerId: string, itemId: string, quantity: number, trace: Trace | null, currency?: string): Promise<void> {
  const before = await selectOwnItem(deps.pool, buyerId, itemId);
  if (!before) throw itemNotFound();
  // The sale facts are asked for before the transaction (no lock held while asking), when the change
  // raises the line as read; if a concurrent change lowered it meanwhile, the raise is seen under
  // the lock and the change runs once more with them.
  let facts = quantity > before.quantity ? await saleFacts(deps, buyerId, before.variantId, currency) : undefined;
  for (;;) {
    const raisedWithoutFacts = await setQuantityUnderLock(deps, buyerId, itemId, quantity, facts, trace);
    if (!raisedWithoutFacts) return;
    facts = await saleFacts(deps, buyerId, raisedWithoutFacts, currency);
  }
}

/** Returns the item's variant when the change raises the line and `facts` were not asked for; undefined when done. */
async function setQuantityUnderLock(
  deps: CartDeps,
  buyerId: string,
  itemId: string,
  quantity: number,
  facts: Awaited<ReturnType<typeof saleFacts>> | undefined,
  trace: Trace | null,
): Promise<string | undefined> {
  const now = deps.clock.now();
  return withTransaction(deps.pool, async (tx) => {
    const item = await selectOwnItem(tx, buyerId, itemId, true);
    if (!item) throw itemNotFound();
    if (item.quantity === quantity) return undefined;
    if (quantity > item.quantity && !facts) return item.variantId;
    const refusal = refusalToChange({
      variantId: item.variantId,
      variant: facts?.variant,
      available: facts?.available ?? 0,
      maxPerBuyer: facts?.maxPerBuyer,
      from: item.quantity,
      to: quantity,
    });
    if (refusal) throw refusal;
    await updateItemQuantity(tx, item.id, quantity, now);
    await touchCart(tx, item.cartId, now);
    const data: CartItemQuantityChangedV1 = {
      cartId: item.cartId,
      buyerId,
      itemId: item.id,
      productId: item.productId,
      variantId: item.variantId,
      previousQuantity: item.quantity,
      quantity,
      changedAt: now.toISOString(),
    };
    await appendEvents(tx, 'cart', [{ type: CartItemQuantityChangedV1.type, aggregateId: item.cartId, aggregateType: 'cart', data }], trace, now);
    return undefined;
  });
}

export async function removeItem(deps: CartDeps, buyerId: string, itemId: string, trace: Trace | null): Promise<void> {
  const now = deps.clock.now();
  await withTransaction(deps.pool, async (tx) => {
    const item = await selectOwnItem(tx, buyerId, itemId, true);
    if (!item) throw itemNotFound();
    await deleteItem(tx, item.id);
    await touchCart(tx, item.cartId, now);
    const data: CartItemRemovedV1 = {
      cartId: item.cartId,
      buyerId,
      itemId: item.id,
      productId: item.productId,
      variantId: item.variantId,
      quantity: item.quantity,
      removedAt: now.toISOString(),
    };
    await appendEvents(tx, 'cart', [{ type: CartItemRemovedV1.type, aggregateId: item.cartId, aggregateType: 'cart', data }], trace, now);
  });
}
