-- orders_db, migration 0004: a seller's shipment being recorded holds its order against cancelling.
-- Shipping asks orders for the hold before it records the parcel in its own database, and orders
-- marks the order shipped once the parcel is recorded (at once, and again from
-- shipping.shipment_created.v1), which ends the hold. A cancellation is refused while a hold lasts;
-- a hold whose parcel was never recorded (the process died, shipping's database failed) ends by
-- itself at held_until. Kept beside the order, not in it: the order row is the legal record.
CREATE TABLE order_shipment_holds (
  order_id uuid PRIMARY KEY REFERENCES orders (id),
  held_until timestamptz NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE order_shipment_holds IS 'Orders held against cancelling while shipping records a parcel of them; a row ends when the order is marked shipped, when released, or by itself at held_until.';
COMMENT ON COLUMN order_shipment_holds.order_id IS 'Order held (one hold per order; a second parcel at once extends it).';
COMMENT ON COLUMN order_shipment_holds.held_until IS 'When the hold ends by itself if its parcel was never recorded.';
COMMENT ON COLUMN order_shipment_holds.created_at IS 'When the hold was first taken.';
