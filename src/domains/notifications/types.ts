/**
 * The notification types bazaar sends, the channels a user can choose for them, and what a user
 * gets for a type they never set (docs/notifications.md lists the same table).
 */
export const NOTIFICATION_TYPES = [
  'account_welcome',
  'order_placed',
  'order_paid',
  'order_shipped',
  'order_delivered',
  'order_cancelled',
  'order_refunded',
  'seller_order_paid',
  'shipment_out_for_delivery',
  'shipment_delivery_failed',
  'shipment_returned',
  'seller_shipment_problem',
] as const;
export type NotificationType = (typeof NOTIFICATION_TYPES)[number];

/**
 * Channels a user may choose. The schema also allows `sms`, but bazaar knows no phone numbers here
 * (profile details stay out of accounts events, ADR in contracts/accounts.ts), so it is not offered.
 */
export const CHANNELS = ['in_app', 'email', 'push'] as const;
export type Channel = (typeof CHANNELS)[number];
/** Channels that go out through a provider (in_app is shown as soon as it exists). */
export type ProviderChannel = Exclude<Channel, 'in_app'>;

export const DEFAULT_CHANNELS: Readonly<Record<NotificationType, readonly Channel[]>> = {
  account_welcome: ['in_app', 'email'],
  order_placed: ['in_app'],
  order_paid: ['in_app', 'email'],
  order_shipped: ['in_app', 'email'],
  order_delivered: ['in_app'],
  order_cancelled: ['in_app', 'email'],
  order_refunded: ['in_app', 'email'],
  seller_order_paid: ['in_app', 'email'],
  shipment_out_for_delivery: ['in_app'],
  shipment_delivery_failed: ['in_app', 'email'],
  shipment_returned: ['in_app', 'email'],
  seller_shipment_problem: ['in_app', 'email'],
};

export function isNotificationType(value: string): value is NotificationType {
  return (NOTIFICATION_TYPES as readonly string[]).includes(value);
}

/** The user's choice for a type if there is one, else its default; unknown channels are dropped. */
export function channelsFor(type: NotificationType, chosen: readonly string[] | undefined): Channel[] {
  const channels = chosen ?? DEFAULT_CHANNELS[type];
  return CHANNELS.filter((c) => channels.includes(c));
}
