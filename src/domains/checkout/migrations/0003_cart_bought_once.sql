-- A cart is bought at most once. The unique index held one UNFINISHED session per cart, so a second
-- checkout of the same cart (another tab, another Idempotency-Key) that read the cart while the
-- first was finishing could open its session once the first had completed, and buy the cart again:
-- two orders, two charges. A completed session now holds its cart for good; a failed or
-- compensated one lets it go (the cart is still active, and a retry may buy it).
DO $$
DECLARE
  twice text;
BEGIN
  SELECT string_agg(cart_id::text, ', ') INTO twice
    FROM (SELECT cart_id FROM checkout_sessions WHERE status IN ('pending', 'in_progress', 'compensating', 'completed')
           GROUP BY cart_id HAVING count(*) > 1) AS d;
  IF twice IS NOT NULL THEN
    RAISE EXCEPTION 'carts bought more than once before this migration: %', twice
      USING HINT = 'refund and cancel the later orders of each cart, set their sessions to compensated, and start again';
  END IF;
END $$;

CREATE UNIQUE INDEX checkout_sessions_cart_once_key ON checkout_sessions (cart_id)
  WHERE status IN ('pending', 'in_progress', 'compensating', 'completed');
DROP INDEX checkout_sessions_cart_unfinished_key;
COMMENT ON INDEX checkout_sessions_cart_once_key IS 'One live or completed checkout per cart: a cart is never bought twice; a failed or compensated session lets it go.';
