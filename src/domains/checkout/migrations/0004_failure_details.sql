-- What a failure was about, for clients: the refusing domain's own details (the items out of stock
-- and how many are left, the coupon refused and why, the variant past its limit), where the reason
-- named them in text only.
ALTER TABLE checkout_sessions
  ADD COLUMN failure_details jsonb CHECK (failure_details IS NULL OR (jsonb_typeof(failure_details) = 'object' AND length(failure_details::text) <= 20000));
COMMENT ON COLUMN checkout_sessions.failure_details IS 'Added (not in design): the refusal''s details as the refusing domain gave them (e.g. {"unavailable": [...]} for OUT_OF_STOCK, {"couponCode", "reason"} for a coupon); NULL when it gave none or the session did not fail.';
