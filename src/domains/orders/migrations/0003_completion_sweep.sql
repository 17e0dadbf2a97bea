-- orders_db, migration 0003: the sweep that completes delivered orders once their return window
-- has passed (ORDER_COMPLETE_AFTER_DAYS) finds them here: only orders delivered and not completed
-- are in the index, so it stays as small as a few weeks of deliveries.
CREATE INDEX orders_delivered_idx ON orders (id) WHERE fulfilment_status = 'delivered';
