-- payments_db, migration 0004: the simulated card processor (the built-in test gateway) can lose a
-- charge's webhooks, and can settle a refund it declines later by webhook, as real processors do.

ALTER TABLE test_gateway_charges ADD COLUMN webhooks_lost boolean NOT NULL DEFAULT false;
COMMENT ON COLUMN test_gateway_charges.webhooks_lost IS 'Made with tok_webhook_lost: every webhook about it is lost on the way (made and taken from the queue, never delivered); only asking the processor (retrieve) tells its outcomes.';
COMMENT ON COLUMN test_gateway_charges.settles_by_webhook IS 'Made with tok_delayed_webhook, tok_webhook_lost or tok_refund_fails_later: its refunds are answered pending and settled by webhook, whether they succeed or are declined (refund_declined).';
COMMENT ON COLUMN test_gateway_charges.refunds_fail IS 'Made with tok_refund_fails or tok_refund_fails_later: every refund of it is declined (refund_declined).';
COMMENT ON COLUMN test_gateway_events.sent_at IS 'When a process took the event from the queue to deliver it; NULL while it waits (any process of the marketplace may send it). Set when made for a charge whose webhooks are lost (webhooks_lost).';
