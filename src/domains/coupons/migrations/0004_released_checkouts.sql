-- coupon_released_checkouts: the checkout sessions whose coupons the checkout gave back (its
-- compensation ran). A coupon step still running when its session was taken over and compensated
-- elsewhere (it held its lease too long) could commit its redemption after the release, which had
-- found nothing to give back: the use stayed taken for a checkout that made no order. The release
-- now leaves this mark, under the same session lock as a redemption, and a later redemption of the
-- session is refused.

-- ---------------------------------------------------------------------------
-- coupon_released_checkouts (added): checkouts whose coupons were given back
-- ---------------------------------------------------------------------------
CREATE TABLE coupon_released_checkouts (
  checkout_session_id uuid PRIMARY KEY,
  released_at timestamptz NOT NULL
);
COMMENT ON TABLE coupon_released_checkouts IS 'Added (not in design): checkout sessions whose compensation gave their coupons back; a later redemption or note of such a session is refused, so a coupon step that finishes after its session failed takes no use.';
COMMENT ON COLUMN coupon_released_checkouts.checkout_session_id IS 'Checkout session (checkout domain id); marked once.';
COMMENT ON COLUMN coupon_released_checkouts.released_at IS 'When the checkout''s compensation first gave its coupons back.';
