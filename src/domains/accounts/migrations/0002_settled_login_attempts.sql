-- accounts_db, migration 0002: a login attempt is settled once its password was checked.
--
-- An attempt is recorded before its password is checked (so that concurrent guesses cannot all pass
-- the count before any is in it), and was counted as a failure from then on: several right logins
-- at the same moment counted each other as failures and were refused 429. Now an attempt whose
-- password is still being checked is pending (settled false): the limit counts it, and a login the
-- pending ones alone would refuse waits for them to settle. A pending attempt older than a minute
-- (its process died before settling it) counts as a failure.

ALTER TABLE login_attempts ADD COLUMN settled boolean NOT NULL DEFAULT true;
ALTER TABLE login_attempts ADD CONSTRAINT login_attempts_settled_check CHECK (settled OR NOT succeeded);

COMMENT ON COLUMN login_attempts.settled IS 'Added (not in design): whether the attempt''s password was checked (succeeded tells how); false while it is being checked. Attempts before migration 0002 are settled.';
