import type { CheckoutStartedV1 } from '../../contracts/checkout.ts';
import type { Clock } from '../../platform/clock.ts';
import type { Pool } from '../../platform/db/pool.ts';
import { compileInCharacters } from '../../contracts/define.ts';
import { findCardData } from '../../platform/card-data.ts';
import { AppError } from '../../platform/http/errors.ts';
import { newId } from '../../platform/ids.ts';
import type { Trace } from '../../platform/messaging/envelope.ts';
import type { AccountsPort, CartPort } from './ports.ts';
import type { StepName } from './saga.ts';
import { ShippingAddressSchema } from './schemas.ts';
import { requestHash } from './request-hash.ts';
import { cartHolderStatus, insertSession, selectSessionByKey } from './sql.ts';
import type { SessionRecord } from './steps/types.ts';

export interface CheckoutRequest {
  /** Given in full, or taken from the buyer's saved addresses (by label, else the default one). */
  shippingAddress?: Record<string, unknown>;
  shippingAddressLabel?: string;
  /** Pay in this currency (ISO 4217); without it, the list currency of the cart's earliest item. */
  currency?: string;
  paymentMethod: { token: string };
}

export interface OpenDeps {
  pool: Pool;
  clock: Clock;
  cart: CartPort;
  accounts: AccountsPort;
  /** This process's lease name: the creator drives the session it creates. */
  owner: string;
  leaseMs: number;
  firstStep: StepName;
}

/**
 * Where the orders go: the address given, or one of the buyer's saved addresses (accounts' public
 * API): the one with `shippingAddressLabel` (ignoring case), else the default one (or the only one).
 * A saved address's lines become line1 and line2 (the rest, joined).
 */
export async function shippingAddressFor(accounts: AccountsPort, buyerId: string, request: CheckoutRequest): Promise<Record<string, unknown>> {
  const label = request.shippingAddressLabel;
  if (request.shippingAddress) {
    if (label !== undefined) throw new AppError('VALIDATION_FAILED', 'send shippingAddress or shippingAddressLabel, not both');
    return request.shippingAddress;
  }
  const saved = (await accounts.getUser(buyerId))?.profile.addresses ?? [];
  const chosen =
    label !== undefined
      ? saved.find((a) => a.label?.toLowerCase() === label.toLowerCase())
      : (saved.find((a) => a.isDefault) ?? (saved.length === 1 ? saved[0] : undefined));
  if (!chosen) {
    throw new AppError(
      'UNPROCESSABLE',
      label !== undefined ? `none of your saved addresses is labelled "${label}"` : 'send shippingAddress, or save a default address in your profile (PATCH /v1/me/profile)',
    );
  }
  // Saved before profiles were checked for card data, an address holding some is not copied into orders.
  const cardField = findCardData(chosen);
  if (cardField) {
    throw new AppError('UNPROCESSABLE', `your saved address${chosen.label ? ` "${chosen.label}"` : ''} holds what looks like a card number (${cardField.slice(1)}): correct it in your profile`);
  }
  const [line1, ...rest] = chosen.lines;
  const address = {
    name: chosen.name,
    line1,
    ...(rest.length > 0 ? { line2: rest.join(', ') } : {}),
    city: chosen.city,
    ...(chosen.region ? { region: chosen.region } : {}),
    postalCode: chosen.postalCode,
    country: chosen.country,
    ...(chosen.phone ? { phone: chosen.phone } : {}),
  };
  // A profile's lines 2 and 3 (200 characters each) join into one line2, which a shipping address
  // holds up to 200: the order would carry an address the checkout itself refuses when sent.
  if (!SHIPPING_ADDRESS.Check(address)) {
    const [first] = SHIPPING_ADDRESS.Errors(address);
    throw new AppError(
      'UNPROCESSABLE',
      `your saved address${chosen.label ? ` "${chosen.label}"` : ''} does not fit a shipping address: its ${first?.path.slice(1) || 'address'} is too long or holds characters a shipping address may not (line2 is lines 2 and 3 joined, at most 200 characters); correct it in your profile, or send shippingAddress`,
    );
  }
  return address;
}

const SHIPPING_ADDRESS = compileInCharacters(ShippingAddressSchema);

function sameRequest(session: SessionRecord, hash: string): SessionRecord {
  if (session.requestHash !== hash) {
    throw new AppError('IDEMPOTENCY_KEY_REUSED', 'this Idempotency-Key was used for a checkout with another body; use a new key');
  }
  return session;
}

/**
 * Opens the buyer's checkout session for an Idempotency-Key, once: the same key and body give the
 * session made the first time (created: false), another body is 422, and a concurrent duplicate
 * finds the row its twin inserted. A new session is leased to this process, which drives it, and
 * its first step is started with it. `trace` (the POST's) goes with the events and the session it creates.
 */
export async function openSession(
  deps: OpenDeps,
  buyerId: string,
  idempotencyKey: string,
  request: CheckoutRequest,
  trace: Trace | null,
): Promise<{ session: SessionRecord; created: boolean }> {
  // The address is kept with the session and copied into the orders: a card number must not get in.
  const cardField = findCardData(request);
  if (cardField) throw new AppError('VALIDATION_FAILED', `card numbers and security codes are never accepted (${cardField}): send a gateway token`);
  const hash = requestHash(request);
  const cart = await deps.cart.getActiveCart(buyerId);
  if (!cart || cart.items.length === 0) {
    // A replay after the cart was checked out finds its session; a first request has nothing to buy.
    const existing = await selectSessionByKey(deps.pool, buyerId, idempotencyKey);
    if (existing) return { session: sameRequest(existing, hash), created: false };
    throw new AppError('CART_EMPTY', 'add items to the cart before checking out');
  }

  let shippingAddress: Record<string, unknown>;
  try {
    shippingAddress = await shippingAddressFor(deps.accounts, buyerId, request);
  } catch (error) {
    // A replay needs no address (its session has one), also when the saved one is gone since.
    const existing = await selectSessionByKey(deps.pool, buyerId, idempotencyKey);
    if (existing) return { session: sameRequest(existing, hash), created: false };
    throw error;
  }

  const now = deps.clock.now();
  try {
    // The session, its first step and checkout_started in one statement (nothing when the key exists).
    const id = newId();
    const data: CheckoutStartedV1 = { sessionId: id, buyerId, cartId: cart.cartId, startedAt: now.toISOString() };
    const session = await insertSession(
      deps.pool,
      {
        id,
        userId: buyerId,
        cartId: cart.cartId,
        idempotencyKey,
        requestHash: hash,
        paymentMethod: { token: request.paymentMethod.token },
        shippingAddress,
        requestedCurrency: request.currency ?? null,
        firstStep: deps.firstStep,
        firstStepRowId: newId(),
        owner: deps.owner,
        leaseUntil: new Date(now.getTime() + deps.leaseMs),
        now,
        trace,
      },
      [{ type: 'checkout.checkout_started.v1', aggregateId: id, aggregateType: 'checkout_session', data }],
    );
    // The cart just read goes with the session this process drives now (price_snapshot uses it), and
    // so does the trace: the steps run after the POST may have answered.
    if (session) return { session: { ...session, openedCart: cart, trace }, created: true };
    // The key was used before, or by a concurrent request (ON CONFLICT waited for it to commit).
    const twin = await selectSessionByKey(deps.pool, buyerId, idempotencyKey);
    if (!twin) throw new AppError('IDEMPOTENCY_KEY_IN_USE');
    return { session: sameRequest(twin, hash), created: false };
  } catch (error) {
    if ((error as { constraint?: string }).constraint === 'checkout_sessions_cart_once_key') {
      // Two inserts of the same key can both pass the key's conflict check and meet on the cart's
      // index instead: the twin under the same key is then the answer, not a conflict.
      const twin = await selectSessionByKey(deps.pool, buyerId, idempotencyKey);
      if (twin) return { session: sameRequest(twin, hash), created: false };
      // Another key holds the cart: still running, or done, the cart bought (this request read it
      // just before that checkout closed it).
      if ((await cartHolderStatus(deps.pool, cart.cartId)) === 'completed') {
        throw new AppError('CART_EMPTY', 'this cart was just checked out by another checkout; nothing is left to buy');
      }
      throw new AppError('CHECKOUT_IN_PROGRESS', 'this cart is being checked out under another Idempotency-Key; wait for it to finish');
    }
    throw error;
  }
}
