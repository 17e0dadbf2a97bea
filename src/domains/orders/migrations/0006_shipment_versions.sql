-- orders_db, migration 0006: each order_shipments row keeps the version of the shipment event that
-- set it, so that a late event (shipping's events of one shipment can arrive out of order) no longer
-- moves a parcel's status back, e.g. out_for_delivery to in_transit. Rows recorded before keep 0:
-- the next event of their shipment applies, as it did.
ALTER TABLE order_shipments ADD COLUMN shipment_version integer NOT NULL DEFAULT 0 CHECK (shipment_version >= 0);
COMMENT ON COLUMN order_shipments.shipment_version IS 'The shipment''s version in the event that set this row (shipping increments it on every change); only a newer event updates the row. 0: recorded before versions were kept.';
