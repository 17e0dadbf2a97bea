-- accounts_db, migration 0001: identity for everything else.
-- Design tables: users, user_profiles, user_roles (accounts_outbox_events comes from the platform template).
-- Added: login_attempts (rate limiting of logins per account and per address).

CREATE EXTENSION IF NOT EXISTS citext;

-- ---------------------------------------------------------------------------
-- users (design, aggregate root)
-- ---------------------------------------------------------------------------
CREATE TABLE users (
  id uuid PRIMARY KEY,
  email citext NOT NULL UNIQUE CHECK (length(email) BETWEEN 3 AND 254 AND email ~ '^[^@\s]+@[^@\s]+$'),
  password_hash text NOT NULL CHECK (password_hash LIKE '$argon2id$%' AND length(password_hash) <= 512),
  status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE users IS 'Aggregate root: a person''s account, identified by an email unique ignoring case.';
COMMENT ON COLUMN users.id IS 'User id (UUIDv7 made by the application); every other domain refers to buyers, sellers and admins by it.';
COMMENT ON COLUMN users.email IS 'Login email, unique ignoring case (citext).';
COMMENT ON COLUMN users.password_hash IS 'argon2id hash in PHC string format ($argon2id$...); the password itself is never stored.';
COMMENT ON COLUMN users.status IS 'active (may sign in) or disabled.';
COMMENT ON COLUMN users.created_at IS 'When the account was registered.';
COMMENT ON COLUMN users.updated_at IS 'When the account last changed.';

-- ---------------------------------------------------------------------------
-- user_profiles (design)
-- ---------------------------------------------------------------------------
CREATE TABLE user_profiles (
  id uuid PRIMARY KEY,
  user_id uuid NOT NULL UNIQUE REFERENCES users (id) ON DELETE CASCADE,
  first_name text CHECK (length(first_name) <= 100),
  last_name text CHECK (length(last_name) <= 100),
  phone text CHECK (phone ~ '^\+?[0-9 ().-]{4,30}$'),
  address_json jsonb NOT NULL DEFAULT '[]'::jsonb CHECK (jsonb_typeof(address_json) = 'array'),
  updated_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE user_profiles IS 'Personal details of a user: names, phone and addresses; one profile per user.';
COMMENT ON COLUMN user_profiles.id IS 'Profile id (UUIDv7 made by the application).';
COMMENT ON COLUMN user_profiles.user_id IS 'User the profile belongs to; unique.';
COMMENT ON COLUMN user_profiles.first_name IS 'Given name; NULL when not given.';
COMMENT ON COLUMN user_profiles.last_name IS 'Family name; NULL when not given.';
COMMENT ON COLUMN user_profiles.phone IS 'Phone number, preferably E.164 (+15551234567); NULL when not given.';
COMMENT ON COLUMN user_profiles.address_json IS 'JSON array of the user''s addresses (each an object: name, lines, city, region, postal code, country, default flag).';
COMMENT ON COLUMN user_profiles.updated_at IS 'Added (not in design): when the profile last changed.';

-- ---------------------------------------------------------------------------
-- user_roles (design)
-- ---------------------------------------------------------------------------
CREATE TABLE user_roles (
  id uuid PRIMARY KEY,
  user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  role text NOT NULL CHECK (role IN ('buyer', 'seller', 'admin')),
  assigned_at timestamptz NOT NULL DEFAULT now(),
  assigned_by uuid REFERENCES users (id),
  CONSTRAINT user_roles_user_role_key UNIQUE (user_id, role)
);
COMMENT ON TABLE user_roles IS 'Roles held by users, one row per assignment; a user holds each role at most once.';
COMMENT ON COLUMN user_roles.id IS 'Assignment id (UUIDv7 made by the application).';
COMMENT ON COLUMN user_roles.user_id IS 'User holding the role.';
COMMENT ON COLUMN user_roles.role IS 'buyer, seller or admin.';
COMMENT ON COLUMN user_roles.assigned_at IS 'When the role was assigned.';
COMMENT ON COLUMN user_roles.assigned_by IS 'Added (not in design): admin who assigned the role; NULL at registration or for the bootstrap admin.';
CREATE INDEX user_roles_role_idx ON user_roles (role, assigned_at);

-- ---------------------------------------------------------------------------
-- login_attempts (added): rate limiting
-- ---------------------------------------------------------------------------
CREATE TABLE login_attempts (
  id uuid PRIMARY KEY,
  email citext NOT NULL CHECK (length(email) <= 254),
  ip inet NOT NULL,
  user_id uuid,
  succeeded boolean NOT NULL,
  attempted_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE login_attempts IS 'Added (not in design): recent login attempts, counted per account and per address to answer 429; old rows are pruned.';
COMMENT ON COLUMN login_attempts.id IS 'Attempt id (UUIDv7 made by the application).';
COMMENT ON COLUMN login_attempts.email IS 'Email given at login (whether or not an account has it), compared ignoring case.';
COMMENT ON COLUMN login_attempts.ip IS 'Client address the attempt came from.';
COMMENT ON COLUMN login_attempts.user_id IS 'Account matched by the email; NULL when none.';
COMMENT ON COLUMN login_attempts.succeeded IS 'Whether the password was right.';
COMMENT ON COLUMN login_attempts.attempted_at IS 'When the attempt was made.';
-- Recent failures per account and per address: WHERE email = $1 AND NOT succeeded AND attempted_at > $since.
CREATE INDEX login_attempts_email_failed_idx ON login_attempts (email, attempted_at DESC) WHERE NOT succeeded;
CREATE INDEX login_attempts_ip_failed_idx ON login_attempts (ip, attempted_at DESC) WHERE NOT succeeded;
-- Pruning.
CREATE INDEX login_attempts_attempted_idx ON login_attempts (attempted_at);
