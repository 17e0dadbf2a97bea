import type { DomainName } from '../../src/platform/domains.ts';

/** The user's design (shared/seed/database-design.txt): 49 tables and their key columns. */
export const DESIGN_TABLES: Record<DomainName, Record<string, string[]>> = {
  products: {
    products: ['id', 'sku', 'title', 'description', 'category_id', 'status', 'created_at', 'updated_at'],
    product_variants: ['id', 'product_id', 'attributes_json', 'price', 'stock_unit_id'],
    product_images: ['id', 'product_id', 'url', 'type', 'position'],
    product_pricing: ['id', 'product_id', 'variant_id', 'base_price', 'discount', 'currency', 'effective_from', 'effective_to'],
    product_attributes: ['id', 'product_id', 'name', 'value', 'searchable'],
    product_publications: ['id', 'product_id', 'status', 'published_at', 'unlisted_at'],
    products_outbox_events: ['id', 'aggregate_id', 'event_type', 'payload', 'created_at', 'published_at'],
  },
  inventory: {
    stock_items: ['id', 'product_id', 'variant_id', 'total_quantity', 'available_quantity', 'updated_at'],
    stock_reservations: ['id', 'stock_item_id', 'order_id', 'quantity', 'status', 'expires_at', 'created_at'],
    stock_movements: ['id', 'stock_item_id', 'change', 'reason', 'reference_id', 'created_at'],
    inventory_outbox_events: ['id', 'aggregate_id', 'event_type', 'payload', 'created_at', 'published_at'],
  },
  orders: {
    orders: ['id', 'buyer_id', 'seller_id', 'order_number', 'status', 'order_type', 'currency', 'total_amount', 'created_at', 'updated_at'],
    order_items: ['id', 'order_id', 'product_snapshot_json', 'price_snapshot', 'quantity', 'created_at'],
    order_status_history: ['id', 'order_id', 'from_status', 'to_status', 'reason', 'changed_by', 'changed_at'],
    order_payments: ['id', 'order_id', 'payment_id', 'amount', 'status', 'created_at'],
    order_shipments: ['id', 'order_id', 'shipment_id', 'carrier', 'tracking_number', 'status', 'created_at'],
    order_refunds: ['id', 'order_id', 'refund_id', 'amount', 'reason', 'status', 'created_at'],
    orders_outbox_events: ['id', 'aggregate_id', 'event_type', 'payload', 'created_at', 'published_at'],
  },
  cart: {
    carts: ['id', 'user_id', 'status', 'created_at', 'updated_at'],
    cart_items: ['id', 'cart_id', 'product_id', 'variant_id', 'quantity', 'added_at'],
    cart_coupons: ['id', 'cart_id', 'coupon_id', 'applied_at'],
    carts_outbox_events: ['id', 'aggregate_id', 'event_type', 'payload', 'created_at', 'published_at'],
  },
  payments: {
    payment_intents: ['id', 'order_id', 'amount', 'currency', 'gateway', 'idempotency_key', 'status', 'created_at'],
    payment_transactions: ['id', 'payment_intent_id', 'gateway_transaction_id', 'type', 'amount', 'status', 'created_at'],
    refunds: ['id', 'payment_intent_id', 'refund_reference', 'amount', 'status', 'created_at'],
    ledgers: ['id', 'account', 'debit', 'credit', 'currency', 'reference_id', 'created_at'],
    payments_outbox_events: ['id', 'aggregate_id', 'event_type', 'payload', 'created_at', 'published_at'],
  },
  checkout: {
    checkout_sessions: ['id', 'user_id', 'cart_id', 'status', 'started_at', 'completed_at'],
    checkout_steps: ['id', 'session_id', 'step_type', 'status', 'attempted_at'],
    checkout_failures: ['id', 'session_id', 'reason', 'failed_at'],
    checkout_outbox_events: ['id', 'aggregate_id', 'event_type', 'payload', 'created_at', 'published_at'],
  },
  shipping: {
    shipments: ['id', 'order_id', 'carrier', 'tracking_number', 'status', 'shipped_at', 'delivered_at'],
    shipment_events: ['id', 'shipment_id', 'event_type', 'payload', 'created_at'],
    carrier_integrations: ['id', 'carrier_name', 'api_endpoint', 'credentials'],
    shipping_outbox_events: ['id', 'aggregate_id', 'event_type', 'payload', 'created_at', 'published_at'],
  },
  coupons: {
    coupons: ['id', 'code', 'type', 'discount', 'max_uses', 'status', 'valid_from', 'valid_to'],
    coupon_rules: ['id', 'coupon_id', 'rule_type', 'rule_json'],
    coupon_redemptions: ['id', 'coupon_id', 'user_id', 'order_id', 'redeemed_at'],
    coupons_outbox_events: ['id', 'aggregate_id', 'event_type', 'payload', 'created_at', 'published_at'],
  },
  accounts: {
    users: ['id', 'email', 'password_hash', 'status', 'created_at', 'updated_at'],
    user_profiles: ['id', 'user_id', 'first_name', 'last_name', 'phone', 'address_json'],
    user_roles: ['id', 'user_id', 'role', 'assigned_at'],
    accounts_outbox_events: ['id', 'aggregate_id', 'event_type', 'payload', 'created_at', 'published_at'],
  },
  notifications: {
    notifications: ['id', 'user_id', 'type', 'payload_json', 'status', 'created_at', 'sent_at'],
    notification_channels: ['id', 'type', 'provider_info'],
    notifications_outbox_events: ['id', 'aggregate_id', 'event_type', 'payload', 'created_at', 'published_at'],
  },
  search: {
    product_search_view: ['product_id', 'title', 'category_id', 'variant_attributes_json'],
    order_list_view: ['order_id', 'buyer_id', 'status', 'total_amount', 'created_at'],
    seller_dashboard_view: ['seller_id', 'orders_json', 'revenue'],
  },
};

/** Tables the issue requires to refuse UPDATE and DELETE in the database. */
export const APPEND_ONLY: Partial<Record<DomainName, string[]>> = {
  inventory: ['stock_movements'],
  payments: ['payment_transactions', 'refunds', 'ledgers'],
  shipping: ['shipment_events'],
  orders: ['order_status_history', 'order_items'],
  coupons: ['coupon_redemptions'],
  products: ['product_publications'],
};
