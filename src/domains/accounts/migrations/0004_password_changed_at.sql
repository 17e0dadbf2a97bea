-- accounts_db, migration 0004: access tokens issued before a password change stop working.
--
-- A password changed because it leaked left every access token already given (the thief's among
-- them) valid until it expired, 15 minutes by default. Each process now refuses a user's tokens
-- issued before the user's last password change: the changing process at once, the others when they
-- next read the changes made since their last look (every few seconds, by this indexed column).

ALTER TABLE users ADD COLUMN password_changed_at timestamptz;

CREATE INDEX users_password_changed_idx ON users (password_changed_at) WHERE password_changed_at IS NOT NULL;

COMMENT ON COLUMN users.password_changed_at IS 'Added (not in design): when the password was last changed by its owner (NULL: never); access tokens issued before it are refused.';
