-- inventory_db, migration 0004 (data): announces again every limit per buyer in force, as
-- inventory.purchase_limit_changed.v1, so that the products domain's copy (products migration 0005,
-- shown on the product page) also learns the limits set before it kept them. Consumers apply an
-- announcement of a limit already known as a no-op. Nothing to announce on a new installation.
INSERT INTO inventory_outbox_events (id, aggregate_id, aggregate_type, event_type, payload, headers)
SELECT e.id, s.id, 'stock_item', 'inventory.purchase_limit_changed.v1',
       jsonb_build_object(
         'stockItemId', s.id, 'variantId', s.variant_id, 'productId', s.product_id, 'sellerId', s.seller_id,
         'maxPerBuyer', s.max_per_buyer,
         'since', to_char(s.purchase_limit_since AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
         'changedAt', to_char(statement_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')),
       jsonb_build_object(
         'source', '/bazaar/inventory',
         'time', to_char(statement_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
         'correlationid', e.id, 'causationid', NULL)
  FROM stock_items s
 CROSS JOIN LATERAL (SELECT gen_random_uuid() AS id WHERE s.id IS NOT NULL) e
 WHERE s.max_per_buyer IS NOT NULL
 ORDER BY s.id;
