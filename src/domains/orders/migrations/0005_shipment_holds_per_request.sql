-- orders_db, migration 0005: one shipment hold per shipment request, not per order. Two parcels of
-- one order recorded at once shared one row (the later deadline kept): when one of them failed and
-- released its hold, it ended the other's too, and a cancellation could pass that parcel.
ALTER TABLE order_shipment_holds DROP CONSTRAINT order_shipment_holds_pkey;
ALTER TABLE order_shipment_holds ADD COLUMN hold_id uuid NOT NULL DEFAULT gen_random_uuid();
ALTER TABLE order_shipment_holds ALTER COLUMN hold_id DROP DEFAULT;
ALTER TABLE order_shipment_holds ADD PRIMARY KEY (hold_id);
CREATE INDEX order_shipment_holds_order_idx ON order_shipment_holds (order_id, held_until);
COMMENT ON COLUMN order_shipment_holds.hold_id IS 'The hold of one shipment request (UUIDv7 made by the application): released by that request alone.';
COMMENT ON COLUMN order_shipment_holds.order_id IS 'Order held (any number of holds; a cancellation is refused while one is in force).';
