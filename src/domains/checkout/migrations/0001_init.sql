-- checkout_db, migration 0001: the checkout saga's own state.
-- Design tables: checkout_sessions, checkout_steps, checkout_failures (checkout_outbox_events comes from
-- the platform template).
-- A session walks the steps in order; each step row records its attempts, its output (the ids and
-- snapshots a retry or a compensation needs) and whether it was compensated. A recovery worker takes a
-- lease on a session left in progress (lease_owner, lease_expires_at) and drives it to completion or
-- compensation.

-- ---------------------------------------------------------------------------
-- checkout_sessions (design, aggregate root)
-- ---------------------------------------------------------------------------
CREATE TABLE checkout_sessions (
  id uuid PRIMARY KEY,
  user_id uuid NOT NULL,
  cart_id uuid NOT NULL,
  idempotency_key text NOT NULL CHECK (length(idempotency_key) BETWEEN 1 AND 255),
  request_hash text NOT NULL CHECK (length(request_hash) BETWEEN 1 AND 128),
  status text NOT NULL DEFAULT 'pending' CHECK (status IN (
    'pending', 'in_progress', 'completed', 'failed', 'compensating', 'compensated'
  )),
  current_step text CHECK (current_step IN (
    'price_snapshot', 'reserve_stock', 'redeem_coupons', 'create_orders', 'authorize_payment',
    'capture_payment', 'confirm_reservations', 'close_cart', 'complete'
  )),
  payment_method_json jsonb NOT NULL CHECK (
    jsonb_typeof(payment_method_json) = 'object'
    AND NOT (payment_method_json ?| ARRAY['number', 'card_number', 'pan', 'cvc', 'cvv', 'cvv2', 'security_code'])
  ),
  shipping_address_json jsonb NOT NULL CHECK (jsonb_typeof(shipping_address_json) = 'object'),
  order_ids jsonb NOT NULL DEFAULT '[]'::jsonb CHECK (jsonb_typeof(order_ids) = 'array'),
  reservation_id uuid,
  payment_intent_id uuid,
  currency char(3) CHECK (currency ~ '^[A-Z]{3}$'),
  subtotal_amount bigint CHECK (subtotal_amount >= 0),
  discount_amount bigint CHECK (discount_amount >= 0),
  shipping_amount bigint CHECK (shipping_amount >= 0),
  total_amount bigint CHECK (total_amount >= 0),
  failure_reason text CHECK (length(failure_reason) <= 2000),
  failure_code text CHECK (length(failure_code) BETWEEN 1 AND 100),
  failed_step text CHECK (failed_step IN (
    'price_snapshot', 'reserve_stock', 'redeem_coupons', 'create_orders', 'authorize_payment',
    'capture_payment', 'confirm_reservations', 'close_cart', 'complete'
  )),
  lease_owner text CHECK (length(lease_owner) BETWEEN 1 AND 200),
  lease_expires_at timestamptz,
  resume_at timestamptz NOT NULL DEFAULT now(),
  started_at timestamptz NOT NULL DEFAULT now(),
  completed_at timestamptz,
  updated_at timestamptz NOT NULL DEFAULT now(),
  version integer NOT NULL DEFAULT 1 CHECK (version >= 1),
  CONSTRAINT checkout_sessions_user_idempotency_key UNIQUE (user_id, idempotency_key),
  CONSTRAINT checkout_sessions_totals_check CHECK (
    (currency IS NULL AND subtotal_amount IS NULL AND discount_amount IS NULL
       AND shipping_amount IS NULL AND total_amount IS NULL)
    OR (currency IS NOT NULL AND subtotal_amount IS NOT NULL AND discount_amount IS NOT NULL
       AND shipping_amount IS NOT NULL AND total_amount IS NOT NULL
       AND discount_amount <= subtotal_amount
       AND total_amount = subtotal_amount - discount_amount + shipping_amount)
  ),
  CONSTRAINT checkout_sessions_lease_check CHECK ((lease_owner IS NULL) = (lease_expires_at IS NULL)),
  CONSTRAINT checkout_sessions_completed_check CHECK (status <> 'completed' OR completed_at IS NOT NULL),
  CONSTRAINT checkout_sessions_failure_check CHECK (status NOT IN ('failed', 'compensated') OR failure_reason IS NOT NULL)
);
COMMENT ON TABLE checkout_sessions IS 'Aggregate root of the checkout saga: one buyer''s checkout of a cart, created once per (buyer, idempotency key), with the ids of everything it made.';
COMMENT ON COLUMN checkout_sessions.id IS 'Session id (UUIDv7 made by the application).';
COMMENT ON COLUMN checkout_sessions.user_id IS 'Buyer (accounts user id) checking out.';
COMMENT ON COLUMN checkout_sessions.cart_id IS 'Cart (cart domain id) being checked out.';
COMMENT ON COLUMN checkout_sessions.idempotency_key IS 'Added (not in design): the Idempotency-Key of POST /v1/checkout, unique per buyer.';
COMMENT ON COLUMN checkout_sessions.request_hash IS 'Added (not in design): hash of the request body, to answer 422 to the same key with another body.';
COMMENT ON COLUMN checkout_sessions.status IS 'pending (not started), in_progress (walking the steps), completed, failed (nothing to undo), compensating (undoing done steps) or compensated (undone after a failure).';
COMMENT ON COLUMN checkout_sessions.current_step IS 'Added (not in design): step being run or compensated; NULL before the first step.';
COMMENT ON COLUMN checkout_sessions.payment_method_json IS 'Added (not in design): payment method as a gateway token and display data only; card numbers and CVCs are refused.';
COMMENT ON COLUMN checkout_sessions.shipping_address_json IS 'Added (not in design): delivery address given at checkout, copied into the orders.';
COMMENT ON COLUMN checkout_sessions.order_ids IS 'Added (not in design): JSON array of the ids of the orders created (one per seller).';
COMMENT ON COLUMN checkout_sessions.reservation_id IS 'Added (not in design): inventory reservation (inventory domain id) made for the session.';
COMMENT ON COLUMN checkout_sessions.payment_intent_id IS 'Added (not in design): payment intent (payments domain id) made for the session.';
COMMENT ON COLUMN checkout_sessions.currency IS 'Added (not in design): ISO 4217 currency of the totals; NULL until prices are fixed.';
COMMENT ON COLUMN checkout_sessions.subtotal_amount IS 'Added (not in design): sum of unit price times quantity, in minor units; NULL until prices are fixed.';
COMMENT ON COLUMN checkout_sessions.discount_amount IS 'Added (not in design): coupon discounts, in minor units; NULL until prices are fixed.';
COMMENT ON COLUMN checkout_sessions.shipping_amount IS 'Added (not in design): shipping charged, in minor units; NULL until prices are fixed.';
COMMENT ON COLUMN checkout_sessions.total_amount IS 'Added (not in design): subtotal - discount + shipping, the amount charged, in minor units; NULL until prices are fixed.';
COMMENT ON COLUMN checkout_sessions.failure_reason IS 'Added (not in design): why the checkout failed, shown to the buyer; NULL unless failed or compensated.';
COMMENT ON COLUMN checkout_sessions.failure_code IS 'Added (not in design): stable error code of the failure (e.g. OUT_OF_STOCK, PAYMENT_DECLINED); NULL unless the session failed.';
COMMENT ON COLUMN checkout_sessions.failed_step IS 'Added (not in design): step whose failure started the compensation; NULL unless the session failed.';
COMMENT ON COLUMN checkout_sessions.lease_owner IS 'Added (not in design): worker currently driving the session; NULL when none.';
COMMENT ON COLUMN checkout_sessions.lease_expires_at IS 'Added (not in design): when the lease lapses and the recovery worker may take the session over.';
COMMENT ON COLUMN checkout_sessions.resume_at IS 'Added (not in design): earliest time a worker may drive the unfinished session again (after a lease lapses, a retry backoff, or while waiting for a payment outcome).';
COMMENT ON COLUMN checkout_sessions.started_at IS 'When the session was created.';
COMMENT ON COLUMN checkout_sessions.completed_at IS 'When the session finished (set when completed; also when it ended failed or compensated).';
COMMENT ON COLUMN checkout_sessions.updated_at IS 'Added (not in design): when the session last changed.';
COMMENT ON COLUMN checkout_sessions.version IS 'Added (not in design): incremented on every change, for optimistic concurrency.';
CREATE INDEX checkout_sessions_user_idx ON checkout_sessions (user_id, started_at DESC, id DESC);
-- Recovery worker: unfinished sessions that are due (resume_at passed; a held lease lapses no earlier).
CREATE INDEX checkout_sessions_recovery_idx ON checkout_sessions (resume_at)
  WHERE status IN ('pending', 'in_progress', 'compensating');
-- One unfinished checkout per cart: a second Idempotency-Key for the same cart cannot buy it twice.
CREATE UNIQUE INDEX checkout_sessions_cart_unfinished_key ON checkout_sessions (cart_id)
  WHERE status IN ('pending', 'in_progress', 'compensating');

-- ---------------------------------------------------------------------------
-- checkout_steps (design)
-- ---------------------------------------------------------------------------
CREATE TABLE checkout_steps (
  id uuid PRIMARY KEY,
  session_id uuid NOT NULL REFERENCES checkout_sessions (id),
  step_type text NOT NULL CHECK (step_type IN (
    'price_snapshot', 'reserve_stock', 'redeem_coupons', 'create_orders', 'authorize_payment',
    'capture_payment', 'confirm_reservations', 'close_cart', 'complete'
  )),
  status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'succeeded', 'failed', 'compensating', 'compensated')),
  attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  attempted_at timestamptz,
  completed_at timestamptz,
  compensated_at timestamptz,
  output_json jsonb CHECK (output_json IS NULL OR jsonb_typeof(output_json) IN ('object', 'array')),
  error text CHECK (length(error) <= 2000),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT checkout_steps_session_step_key UNIQUE (session_id, step_type),
  CONSTRAINT checkout_steps_attempted_check CHECK (attempts = 0 OR attempted_at IS NOT NULL),
  CONSTRAINT checkout_steps_compensated_check CHECK (status <> 'compensated' OR compensated_at IS NOT NULL)
);
COMMENT ON TABLE checkout_steps IS 'Progress of a checkout session: one row per step, with attempts, output and compensation, so a retry or recovery resumes without doing a step twice.';
COMMENT ON COLUMN checkout_steps.id IS 'Step row id (UUIDv7 made by the application).';
COMMENT ON COLUMN checkout_steps.session_id IS 'Checkout session the step belongs to.';
COMMENT ON COLUMN checkout_steps.step_type IS 'Which step: price_snapshot, reserve_stock, redeem_coupons, create_orders, authorize_payment, capture_payment, confirm_reservations, close_cart or complete.';
COMMENT ON COLUMN checkout_steps.status IS 'pending (not done yet), succeeded, failed, compensating (being undone) or compensated (undone).';
COMMENT ON COLUMN checkout_steps.attempts IS 'Added (not in design): how many times the step was run.';
COMMENT ON COLUMN checkout_steps.attempted_at IS 'When the step was last run; NULL before the first attempt.';
COMMENT ON COLUMN checkout_steps.completed_at IS 'Added (not in design): when the step succeeded; NULL otherwise.';
COMMENT ON COLUMN checkout_steps.compensated_at IS 'Added (not in design): when the step''s compensation finished; NULL otherwise.';
COMMENT ON COLUMN checkout_steps.output_json IS 'Added (not in design): what the step produced (price snapshot, reservation id, redemption ids, order ids, payment intent id), reused on retry and by its compensation.';
COMMENT ON COLUMN checkout_steps.error IS 'Added (not in design): message of the last failure of the step.';
COMMENT ON COLUMN checkout_steps.created_at IS 'Added (not in design): when the step row was created.';
COMMENT ON COLUMN checkout_steps.updated_at IS 'Added (not in design): when the step row last changed.';

-- ---------------------------------------------------------------------------
-- checkout_failures (design): append-only audit of failures
-- ---------------------------------------------------------------------------
CREATE TABLE checkout_failures (
  id uuid PRIMARY KEY,
  session_id uuid NOT NULL REFERENCES checkout_sessions (id),
  step_type text CHECK (step_type IN (
    'price_snapshot', 'reserve_stock', 'redeem_coupons', 'create_orders', 'authorize_payment',
    'capture_payment', 'confirm_reservations', 'close_cart', 'complete'
  )),
  code text CHECK (length(code) BETWEEN 1 AND 100),
  reason text NOT NULL CHECK (length(reason) BETWEEN 1 AND 2000),
  failed_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE checkout_failures IS 'Append-only audit of checkout failures: one row per failed step attempt, with the reason.';
COMMENT ON COLUMN checkout_failures.id IS 'Failure id (UUIDv7 made by the application).';
COMMENT ON COLUMN checkout_failures.session_id IS 'Checkout session that failed.';
COMMENT ON COLUMN checkout_failures.step_type IS 'Added (not in design): step that failed; NULL when the failure is not tied to a step.';
COMMENT ON COLUMN checkout_failures.code IS 'Added (not in design): stable error code from the error catalogue, e.g. OUT_OF_STOCK or PAYMENT_DECLINED.';
COMMENT ON COLUMN checkout_failures.reason IS 'Why it failed.';
COMMENT ON COLUMN checkout_failures.failed_at IS 'When it failed.';
CREATE INDEX checkout_failures_session_idx ON checkout_failures (session_id, failed_at);
CREATE TRIGGER checkout_failures_append_only BEFORE UPDATE OR DELETE ON checkout_failures
  FOR EACH ROW EXECUTE FUNCTION bazaar_refuse_change();
CREATE TRIGGER checkout_failures_append_only_truncate BEFORE TRUNCATE ON checkout_failures
  FOR EACH STATEMENT EXECUTE FUNCTION bazaar_refuse_change();
