-- payments_db, migration 0003: the state of the simulated card processor (the built-in test gateway).
--
-- These tables are NOT bazaar's payment records. They stand for what a real card processor keeps on
-- its own side: its charges and refunds, the answer it gave to each idempotency key, and the webhooks
-- it owes the marketplace. Keeping them in the database instead of a process's memory lets a charge
-- authorized by one bazaar process be captured, voided or refunded by another one, or after a
-- restart, as with a real processor. Only the built-in test gateway (test-gateway.ts,
-- test-gateway-sql.ts) reads and writes them, with its own statements and transactions, never inside
-- one of bazaar's transactions; no other payments query touches them.

-- ---------------------------------------------------------------------------
-- test_gateway_charges
-- ---------------------------------------------------------------------------
CREATE TABLE test_gateway_charges (
  id text PRIMARY KEY CHECK (id ~ '^ch_[a-z0-9]{1,64}$'),
  merchant_reference text NOT NULL CHECK (length(merchant_reference) BETWEEN 1 AND 255),
  amount bigint NOT NULL CHECK (amount > 0),
  currency char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
  status text NOT NULL CHECK (status IN ('authorized', 'declined', 'captured', 'voided')),
  decline_code text CHECK (length(decline_code) BETWEEN 1 AND 100),
  refunded_amount bigint NOT NULL DEFAULT 0,
  settles_by_webhook boolean NOT NULL,
  refunds_fail boolean NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT test_gateway_charges_refunded_check CHECK (refunded_amount >= 0 AND refunded_amount <= amount),
  CONSTRAINT test_gateway_charges_decline_check CHECK ((status = 'declined') = (decline_code IS NOT NULL))
);
COMMENT ON TABLE test_gateway_charges IS 'State of the simulated card processor, not of bazaar; used only by the built-in test gateway: one charge (authorization) per authorize request the processor received.';
COMMENT ON COLUMN test_gateway_charges.id IS 'The processor''s charge id (ch_…), the gateway_reference bazaar keeps on its payment intent.';
COMMENT ON COLUMN test_gateway_charges.merchant_reference IS 'The merchant''s reference sent with the authorization (bazaar''s payment intent id), echoed in webhooks.';
COMMENT ON COLUMN test_gateway_charges.amount IS 'Amount authorized, in minor units.';
COMMENT ON COLUMN test_gateway_charges.currency IS 'ISO 4217 currency of the charge.';
COMMENT ON COLUMN test_gateway_charges.status IS 'authorized (money held), declined, captured (money taken) or voided (hold released), as the processor sees it.';
COMMENT ON COLUMN test_gateway_charges.decline_code IS 'Why the authorization was declined (card_declined, insufficient_funds, invalid_payment_method); NULL unless declined.';
COMMENT ON COLUMN test_gateway_charges.refunded_amount IS 'Amount refunded so far, in minor units, never above amount.';
COMMENT ON COLUMN test_gateway_charges.settles_by_webhook IS 'Made with tok_delayed_webhook: its authorization and its refunds are answered pending and settled by webhook.';
COMMENT ON COLUMN test_gateway_charges.refunds_fail IS 'Made with tok_refund_fails: every refund of it is declined (refund_declined).';
COMMENT ON COLUMN test_gateway_charges.created_at IS 'When the processor received the authorization.';
COMMENT ON COLUMN test_gateway_charges.updated_at IS 'When the charge last changed (capture, void, refund).';

-- ---------------------------------------------------------------------------
-- test_gateway_refunds
-- ---------------------------------------------------------------------------
CREATE TABLE test_gateway_refunds (
  id text PRIMARY KEY CHECK (id ~ '^re_[a-z0-9]{1,64}$'),
  charge_id text NOT NULL REFERENCES test_gateway_charges (id),
  refund_reference text NOT NULL CHECK (length(refund_reference) BETWEEN 1 AND 100),
  amount bigint NOT NULL CHECK (amount >= 0),
  currency char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
  status text NOT NULL CHECK (status IN ('succeeded', 'declined')),
  decline_code text CHECK (length(decline_code) BETWEEN 1 AND 100),
  created_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT test_gateway_refunds_decline_check CHECK ((status = 'declined') = (decline_code IS NOT NULL))
);
COMMENT ON TABLE test_gateway_refunds IS 'State of the simulated card processor, not of bazaar; used only by the built-in test gateway: one row per refund request the processor received for a known charge, with its outcome.';
COMMENT ON COLUMN test_gateway_refunds.id IS 'The processor''s refund id (re_…).';
COMMENT ON COLUMN test_gateway_refunds.charge_id IS 'The charge refunded.';
COMMENT ON COLUMN test_gateway_refunds.refund_reference IS 'The merchant''s refund reference (bazaar''s refunds.refund_reference), echoed in webhooks.';
COMMENT ON COLUMN test_gateway_refunds.amount IS 'Amount asked to refund, in minor units.';
COMMENT ON COLUMN test_gateway_refunds.currency IS 'ISO 4217 currency of the refund.';
COMMENT ON COLUMN test_gateway_refunds.status IS 'succeeded or declined, as the processor decided it.';
COMMENT ON COLUMN test_gateway_refunds.decline_code IS 'Why the refund was declined (refund_declined, refund_exceeds_charge); NULL unless declined.';
COMMENT ON COLUMN test_gateway_refunds.created_at IS 'When the processor received the refund request.';
CREATE INDEX test_gateway_refunds_charge_idx ON test_gateway_refunds (charge_id);

-- ---------------------------------------------------------------------------
-- test_gateway_requests
-- ---------------------------------------------------------------------------
CREATE TABLE test_gateway_requests (
  idempotency_key text PRIMARY KEY CHECK (length(idempotency_key) BETWEEN 1 AND 255),
  fingerprint text NOT NULL CHECK (length(fingerprint) BETWEEN 1 AND 1000),
  outcome jsonb NOT NULL CHECK (jsonb_typeof(outcome) = 'object'),
  created_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE test_gateway_requests IS 'State of the simulated card processor, not of bazaar; used only by the built-in test gateway: the answer given to each idempotency key bazaar sent, so a retry with the same key gets the original answer instead of a second operation.';
COMMENT ON COLUMN test_gateway_requests.idempotency_key IS 'The key bazaar sent (authorize:<intentId>, capture:<intentId>, void:<intentId>, refund:<refundId>).';
COMMENT ON COLUMN test_gateway_requests.fingerprint IS 'What was asked (operation, charge, amount, token…): the same key with another request is refused.';
COMMENT ON COLUMN test_gateway_requests.outcome IS 'The final answer the processor decided ({status: succeeded | declined | pending, transactionId, chargeReference, code}).';
COMMENT ON COLUMN test_gateway_requests.created_at IS 'When the processor first received the key.';

-- ---------------------------------------------------------------------------
-- test_gateway_events
-- ---------------------------------------------------------------------------
CREATE TABLE test_gateway_events (
  id text PRIMARY KEY CHECK (id ~ '^evt_[a-z0-9]{1,64}$'),
  seq bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
  charge_id text NOT NULL REFERENCES test_gateway_charges (id),
  merchant_reference text NOT NULL CHECK (length(merchant_reference) BETWEEN 1 AND 255),
  type text NOT NULL CHECK (type IN ('charge.authorized', 'charge.failed', 'charge.captured', 'charge.voided', 'refund.succeeded', 'refund.failed')),
  body text NOT NULL CHECK (length(body) BETWEEN 2 AND 10000),
  created_at timestamptz NOT NULL DEFAULT now(),
  sent_at timestamptz
);
COMMENT ON TABLE test_gateway_events IS 'State of the simulated card processor, not of bazaar; used only by the built-in test gateway: the webhooks the processor made, kept to be sent (after a delay, or when a test says so) and sent again on request.';
COMMENT ON COLUMN test_gateway_events.id IS 'The processor''s event id (evt_…); bazaar deduplicates webhooks by it.';
COMMENT ON COLUMN test_gateway_events.seq IS 'Order in which the processor made its events; webhooks are sent oldest first.';
COMMENT ON COLUMN test_gateway_events.charge_id IS 'The charge the event is about.';
COMMENT ON COLUMN test_gateway_events.merchant_reference IS 'The charge''s merchant reference (bazaar''s payment intent id), to list an intent''s events.';
COMMENT ON COLUMN test_gateway_events.type IS 'Webhook type: charge.authorized, charge.failed, charge.captured, charge.voided, refund.succeeded or refund.failed.';
COMMENT ON COLUMN test_gateway_events.body IS 'The exact JSON bytes of the webhook body, as signed on every delivery.';
COMMENT ON COLUMN test_gateway_events.created_at IS 'When the processor made the event.';
COMMENT ON COLUMN test_gateway_events.sent_at IS 'When a process took the event from the queue to deliver it; NULL while it waits (any process of the marketplace may send it).';
CREATE INDEX test_gateway_events_unsent_idx ON test_gateway_events (seq) WHERE sent_at IS NULL;
CREATE INDEX test_gateway_events_merchant_reference_idx ON test_gateway_events (merchant_reference, seq);
CREATE INDEX test_gateway_events_charge_idx ON test_gateway_events (charge_id);
