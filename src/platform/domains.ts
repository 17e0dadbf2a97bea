/**
 * The eleven domains, each with its own database and messaging tables.
 * Table names follow the user's design (note `carts_outbox_events` for the cart domain).
 */
export const DOMAIN_NAMES = [
  'products',
  'inventory',
  'orders',
  'cart',
  'payments',
  'checkout',
  'shipping',
  'coupons',
  'accounts',
  'notifications',
  'search',
] as const;

export type DomainName = (typeof DOMAIN_NAMES)[number];

export interface DomainTables {
  outbox: string;
  inbox: string;
  deadLetters: string;
  /** Outbox events held for one subscriber domain that could not be reached (in-process transport). */
  heldDeliveries: string;
  /** One row per subscriber domain with held events: count, age, backoff. */
  heldSubscribers: string;
  /** Replays of the event log into one of this domain's consumers (read model rebuilds). */
  consumerReplays: string;
  /** Retention runs that deleted published outbox rows of this domain. */
  outboxPrunes: string;
}

const OUTBOX_PREFIX: Record<DomainName, string> = {
  products: 'products',
  inventory: 'inventory',
  orders: 'orders',
  cart: 'carts',
  payments: 'payments',
  checkout: 'checkout',
  shipping: 'shipping',
  coupons: 'coupons',
  accounts: 'accounts',
  notifications: 'notifications',
  search: 'search',
};

export function databaseName(domain: DomainName, prefix = ''): string {
  return `${prefix}${domain}_db`;
}

export function domainTables(domain: DomainName): DomainTables {
  return {
    outbox: `${OUTBOX_PREFIX[domain]}_outbox_events`,
    inbox: `${domain}_inbox_events`,
    deadLetters: `${domain}_dead_letters`,
    heldDeliveries: `${OUTBOX_PREFIX[domain]}_held_deliveries`,
    heldSubscribers: `${OUTBOX_PREFIX[domain]}_held_subscribers`,
    consumerReplays: `${domain}_consumer_replays`,
    outboxPrunes: `${OUTBOX_PREFIX[domain]}_outbox_prunes`,
  };
}

export function isDomainName(value: string): value is DomainName {
  return (DOMAIN_NAMES as readonly string[]).includes(value);
}
