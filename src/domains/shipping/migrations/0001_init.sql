-- shipping_db, migration 0001: shipments and carrier tracking.
-- Design tables: shipments, shipment_events, carrier_integrations (shipping_outbox_events comes from
-- the platform template).
-- Added: shipping_webhook_events (carrier webhooks kept once per carrier and event id, also when they
-- arrive before the shipment they refer to is known).

-- ---------------------------------------------------------------------------
-- shipments (design, aggregate root)
-- ---------------------------------------------------------------------------
CREATE TABLE shipments (
  id uuid PRIMARY KEY,
  order_id uuid NOT NULL,
  seller_id uuid NOT NULL,
  buyer_id uuid NOT NULL,
  carrier text NOT NULL CHECK (carrier ~ '^[a-z0-9_-]{1,40}$'),
  tracking_number text NOT NULL CHECK (length(tracking_number) BETWEEN 1 AND 100 AND tracking_number !~ '\s'),
  status text NOT NULL DEFAULT 'label_created' CHECK (status IN (
    'pending', 'label_created', 'in_transit', 'out_for_delivery', 'delivered',
    'delivery_failed', 'returned', 'cancelled'
  )),
  shipping_address_json jsonb CHECK (shipping_address_json IS NULL OR jsonb_typeof(shipping_address_json) = 'object'),
  shipped_at timestamptz,
  delivered_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  version integer NOT NULL DEFAULT 1 CHECK (version >= 1),
  CONSTRAINT shipments_carrier_tracking_key UNIQUE (carrier, tracking_number),
  CONSTRAINT shipments_delivered_check CHECK (status <> 'delivered' OR delivered_at IS NOT NULL),
  CONSTRAINT shipments_dates_check CHECK (delivered_at IS NULL OR shipped_at IS NULL OR shipped_at <= delivered_at)
);
COMMENT ON TABLE shipments IS 'Aggregate root: a parcel a seller sent for an order, with its carrier tracking number and current status.';
COMMENT ON COLUMN shipments.id IS 'Shipment id (UUIDv7 made by the application).';
COMMENT ON COLUMN shipments.order_id IS 'Order (orders domain id) shipped; no cross-database foreign key.';
COMMENT ON COLUMN shipments.seller_id IS 'Added (not in design): seller (accounts user id) who shipped, so a seller touches only their own shipments.';
COMMENT ON COLUMN shipments.buyer_id IS 'Added (not in design): buyer (accounts user id) receiving, so a buyer sees only their own shipments.';
COMMENT ON COLUMN shipments.carrier IS 'Carrier name (lowercase, as in carrier_integrations.carrier_name and the webhook path).';
COMMENT ON COLUMN shipments.tracking_number IS 'Carrier''s tracking number, unique per carrier.';
COMMENT ON COLUMN shipments.status IS 'Current status: pending, label_created, in_transit, out_for_delivery, delivered, delivery_failed, returned or cancelled.';
COMMENT ON COLUMN shipments.shipping_address_json IS 'Added (not in design): delivery address copied from the order; NULL when not known.';
COMMENT ON COLUMN shipments.shipped_at IS 'When the carrier took the parcel; NULL before.';
COMMENT ON COLUMN shipments.delivered_at IS 'When the parcel was delivered; NULL before.';
COMMENT ON COLUMN shipments.created_at IS 'Added (not in design): when the shipment was recorded.';
COMMENT ON COLUMN shipments.updated_at IS 'Added (not in design): when the shipment last changed.';
COMMENT ON COLUMN shipments.version IS 'Added (not in design): incremented on every change, for optimistic concurrency.';
CREATE INDEX shipments_order_idx ON shipments (order_id, created_at);
CREATE INDEX shipments_seller_idx ON shipments (seller_id, created_at DESC, id DESC);
CREATE INDEX shipments_buyer_idx ON shipments (buyer_id, created_at DESC, id DESC);

-- ---------------------------------------------------------------------------
-- shipment_events (design): append-only tracking history
-- ---------------------------------------------------------------------------
CREATE TABLE shipment_events (
  id uuid PRIMARY KEY,
  shipment_id uuid NOT NULL REFERENCES shipments (id),
  event_type text NOT NULL CHECK (event_type ~ '^[a-z][a-z0-9_]{0,62}$'),
  status text CHECK (status IN (
    'pending', 'label_created', 'in_transit', 'out_for_delivery', 'delivered',
    'delivery_failed', 'returned', 'cancelled'
  )),
  source text NOT NULL CHECK (source IN ('seller', 'carrier', 'system')),
  external_event_id text CHECK (length(external_event_id) BETWEEN 1 AND 255),
  payload jsonb NOT NULL DEFAULT '{}'::jsonb,
  occurred_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  -- A carrier event is recorded once per shipment, so a repeated webhook changes nothing.
  CONSTRAINT shipment_events_shipment_external_key UNIQUE (shipment_id, external_event_id)
);
COMMENT ON TABLE shipment_events IS 'Append-only tracking history of a shipment (event sourcing of its status), from the seller, the carrier''s webhooks or the system.';
COMMENT ON COLUMN shipment_events.id IS 'Event id (UUIDv7 made by the application).';
COMMENT ON COLUMN shipment_events.shipment_id IS 'Shipment the event is about.';
COMMENT ON COLUMN shipment_events.event_type IS 'What happened, e.g. shipped, in_transit, delivered, delivery_failed.';
COMMENT ON COLUMN shipment_events.status IS 'Added (not in design): shipment status the event implies; NULL for an informational scan.';
COMMENT ON COLUMN shipment_events.source IS 'Added (not in design): who reported it: seller, carrier (webhook) or system.';
COMMENT ON COLUMN shipment_events.external_event_id IS 'Added (not in design): the carrier''s id of the event, unique per shipment; NULL for events not from a carrier.';
COMMENT ON COLUMN shipment_events.payload IS 'Details of the event (location, carrier message).';
COMMENT ON COLUMN shipment_events.occurred_at IS 'Added (not in design): when it happened according to the reporter; NULL when unknown.';
COMMENT ON COLUMN shipment_events.created_at IS 'When the event was recorded.';
CREATE INDEX shipment_events_shipment_idx ON shipment_events (shipment_id, created_at, id);
CREATE TRIGGER shipment_events_append_only BEFORE UPDATE OR DELETE ON shipment_events
  FOR EACH ROW EXECUTE FUNCTION bazaar_refuse_change();
CREATE TRIGGER shipment_events_append_only_truncate BEFORE TRUNCATE ON shipment_events
  FOR EACH STATEMENT EXECUTE FUNCTION bazaar_refuse_change();

-- ---------------------------------------------------------------------------
-- carrier_integrations (design)
-- ---------------------------------------------------------------------------
CREATE TABLE carrier_integrations (
  id uuid PRIMARY KEY,
  carrier_name text NOT NULL UNIQUE CHECK (carrier_name ~ '^[a-z0-9_-]{1,40}$'),
  display_name text CHECK (length(display_name) BETWEEN 1 AND 200),
  api_endpoint text NOT NULL CHECK (api_endpoint ~ '^https?://' AND length(api_endpoint) <= 2048),
  credentials bytea,
  credentials_set_at timestamptz,
  enabled boolean NOT NULL DEFAULT true,
  created_by uuid,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT carrier_integrations_credentials_check CHECK ((credentials IS NULL) = (credentials_set_at IS NULL))
);
COMMENT ON TABLE carrier_integrations IS 'External carrier services: their API endpoint and encrypted credentials (including the webhook signing secret); managed by admins.';
COMMENT ON COLUMN carrier_integrations.id IS 'Integration id (UUIDv7 made by the application).';
COMMENT ON COLUMN carrier_integrations.carrier_name IS 'Unique lowercase carrier name, used in shipments.carrier and in the webhook path.';
COMMENT ON COLUMN carrier_integrations.display_name IS 'Added (not in design): name shown to people; NULL to show carrier_name.';
COMMENT ON COLUMN carrier_integrations.api_endpoint IS 'Base URL of the carrier''s API.';
COMMENT ON COLUMN carrier_integrations.credentials IS 'Carrier credentials and webhook secret, encrypted at rest by the application; write-only: never returned by the API or logged.';
COMMENT ON COLUMN carrier_integrations.credentials_set_at IS 'Added (not in design): when credentials were last set (what the API shows instead of them).';
COMMENT ON COLUMN carrier_integrations.enabled IS 'Added (not in design): whether the carrier can be used and its webhooks accepted.';
COMMENT ON COLUMN carrier_integrations.created_by IS 'Added (not in design): admin (accounts user id) who created it.';
COMMENT ON COLUMN carrier_integrations.created_at IS 'Added (not in design): when it was created.';
COMMENT ON COLUMN carrier_integrations.updated_at IS 'Added (not in design): when it last changed.';

-- ---------------------------------------------------------------------------
-- shipping_webhook_events (added): carrier webhook deduplication
-- ---------------------------------------------------------------------------
CREATE TABLE shipping_webhook_events (
  id uuid PRIMARY KEY,
  carrier_name text NOT NULL CHECK (carrier_name ~ '^[a-z0-9_-]{1,40}$'),
  event_id text NOT NULL CHECK (length(event_id) BETWEEN 1 AND 255),
  tracking_number text CHECK (length(tracking_number) BETWEEN 1 AND 100),
  payload jsonb NOT NULL,
  received_at timestamptz NOT NULL DEFAULT now(),
  processed_at timestamptz,
  CONSTRAINT shipping_webhook_events_carrier_event_key UNIQUE (carrier_name, event_id)
);
COMMENT ON TABLE shipping_webhook_events IS 'Added (not in design): signature-verified carrier webhooks, unique per carrier and event id, kept until applied to their shipment.';
COMMENT ON COLUMN shipping_webhook_events.id IS 'Row id (UUIDv7 made by the application).';
COMMENT ON COLUMN shipping_webhook_events.carrier_name IS 'Carrier that sent the webhook (the {carrier} of the webhook path).';
COMMENT ON COLUMN shipping_webhook_events.event_id IS 'The carrier''s id of the event; unique per carrier.';
COMMENT ON COLUMN shipping_webhook_events.tracking_number IS 'Tracking number the webhook is about, to find the shipment; NULL when absent.';
COMMENT ON COLUMN shipping_webhook_events.payload IS 'Webhook body as received.';
COMMENT ON COLUMN shipping_webhook_events.received_at IS 'When the webhook was received.';
COMMENT ON COLUMN shipping_webhook_events.processed_at IS 'When it was applied as a shipment event; NULL while waiting (e.g. the shipment is not known yet).';
CREATE INDEX shipping_webhook_events_unprocessed_idx ON shipping_webhook_events (carrier_name, tracking_number)
  WHERE processed_at IS NULL;
