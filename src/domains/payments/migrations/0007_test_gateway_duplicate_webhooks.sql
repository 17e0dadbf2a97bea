-- payments_db, migration 0007: the simulated card processor (the built-in test gateway) can send a
-- charge's webhooks twice, as real processors do when they retry before they hear the first answer.

ALTER TABLE test_gateway_charges ADD COLUMN webhooks_twice boolean NOT NULL DEFAULT false;
COMMENT ON COLUMN test_gateway_charges.webhooks_twice IS 'Made with tok_duplicate_webhook: every webhook about it is delivered twice, both copies at once.';
ALTER TABLE test_gateway_events ADD COLUMN twice boolean NOT NULL DEFAULT false;
COMMENT ON COLUMN test_gateway_events.twice IS 'Delivered twice, both copies at once (its charge was made with tok_duplicate_webhook); a resend on request sends it once.';
