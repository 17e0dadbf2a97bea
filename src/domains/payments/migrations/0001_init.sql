-- payments_db, migration 0001: money safety.
-- Design tables: payment_intents, payment_transactions, refunds, ledgers (payments_outbox_events comes
-- from the platform template).
-- Added: payment_allocations (one charge split across the per-seller orders of a checkout),
-- ledger_accounts (chart of accounts), ledger_journals (balanced groups of ledger entries),
-- gateway_webhook_events (webhook deduplication).
--
-- Lifecycle: payment_intents holds the current state and the running captured/refunded totals
-- (changed by conditional UPDATEs, so concurrent refunds can never exceed what was captured);
-- payment_transactions records every gateway operation attempt and outcome (append-only);
-- refunds records each refund request (append-only): its outcome is a payment_transactions row
-- of type 'refund' pointing at it.
-- Ledger: every money movement posts one ledger_journals row and at least two ledgers rows whose
-- debits equal their credits (checked at commit by a deferred constraint trigger).

-- ---------------------------------------------------------------------------
-- payment_intents (design, aggregate root)
-- ---------------------------------------------------------------------------
CREATE TABLE payment_intents (
  id uuid PRIMARY KEY,
  order_id uuid,
  checkout_session_id uuid,
  buyer_id uuid NOT NULL,
  amount bigint NOT NULL CHECK (amount > 0),
  currency char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
  gateway text NOT NULL CHECK (gateway ~ '^[a-z0-9_-]{1,40}$'),
  idempotency_key text NOT NULL UNIQUE CHECK (length(idempotency_key) BETWEEN 1 AND 255),
  request_hash text NOT NULL CHECK (length(request_hash) BETWEEN 1 AND 128),
  status text NOT NULL DEFAULT 'requires_confirmation' CHECK (status IN (
    'requires_confirmation', 'processing', 'authorized', 'captured', 'partially_refunded',
    'refunded', 'voided', 'failed', 'canceled'
  )),
  gateway_reference text CHECK (length(gateway_reference) BETWEEN 1 AND 255),
  captured_amount bigint NOT NULL DEFAULT 0,
  refunded_amount bigint NOT NULL DEFAULT 0,
  failure_code text CHECK (length(failure_code) BETWEEN 1 AND 100),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  version integer NOT NULL DEFAULT 1 CHECK (version >= 1),
  CONSTRAINT payment_intents_captured_check CHECK (captured_amount >= 0 AND captured_amount <= amount),
  CONSTRAINT payment_intents_refunded_check CHECK (refunded_amount >= 0 AND refunded_amount <= captured_amount),
  -- Target of composite foreign keys: children carry the intent's currency.
  CONSTRAINT payment_intents_id_currency_key UNIQUE (id, currency)
);
COMMENT ON TABLE payment_intents IS 'Aggregate root: one retry-safe charge of a buyer, created once per idempotency key; holds the current status and the captured and refunded totals.';
COMMENT ON COLUMN payment_intents.id IS 'Payment intent id (UUIDv7 made by the application).';
COMMENT ON COLUMN payment_intents.order_id IS 'Order (orders domain id) paid, when the charge is for a single order; NULL when it spans several (see payment_allocations).';
COMMENT ON COLUMN payment_intents.checkout_session_id IS 'Added (not in design): checkout session (checkout domain id) that asked for the charge; NULL for a charge made outside checkout.';
COMMENT ON COLUMN payment_intents.buyer_id IS 'Added (not in design): buyer (accounts user id) charged.';
COMMENT ON COLUMN payment_intents.amount IS 'Amount to charge, in minor units, greater than zero.';
COMMENT ON COLUMN payment_intents.currency IS 'ISO 4217 currency of every amount of the intent.';
COMMENT ON COLUMN payment_intents.gateway IS 'Gateway adapter that processes the charge, e.g. test.';
COMMENT ON COLUMN payment_intents.idempotency_key IS 'Caller''s idempotency key: the same key returns this intent instead of charging twice.';
COMMENT ON COLUMN payment_intents.request_hash IS 'Added (not in design): hash of the request body, to refuse the same key with a different request (422).';
COMMENT ON COLUMN payment_intents.status IS 'requires_confirmation (created), processing (sent, outcome unknown), authorized, captured, partially_refunded, refunded, voided (authorization released), failed (declined) or canceled (abandoned before any gateway call).';
COMMENT ON COLUMN payment_intents.gateway_reference IS 'Added (not in design): the gateway''s id of the charge, to match webhooks; NULL until the gateway answers.';
COMMENT ON COLUMN payment_intents.captured_amount IS 'Added (not in design): amount captured so far, in minor units, never above amount.';
COMMENT ON COLUMN payment_intents.refunded_amount IS 'Added (not in design): amount of refunds requested and not failed, in minor units, never above captured_amount (raised by a conditional UPDATE before the gateway call).';
COMMENT ON COLUMN payment_intents.failure_code IS 'Added (not in design): gateway decline or error code when status is failed, e.g. card_declined or insufficient_funds.';
COMMENT ON COLUMN payment_intents.created_at IS 'When the intent was created.';
COMMENT ON COLUMN payment_intents.updated_at IS 'Added (not in design): when the intent last changed.';
COMMENT ON COLUMN payment_intents.version IS 'Added (not in design): incremented on every change, for optimistic concurrency.';
CREATE INDEX payment_intents_order_idx ON payment_intents (order_id) WHERE order_id IS NOT NULL;
CREATE INDEX payment_intents_checkout_idx ON payment_intents (checkout_session_id) WHERE checkout_session_id IS NOT NULL;
CREATE INDEX payment_intents_buyer_idx ON payment_intents (buyer_id, created_at DESC, id DESC);
-- Webhooks find the intent by the gateway's reference.
CREATE UNIQUE INDEX payment_intents_gateway_reference_key ON payment_intents (gateway, gateway_reference)
  WHERE gateway_reference IS NOT NULL;
-- Reconciliation of charges whose outcome is unknown (gateway timeout, webhook not yet received).
CREATE INDEX payment_intents_processing_idx ON payment_intents (updated_at) WHERE status = 'processing';

-- The charge itself never changes: only its state and running totals do.
CREATE FUNCTION payment_intents_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  mutable text[] := ARRAY['order_id', 'status', 'gateway_reference', 'captured_amount', 'refunded_amount',
                          'failure_code', 'updated_at', 'version'];
BEGIN
  IF TG_OP = 'DELETE' THEN
    RAISE EXCEPTION 'payment_intents: DELETE refused' USING ERRCODE = 'BZ001';
  END IF;
  IF (to_jsonb(NEW) - mutable) IS DISTINCT FROM (to_jsonb(OLD) - mutable) THEN
    RAISE EXCEPTION 'payment_intents: amount, currency, buyer, gateway and idempotency key never change'
      USING ERRCODE = 'BZ001';
  END IF;
  RETURN NEW;
END;
$$;
COMMENT ON FUNCTION payment_intents_guard() IS 'Trigger function: refuses deleting an intent and changing its amount, currency, parties, gateway or idempotency key.';
CREATE TRIGGER payment_intents_immutable_facts BEFORE UPDATE OR DELETE ON payment_intents
  FOR EACH ROW EXECUTE FUNCTION payment_intents_guard();
CREATE TRIGGER payment_intents_no_truncate BEFORE TRUNCATE ON payment_intents
  FOR EACH STATEMENT EXECUTE FUNCTION bazaar_refuse_change();

-- ---------------------------------------------------------------------------
-- payment_allocations (added): one charge split across per-seller orders
-- ---------------------------------------------------------------------------
CREATE TABLE payment_allocations (
  id uuid PRIMARY KEY,
  payment_intent_id uuid NOT NULL,
  order_id uuid NOT NULL,
  seller_id uuid NOT NULL,
  amount bigint NOT NULL CHECK (amount >= 0),
  currency char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
  captured_amount bigint NOT NULL DEFAULT 0,
  refunded_amount bigint NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT payment_allocations_captured_check CHECK (captured_amount >= 0 AND captured_amount <= amount),
  CONSTRAINT payment_allocations_refunded_check CHECK (refunded_amount >= 0 AND refunded_amount <= captured_amount),
  CONSTRAINT payment_allocations_intent_order_key UNIQUE (payment_intent_id, order_id),
  CONSTRAINT payment_allocations_intent_fkey FOREIGN KEY (payment_intent_id, currency)
    REFERENCES payment_intents (id, currency)
);
COMMENT ON TABLE payment_allocations IS 'Added (not in design): the part of a payment intent that pays each per-seller order of a checkout; the parts of an intent sum to its amount.';
COMMENT ON COLUMN payment_allocations.id IS 'Allocation id (UUIDv7 made by the application).';
COMMENT ON COLUMN payment_allocations.payment_intent_id IS 'Payment intent split.';
COMMENT ON COLUMN payment_allocations.order_id IS 'Order (orders domain id) paid by this part; unique per intent.';
COMMENT ON COLUMN payment_allocations.seller_id IS 'Seller (accounts user id) of the order, whose payable account the ledger credits.';
COMMENT ON COLUMN payment_allocations.amount IS 'Part of the intent''s amount for this order, in minor units.';
COMMENT ON COLUMN payment_allocations.currency IS 'ISO 4217 currency, always the intent''s currency.';
COMMENT ON COLUMN payment_allocations.captured_amount IS 'Amount captured for this order, in minor units, never above amount (set when the intent is captured).';
COMMENT ON COLUMN payment_allocations.refunded_amount IS 'Refunds requested and not failed for this order, in minor units, never above captured_amount (raised by a conditional UPDATE before the gateway call).';
COMMENT ON COLUMN payment_allocations.created_at IS 'When the allocation was recorded.';
COMMENT ON COLUMN payment_allocations.updated_at IS 'When captured_amount or refunded_amount last changed.';
CREATE INDEX payment_allocations_order_idx ON payment_allocations (order_id);
CREATE INDEX payment_allocations_seller_idx ON payment_allocations (seller_id, created_at DESC);

CREATE FUNCTION payments_check_allocations() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  intent_amount bigint;
  allocated bigint;
BEGIN
  SELECT amount INTO intent_amount FROM payment_intents WHERE id = NEW.payment_intent_id;
  SELECT coalesce(sum(amount), 0) INTO allocated FROM payment_allocations WHERE payment_intent_id = NEW.payment_intent_id;
  IF allocated <> intent_amount THEN
    RAISE EXCEPTION 'payment intent % allocations sum to %, not its amount %', NEW.payment_intent_id, allocated, intent_amount
      USING ERRCODE = 'check_violation';
  END IF;
  RETURN NULL;
END;
$$;
COMMENT ON FUNCTION payments_check_allocations() IS 'Deferred constraint trigger function: at commit, the allocations of an intent sum to its amount.';
CREATE CONSTRAINT TRIGGER payment_allocations_sum_to_amount AFTER INSERT OR UPDATE OF amount ON payment_allocations
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION payments_check_allocations();

-- ---------------------------------------------------------------------------
-- refunds (design): append-only refund requests
-- ---------------------------------------------------------------------------
CREATE TABLE refunds (
  id uuid PRIMARY KEY,
  payment_intent_id uuid NOT NULL,
  order_id uuid NOT NULL,
  refund_reference text NOT NULL UNIQUE CHECK (length(refund_reference) BETWEEN 1 AND 100),
  idempotency_key text NOT NULL UNIQUE CHECK (length(idempotency_key) BETWEEN 1 AND 255),
  request_hash text NOT NULL CHECK (length(request_hash) BETWEEN 1 AND 128),
  amount bigint NOT NULL CHECK (amount > 0),
  currency char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
  status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'succeeded', 'failed')),
  reason text NOT NULL CHECK (length(reason) BETWEEN 1 AND 1000),
  requested_by uuid,
  created_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT refunds_intent_fkey FOREIGN KEY (payment_intent_id, currency)
    REFERENCES payment_intents (id, currency)
);
COMMENT ON TABLE refunds IS 'Append-only refund requests, full or partial; each is made once per idempotency key and its outcome is recorded as payment_transactions rows of type refund.';
COMMENT ON COLUMN refunds.id IS 'Refund id (UUIDv7 made by the application).';
COMMENT ON COLUMN refunds.payment_intent_id IS 'Payment intent refunded.';
COMMENT ON COLUMN refunds.order_id IS 'Added (not in design): order (orders domain id) the refund is for.';
COMMENT ON COLUMN refunds.refund_reference IS 'Unique human-readable refund reference, also sent to the gateway.';
COMMENT ON COLUMN refunds.idempotency_key IS 'Added (not in design): caller''s idempotency key: the same key returns this refund instead of refunding twice.';
COMMENT ON COLUMN refunds.request_hash IS 'Added (not in design): hash of the request body, to refuse the same key with a different request (422).';
COMMENT ON COLUMN refunds.amount IS 'Amount to refund, in minor units, greater than zero.';
COMMENT ON COLUMN refunds.currency IS 'Added (not in design): ISO 4217 currency, always the intent''s currency.';
COMMENT ON COLUMN refunds.status IS 'Status when requested (normally pending); the row never changes, the current status is that of the latest refund payment_transactions row for it.';
COMMENT ON COLUMN refunds.reason IS 'Added (not in design): why the refund was made.';
COMMENT ON COLUMN refunds.requested_by IS 'Added (not in design): user (seller or admin) who asked for the refund; NULL when the system did (e.g. a cancelled order).';
COMMENT ON COLUMN refunds.created_at IS 'When the refund was requested.';
CREATE INDEX refunds_intent_idx ON refunds (payment_intent_id, created_at);
CREATE INDEX refunds_order_idx ON refunds (order_id, created_at);
CREATE TRIGGER refunds_append_only BEFORE UPDATE OR DELETE ON refunds
  FOR EACH ROW EXECUTE FUNCTION bazaar_refuse_change();
CREATE TRIGGER refunds_append_only_truncate BEFORE TRUNCATE ON refunds
  FOR EACH STATEMENT EXECUTE FUNCTION bazaar_refuse_change();

-- ---------------------------------------------------------------------------
-- payment_transactions (design): append-only gateway operations
-- ---------------------------------------------------------------------------
CREATE TABLE payment_transactions (
  id uuid PRIMARY KEY,
  payment_intent_id uuid NOT NULL,
  refund_id uuid REFERENCES refunds (id),
  gateway_transaction_id text CHECK (length(gateway_transaction_id) BETWEEN 1 AND 255),
  type text NOT NULL CHECK (type IN ('authorize', 'capture', 'void', 'refund')),
  amount bigint NOT NULL CHECK (amount > 0),
  currency char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
  status text NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
  failure_code text CHECK (length(failure_code) BETWEEN 1 AND 100),
  created_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT payment_transactions_refund_check CHECK ((type = 'refund') = (refund_id IS NOT NULL)),
  CONSTRAINT payment_transactions_failure_check CHECK (status = 'failed' OR failure_code IS NULL),
  CONSTRAINT payment_transactions_intent_fkey FOREIGN KEY (payment_intent_id, currency)
    REFERENCES payment_intents (id, currency)
);
COMMENT ON TABLE payment_transactions IS 'Append-only record of every gateway operation on an intent (authorize, capture, void, refund): a pending row when sent, then a succeeded or failed row when the outcome is known.';
COMMENT ON COLUMN payment_transactions.id IS 'Transaction row id (UUIDv7 made by the application).';
COMMENT ON COLUMN payment_transactions.payment_intent_id IS 'Payment intent operated on.';
COMMENT ON COLUMN payment_transactions.refund_id IS 'Added (not in design): refund this row belongs to; set exactly when type is refund.';
COMMENT ON COLUMN payment_transactions.gateway_transaction_id IS 'The gateway''s id of the operation; NULL when the gateway has not answered (e.g. timeout).';
COMMENT ON COLUMN payment_transactions.type IS 'Operation: authorize, capture, void or refund.';
COMMENT ON COLUMN payment_transactions.amount IS 'Amount of the operation, in minor units, greater than zero.';
COMMENT ON COLUMN payment_transactions.currency IS 'Added (not in design): ISO 4217 currency, always the intent''s currency.';
COMMENT ON COLUMN payment_transactions.status IS 'pending (sent, outcome unknown), succeeded or failed.';
COMMENT ON COLUMN payment_transactions.failure_code IS 'Added (not in design): gateway decline or error code of a failed operation.';
COMMENT ON COLUMN payment_transactions.created_at IS 'When the row was recorded.';
CREATE INDEX payment_transactions_intent_idx ON payment_transactions (payment_intent_id, created_at, id);
CREATE INDEX payment_transactions_gateway_idx ON payment_transactions (gateway_transaction_id)
  WHERE gateway_transaction_id IS NOT NULL;
-- An intent is authorized, captured and voided at most once, so a duplicated webhook cannot record it twice.
CREATE UNIQUE INDEX payment_transactions_once_per_intent_key ON payment_transactions (payment_intent_id, type)
  WHERE status = 'succeeded' AND type IN ('authorize', 'capture', 'void');
-- A refund has at most one final outcome.
CREATE UNIQUE INDEX payment_transactions_refund_outcome_key ON payment_transactions (refund_id)
  WHERE status IN ('succeeded', 'failed');
CREATE TRIGGER payment_transactions_append_only BEFORE UPDATE OR DELETE ON payment_transactions
  FOR EACH ROW EXECUTE FUNCTION bazaar_refuse_change();
CREATE TRIGGER payment_transactions_append_only_truncate BEFORE TRUNCATE ON payment_transactions
  FOR EACH STATEMENT EXECUTE FUNCTION bazaar_refuse_change();

-- ---------------------------------------------------------------------------
-- ledger_accounts (added): chart of accounts
-- ---------------------------------------------------------------------------
CREATE TABLE ledger_accounts (
  account text PRIMARY KEY CHECK (account ~ '^[a-z][a-z0-9_]*(:[a-z0-9_-]+)*$' AND length(account) <= 200),
  kind text NOT NULL CHECK (kind IN ('asset', 'liability', 'revenue', 'expense', 'equity')),
  may_go_negative boolean NOT NULL DEFAULT false,
  owner_id uuid,
  created_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE ledger_accounts IS 'Added (not in design): chart of accounts that ledger entries post to, e.g. gateway:receivable, platform:clearing, seller:<id>:payable, platform:commission.';
COMMENT ON COLUMN ledger_accounts.account IS 'Account name, lowercase segments separated by colons; ledgers.account refers to it.';
COMMENT ON COLUMN ledger_accounts.kind IS 'Accounting kind: asset and expense accounts grow by debits, liability, revenue and equity accounts grow by credits.';
COMMENT ON COLUMN ledger_accounts.may_go_negative IS 'Whether the balance (on the account''s normal side, per currency) may go below zero; tests assert it never does when false.';
COMMENT ON COLUMN ledger_accounts.owner_id IS 'Seller (accounts user id) the account belongs to, for per-seller accounts; NULL for platform accounts.';
COMMENT ON COLUMN ledger_accounts.created_at IS 'When the account was opened.';

-- ---------------------------------------------------------------------------
-- ledger_journals (added): balanced groups of entries, append-only
-- ---------------------------------------------------------------------------
CREATE TABLE ledger_journals (
  id uuid PRIMARY KEY,
  kind text NOT NULL CHECK (kind ~ '^[a-z][a-z0-9_]{0,62}$'),
  reference_id uuid NOT NULL,
  currency char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
  description text CHECK (length(description) <= 500),
  created_at timestamptz NOT NULL DEFAULT now(),
  -- One journal per money movement: a replayed event or retried step cannot post it twice.
  CONSTRAINT ledger_journals_kind_reference_key UNIQUE (kind, reference_id),
  CONSTRAINT ledger_journals_id_currency_key UNIQUE (id, currency)
);
COMMENT ON TABLE ledger_journals IS 'Added (not in design): one money movement (e.g. a capture, a refund) as a group of ledger entries that balance; append-only.';
COMMENT ON COLUMN ledger_journals.id IS 'Journal id (UUIDv7 made by the application).';
COMMENT ON COLUMN ledger_journals.kind IS 'Kind of movement, e.g. payment_captured, seller_settled, refund_succeeded; unique with reference_id.';
COMMENT ON COLUMN ledger_journals.reference_id IS 'Id of what moved the money (payment intent, refund, allocation).';
COMMENT ON COLUMN ledger_journals.currency IS 'ISO 4217 currency of every entry of the journal.';
COMMENT ON COLUMN ledger_journals.description IS 'Optional human-readable description.';
COMMENT ON COLUMN ledger_journals.created_at IS 'When the journal was posted.';
CREATE INDEX ledger_journals_reference_idx ON ledger_journals (reference_id);
CREATE TRIGGER ledger_journals_append_only BEFORE UPDATE OR DELETE ON ledger_journals
  FOR EACH ROW EXECUTE FUNCTION bazaar_refuse_change();
CREATE TRIGGER ledger_journals_append_only_truncate BEFORE TRUNCATE ON ledger_journals
  FOR EACH STATEMENT EXECUTE FUNCTION bazaar_refuse_change();

-- ---------------------------------------------------------------------------
-- ledgers (design): double-entry ledger, the source of truth, append-only
-- ---------------------------------------------------------------------------
CREATE TABLE ledgers (
  id uuid PRIMARY KEY,
  journal_id uuid NOT NULL,
  account text NOT NULL REFERENCES ledger_accounts (account),
  debit bigint NOT NULL DEFAULT 0,
  credit bigint NOT NULL DEFAULT 0,
  currency char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
  reference_id uuid NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT ledgers_one_sided_check CHECK (debit >= 0 AND credit >= 0 AND (debit > 0) <> (credit > 0)),
  CONSTRAINT ledgers_journal_fkey FOREIGN KEY (journal_id, currency) REFERENCES ledger_journals (id, currency)
);
COMMENT ON TABLE ledgers IS 'Double-entry ledger, the source of truth for money: each row debits or credits one account; the entries of a journal balance per currency.';
COMMENT ON COLUMN ledgers.id IS 'Entry id (UUIDv7 made by the application).';
COMMENT ON COLUMN ledgers.journal_id IS 'Added (not in design): journal the entry belongs to.';
COMMENT ON COLUMN ledgers.account IS 'Account debited or credited (ledger_accounts.account).';
COMMENT ON COLUMN ledgers.debit IS 'Debit in minor units; exactly one of debit and credit is positive, the other zero.';
COMMENT ON COLUMN ledgers.credit IS 'Credit in minor units; exactly one of debit and credit is positive, the other zero.';
COMMENT ON COLUMN ledgers.currency IS 'ISO 4217 currency of the entry, always the journal''s currency.';
COMMENT ON COLUMN ledgers.reference_id IS 'Id of what moved the money (as the journal''s reference_id, or a finer one such as an allocation).';
COMMENT ON COLUMN ledgers.created_at IS 'When the entry was posted.';
CREATE INDEX ledgers_journal_idx ON ledgers (journal_id);
-- Balance of an account per currency.
CREATE INDEX ledgers_account_idx ON ledgers (account, currency);
CREATE INDEX ledgers_reference_idx ON ledgers (reference_id);
CREATE TRIGGER ledgers_append_only BEFORE UPDATE OR DELETE ON ledgers
  FOR EACH ROW EXECUTE FUNCTION bazaar_refuse_change();
CREATE TRIGGER ledgers_append_only_truncate BEFORE TRUNCATE ON ledgers
  FOR EACH STATEMENT EXECUTE FUNCTION bazaar_refuse_change();

-- At commit, every journal touched has at least two entries and its debits equal its credits per currency.
CREATE FUNCTION ledger_assert_journal_balanced(p_journal_id uuid) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  entries bigint;
  unbalanced text;
BEGIN
  SELECT count(*) INTO entries FROM ledgers WHERE journal_id = p_journal_id;
  IF entries < 2 THEN
    RAISE EXCEPTION 'ledger journal % has % entries; a journal needs at least two', p_journal_id, entries
      USING ERRCODE = 'check_violation';
  END IF;
  SELECT string_agg(format('%s: debit %s, credit %s', currency, d, c), '; ') INTO unbalanced
    FROM (SELECT currency, sum(debit) AS d, sum(credit) AS c FROM ledgers
          WHERE journal_id = p_journal_id GROUP BY currency) s
    WHERE d <> c;
  IF unbalanced IS NOT NULL THEN
    RAISE EXCEPTION 'ledger journal % does not balance (%)', p_journal_id, unbalanced
      USING ERRCODE = 'check_violation';
  END IF;
END;
$$;
COMMENT ON FUNCTION ledger_assert_journal_balanced(uuid) IS 'Raises unless the journal has at least two entries and its debits equal its credits in every currency.';

CREATE FUNCTION ledger_check_journal_on_entry() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM ledger_assert_journal_balanced(NEW.journal_id);
  RETURN NULL;
END;
$$;
COMMENT ON FUNCTION ledger_check_journal_on_entry() IS 'Deferred constraint trigger function: checks the entry''s journal balances at commit.';

CREATE FUNCTION ledger_check_journal_on_journal() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM ledger_assert_journal_balanced(NEW.id);
  RETURN NULL;
END;
$$;
COMMENT ON FUNCTION ledger_check_journal_on_journal() IS 'Deferred constraint trigger function: a new journal must have balanced entries by commit.';

CREATE CONSTRAINT TRIGGER ledgers_journal_balances AFTER INSERT ON ledgers
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_check_journal_on_entry();
CREATE CONSTRAINT TRIGGER ledger_journals_balance AFTER INSERT ON ledger_journals
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_check_journal_on_journal();

-- ---------------------------------------------------------------------------
-- gateway_webhook_events (added): webhook deduplication
-- ---------------------------------------------------------------------------
CREATE TABLE gateway_webhook_events (
  id uuid PRIMARY KEY,
  gateway text NOT NULL CHECK (gateway ~ '^[a-z0-9_-]{1,40}$'),
  event_id text NOT NULL CHECK (length(event_id) BETWEEN 1 AND 255),
  event_type text NOT NULL CHECK (length(event_type) BETWEEN 1 AND 100),
  payload jsonb NOT NULL,
  received_at timestamptz NOT NULL DEFAULT now(),
  processed_at timestamptz,
  CONSTRAINT gateway_webhook_events_gateway_event_key UNIQUE (gateway, event_id)
);
COMMENT ON TABLE gateway_webhook_events IS 'Added (not in design): signature-verified gateway webhooks, unique per gateway and event id so a duplicated webhook is applied once.';
COMMENT ON COLUMN gateway_webhook_events.id IS 'Row id (UUIDv7 made by the application).';
COMMENT ON COLUMN gateway_webhook_events.gateway IS 'Gateway that sent the webhook (the {gateway} of the webhook path).';
COMMENT ON COLUMN gateway_webhook_events.event_id IS 'The gateway''s id of the event; unique per gateway.';
COMMENT ON COLUMN gateway_webhook_events.event_type IS 'The gateway''s event type, e.g. charge.succeeded.';
COMMENT ON COLUMN gateway_webhook_events.payload IS 'Webhook body as received (gateways send no card numbers; never store any).';
COMMENT ON COLUMN gateway_webhook_events.received_at IS 'When the webhook was received.';
COMMENT ON COLUMN gateway_webhook_events.processed_at IS 'When its effect was applied; NULL while waiting (e.g. it arrived before the intent it refers to).';
CREATE INDEX gateway_webhook_events_unprocessed_idx ON gateway_webhook_events (received_at) WHERE processed_at IS NULL;
