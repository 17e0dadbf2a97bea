-- The currency the buyer asked to pay in (POST /v1/checkout `currency`), kept until price_snapshot
-- prices the cart in it; NULL: the cart's own currency (its earliest item's list currency).
ALTER TABLE checkout_sessions
  ADD COLUMN requested_currency char(3) CHECK (requested_currency ~ '^[A-Z]{3}$');
COMMENT ON COLUMN checkout_sessions.requested_currency IS 'Currency the buyer asked to pay in (ISO 4217, from the checkout request); NULL: the list currency of the cart''s earliest item.';
