-- shipping_db, migration 0003: carrier updates that waited too long for their shipment are dropped.
-- An update about a tracking number no shipment has is kept until the seller creates that shipment;
-- one whose shipment never comes (a tracking number of another shop, a typo at the carrier) was kept
-- for ever. A sweep now drops those received more than SHIPPING_WAITING_WEBHOOK_DAYS ago, oldest
-- first: this index finds them without reading every waiting row.

CREATE INDEX shipping_webhook_events_waiting_since_idx ON shipping_webhook_events (received_at)
  WHERE processed_at IS NULL;
COMMENT ON INDEX shipping_webhook_events_waiting_since_idx IS 'Added (not in design): the updates still waiting for their shipment, oldest first, for the sweep that drops those past SHIPPING_WAITING_WEBHOOK_DAYS.';
COMMENT ON TABLE shipping_webhook_events IS 'Added (not in design): signature-verified carrier webhooks, unique per carrier and event id, kept until applied to their shipment, or dropped once they have waited SHIPPING_WAITING_WEBHOOK_DAYS for it.';
