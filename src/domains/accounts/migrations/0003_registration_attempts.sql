-- accounts_db, migration 0003: registrations are limited per client address.
--
-- Registration answered "this email is taken" at any speed, to anyone: an unthrottled way to learn
-- which emails have accounts (login answers an unknown email and a wrong password alike), and a
-- cheap way to make the server hash passwords. Each registration request is now recorded with its
-- client address before its password is hashed, and an address over the limit is answered 429.

CREATE TABLE registration_attempts (
  id uuid PRIMARY KEY,
  ip inet NOT NULL,
  attempted_at timestamptz NOT NULL
);

CREATE INDEX registration_attempts_ip_idx ON registration_attempts (ip, attempted_at DESC);
CREATE INDEX registration_attempts_attempted_idx ON registration_attempts (attempted_at);

COMMENT ON TABLE registration_attempts IS 'Added (not in design): every registration request, counted per client address for the registration limit; deleted after a day.';
COMMENT ON COLUMN registration_attempts.id IS 'Identifier of the attempt.';
COMMENT ON COLUMN registration_attempts.ip IS 'The client address as counted: an IPv4 address, or an IPv6 client''s /48 network.';
COMMENT ON COLUMN registration_attempts.attempted_at IS 'When the request came, before its password was hashed.';
