import type { Queryable } from '../../platform/db/pool.ts';
import type { Role } from '../../platform/http/tokens.ts';

/** Every query of the accounts database, as SQL with parameters. */

export const EMAIL_UNIQUE_CONSTRAINT = 'users_email_key';

/** Advisory lock classes (first key of the two-key form), so keys of two kinds never collide. */
const LOCK_LOGIN_EMAIL = 1;
const LOCK_LOGIN_ADDRESS = 2;
const LOCK_ADMIN_BOOTSTRAP = 3;
const LOCK_REGISTER_ADDRESS = 4;

export async function insertUser(
  q: Queryable,
  user: { id: string; email: string; passwordHash: string; now: Date },
): Promise<void> {
  await q.query(
    `INSERT INTO users (id, email, password_hash, status, created_at, updated_at)
     VALUES ($1, $2, $3, 'active', $4, $4)`,
    [user.id, user.email, user.passwordHash, user.now],
  );
}

export async function insertProfile(q: Queryable, profile: { id: string; userId: string; now: Date }): Promise<void> {
  await q.query(`INSERT INTO user_profiles (id, user_id, updated_at) VALUES ($1, $2, $3)`, [profile.id, profile.userId, profile.now]);
}

/** Inserts the assignment unless the user holds the role already; true when a row was written. */
export async function insertRole(
  q: Queryable,
  assignment: { id: string; userId: string; role: Role; assignedBy: string | null; now: Date },
): Promise<boolean> {
  const { rowCount } = await q.query(
    `INSERT INTO user_roles (id, user_id, role, assigned_at, assigned_by)
     VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT ON CONSTRAINT user_roles_user_role_key DO NOTHING`,
    [assignment.id, assignment.userId, assignment.role, assignment.now, assignment.assignedBy],
  );
  return rowCount === 1;
}

export async function findUserIdByEmail(q: Queryable, email: string): Promise<string | undefined> {
  const { rows } = await q.query<{ id: string }>('SELECT id FROM users WHERE email = $1', [email]);
  return rows[0]?.id;
}

export interface Credentials {
  id: string;
  passwordHash: string;
  status: 'active' | 'disabled';
  /**
   * The password's version: when it was last changed (null: never), read with the hash. A token
   * issued on these credentials carries it, and a later change (a newer version) revokes it, even
   * one whose commit this read did not see yet.
   */
  passwordChangedAt: Date | null;
}

/** The only query that reads password_hash; its result never leaves checkPassword (login, password change). */
export async function findCredentials(q: Queryable, email: string): Promise<Credentials | undefined> {
  const { rows } = await q.query<Credentials>(
    'SELECT id, password_hash AS "passwordHash", status, password_changed_at AS "passwordChangedAt" FROM users WHERE email = $1',
    [email],
  );
  return rows[0];
}

/**
 * The account stored as `email` is written, ASCII letters' case aside: what citext compares on a
 * cluster of the C locale, whatever the server's locale. On a UTF-8 locale citext folds more (İ to
 * i), so an address typed with İ found ivan@… while its failed logins were counted under its own
 * folded form, i̇van@…: another spelling, another allowance of guesses (found by an audit).
 */
export async function findCredentialsAsTyped(q: Queryable, email: string): Promise<Credentials | undefined> {
  const { rows } = await q.query<Credentials>(
    `SELECT id, password_hash AS "passwordHash", status, password_changed_at AS "passwordChangedAt" FROM users
      WHERE email = $1 AND lower(email::text COLLATE "C") = lower($1::text COLLATE "C")`,
    [email],
  );
  return rows[0];
}

export async function findCredentialsById(q: Queryable, userId: string): Promise<Credentials | undefined> {
  const { rows } = await q.query<Credentials>('SELECT id, password_hash AS "passwordHash", status, password_changed_at AS "passwordChangedAt" FROM users WHERE id = $1', [userId]);
  return rows[0];
}

/** The email a user signs in with; undefined when there is no such user. */
export async function userEmail(q: Queryable, userId: string): Promise<string | undefined> {
  const { rows } = await q.query<{ email: string }>('SELECT email::text AS email FROM users WHERE id = $1', [userId]);
  return rows[0]?.email;
}

/**
 * Replaces the user's password hash; the change is stamped by the database's clock (every process
 * reads changes by it, whatever its own clock says), to the millisecond as tokens carry it, and
 * always later than the user's previous change: the stamp is the password's version. With
 * `replacing`, only over that hash: null when the password is another by now. Undefined when there
 * is no such user.
 */
export async function setPasswordHash(q: Queryable, userId: string, passwordHash: string, now: Date, replacing?: string): Promise<Date | null | undefined> {
  const { rows } = await q.query<{ changed_at: Date | null }>(
    `WITH changed AS (
       UPDATE users SET password_hash = $2, updated_at = $3,
              password_changed_at = greatest(date_trunc('milliseconds', clock_timestamp()), password_changed_at + interval '1 millisecond')
        WHERE id = $1 AND ($4::text IS NULL OR password_hash = $4)
        RETURNING password_changed_at)
     SELECT (SELECT password_changed_at FROM changed) AS changed_at FROM users WHERE id = $1`,
    [userId, passwordHash, now, replacing ?? null],
  );
  return rows[0] === undefined ? undefined : rows[0].changed_at;
}

export interface PasswordChange {
  id: string;
  changed_at: Date;
  /** changed_at to the microsecond, as text: the page cursor (a Date keeps milliseconds only). */
  at: string;
}

/**
 * Password changes for the token revocations of every process, oldest first, at most `limit`:
 * those of the last `lifetimeSeconds` by the database's clock, and no older than `overlapSeconds`
 * before `seen` (the newest change a previous read saw); after `page` (the last row of the previous
 * page of this read) when given.
 */
export async function passwordChanges(
  q: Queryable,
  window: { lifetimeSeconds: number; seen: Date | null; overlapSeconds: number },
  page: PasswordChange | null,
  limit: number,
): Promise<PasswordChange[]> {
  const { rows } = await q.query<PasswordChange>(
    `SELECT id, password_changed_at AS changed_at, to_char(password_changed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS at FROM users
      WHERE password_changed_at > greatest(now() - make_interval(secs => $1), coalesce($2::timestamptz - make_interval(secs => $3), '-infinity'))
        AND ($4::timestamptz IS NULL OR (password_changed_at, id) > ($4::timestamptz, $5::uuid))
      ORDER BY password_changed_at, id LIMIT $6`,
    [window.lifetimeSeconds, window.seen, window.overlapSeconds, page?.at ?? null, page?.id ?? null, limit],
  );
  return rows;
}

/** Locks the aggregate root; false when there is no such user. */
export async function lockUser(q: Queryable, userId: string): Promise<boolean> {
  const { rowCount } = await q.query('SELECT 1 FROM users WHERE id = $1 FOR UPDATE', [userId]);
  return rowCount === 1;
}

/** A user's status, unlocked (an actor's row is not the aggregate being changed); undefined when there is no such user. */
export async function userStatus(q: Queryable, userId: string): Promise<'active' | 'disabled' | undefined> {
  const { rows } = await q.query<{ status: 'active' | 'disabled' }>('SELECT status FROM users WHERE id = $1', [userId]);
  return rows[0]?.status;
}

export async function touchUser(q: Queryable, userId: string, now: Date): Promise<void> {
  await q.query('UPDATE users SET updated_at = $2 WHERE id = $1', [userId, now]);
}

export async function selectRoles(q: Queryable, userId: string): Promise<Role[]> {
  const { rows } = await q.query<{ role: Role }>(
    `SELECT role FROM user_roles WHERE user_id = $1
     ORDER BY array_position(ARRAY['buyer', 'seller', 'admin'], role)`,
    [userId],
  );
  return rows.map((r) => r.role);
}

export interface UserRow {
  id: string;
  email: string;
  status: 'active' | 'disabled';
  created_at: Date;
  updated_at: Date;
  roles: Role[];
  first_name: string | null;
  last_name: string | null;
  phone: string | null;
  address_json: unknown[] | null;
  profile_updated_at: Date | null;
}

/** A user with roles and profile, without the password hash. */
export async function selectUser(q: Queryable, userId: string): Promise<UserRow | undefined> {
  const { rows } = await q.query<UserRow>(
    `SELECT u.id, u.email::text AS email, u.status, u.created_at, u.updated_at,
            ARRAY(SELECT r.role FROM user_roles r WHERE r.user_id = u.id
                  ORDER BY array_position(ARRAY['buyer', 'seller', 'admin'], r.role)) AS roles,
            p.first_name, p.last_name, p.phone, p.address_json, p.updated_at AS profile_updated_at
       FROM users u
       LEFT JOIN user_profiles p ON p.user_id = u.id
      WHERE u.id = $1`,
    [userId],
  );
  return rows[0];
}

export interface ProfileRow {
  first_name: string | null;
  last_name: string | null;
  phone: string | null;
  address_json: unknown[];
}

export async function selectProfileForUpdate(q: Queryable, userId: string): Promise<ProfileRow | undefined> {
  const { rows } = await q.query<ProfileRow>(
    'SELECT first_name, last_name, phone, address_json FROM user_profiles WHERE user_id = $1 FOR UPDATE',
    [userId],
  );
  return rows[0];
}

export async function updateProfile(q: Queryable, userId: string, profile: ProfileRow, now: Date): Promise<void> {
  await q.query(
    `UPDATE user_profiles
        SET first_name = $2, last_name = $3, phone = $4, address_json = $5, updated_at = $6
      WHERE user_id = $1`,
    [userId, profile.first_name, profile.last_name, profile.phone, JSON.stringify(profile.address_json), now],
  );
}

/** Holds the bootstrap of the admin account to one process at a time, until the transaction ends. */
export async function lockAdminBootstrap(q: Queryable): Promise<void> {
  await q.query('SELECT pg_advisory_xact_lock($1, 0)', [LOCK_ADMIN_BOOTSTRAP]);
}

// --- login attempts ---------------------------------------------------------------------------

/** The key an address is counted under: itself for IPv4, its /64 network for IPv6. */
export async function addressKey(q: Queryable, ip: string, v6PrefixLength = 64): Promise<string> {
  const { rows } = await q.query<{ key: string }>(
    `SELECT (CASE WHEN family(a) = 6 THEN network(set_masklen(a, $2))::inet ELSE host(a)::inet END)::text AS key
       FROM (SELECT $1::inet AS a) AS given`,
    [ip, v6PrefixLength],
  );
  return (rows[0] as { key: string }).key;
}

/**
 * Serialises the check-and-record of login attempts per email and per address, so concurrent
 * attempts cannot all pass the check before any is counted. Always email first, then address.
 */
export async function lockLoginKeys(q: Queryable, email: string, address: string): Promise<void> {
  await q.query('SELECT pg_advisory_xact_lock($1, hashtext(lower($2)))', [LOCK_LOGIN_EMAIL, email]);
  await q.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [LOCK_LOGIN_ADDRESS, address]);
}

/**
 * Recent attempts that did not succeed, newest first: failures, and attempts still pending (their
 * password being checked; `pendingAfter` bounds how long one may be, before it counts as failed).
 */
export interface UnsucceededAttempts {
  failed: Date[];
  pending: Date[];
}

/**
 * The recent unsucceeded attempts of one email from one address, of one address, and of one email
 * from anywhere: each list newest first and at most its limit long, in one round trip.
 */
export async function recentFailures(
  q: Queryable,
  email: string,
  address: string,
  since: Date,
  limits: Readonly<Record<'emailAndAddress' | 'address' | 'email', number>>,
  pendingAfter: Date,
): Promise<Record<'emailAndAddress' | 'address' | 'email', UnsucceededAttempts>> {
  const recent = (where: string, limit: string) =>
    `SELECT attempted_at, (NOT settled AND attempted_at > $3) AS pending FROM login_attempts
      WHERE ${where} AND NOT succeeded AND attempted_at > $4 ORDER BY attempted_at DESC LIMIT ${limit}`;
  const { rows } = await q.query<{ key: 'emailAndAddress' | 'address' | 'email'; attempted_at: Date; pending: boolean }>(
    // An account from one IPv6 client counts by its /48: one home or office holds 256 or more /64s,
    // enough to pass the limit per account from anywhere from one place. `<<=` is false for the
    // email's IPv4 attempts (set_masklen(ip, 48) would fail on them: a dual-stack user's login was a 500).
    `SELECT 'emailAndAddress' AS key, * FROM (${recent(
      'email = $1 AND (CASE WHEN family($2::inet) = 6 THEN ip <<= network(set_masklen($2::inet, 48)) ELSE ip = $2::inet END)',
      '$5',
    )}) AS pair
     UNION ALL SELECT 'address', * FROM (${recent('ip = $2::inet', '$6')}) AS by_address
     UNION ALL SELECT 'email', * FROM (${recent('email = $1', '$7')}) AS by_email`,
    [email, address, pendingAfter, since, limits.emailAndAddress, limits.address, limits.email],
  );
  const lists = { emailAndAddress: { failed: [], pending: [] }, address: { failed: [], pending: [] }, email: { failed: [], pending: [] } } as Record<
    'emailAndAddress' | 'address' | 'email',
    UnsucceededAttempts
  >;
  for (const r of rows) lists[r.key][r.pending ? 'pending' : 'failed'].push(r.attempted_at);
  // UNION ALL keeps no order of its own: newest first again.
  for (const list of Object.values(lists)) for (const dates of [list.failed, list.pending]) dates.sort((a, b) => b.getTime() - a.getTime());
  return lists;
}

/**
 * Locks the address's registrations and reads its attempts since `since`, newest first and at most
 * `limit`: concurrent registrations cannot all pass the count before one is recorded.
 */
export async function lockRecentRegistrations(tx: Queryable, address: string, since: Date, limit: number): Promise<Date[]> {
  await tx.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [LOCK_REGISTER_ADDRESS, address]);
  const { rows } = await tx.query<{ attempted_at: Date }>(
    'SELECT attempted_at FROM registration_attempts WHERE ip = $1::inet AND attempted_at > $2 ORDER BY attempted_at DESC LIMIT $3',
    [address, since, limit],
  );
  return rows.map((r) => r.attempted_at);
}

export async function insertRegistrationAttempt(tx: Queryable, attempt: { id: string; address: string; now: Date }): Promise<void> {
  await tx.query('INSERT INTO registration_attempts (id, ip, attempted_at) VALUES ($1, $2::inet, $3)', [attempt.id, attempt.address, attempt.now]);
}

/** Recorded before the password is checked, pending (counted by the limits) until settleAttempt. */
export async function insertAttempt(
  q: Queryable,
  attempt: { id: string; email: string; address: string; userId: string | null; now: Date },
): Promise<void> {
  await q.query(
    `INSERT INTO login_attempts (id, email, ip, user_id, succeeded, settled, attempted_at)
     VALUES ($1, $2, $3::inet, $4, false, false, $5)`,
    [attempt.id, attempt.email, attempt.address, attempt.userId, attempt.now],
  );
}

/** The attempt's password was checked: right (succeeded) or not. */
export async function settleAttempt(q: Queryable, attemptId: string, succeeded: boolean): Promise<void> {
  await q.query('UPDATE login_attempts SET succeeded = $2, settled = true WHERE id = $1', [attemptId, succeeded]);
}

/** Deletes at most `batchMax` login and `batchMax` registration attempts made before `before`; returns how many of each went. */
export async function pruneAttempts(q: Queryable, before: Date, batchMax: number): Promise<{ logins: number; registrations: number }> {
  const { rows } = await q.query<{ logins: number; registrations: number }>(
    `WITH logins AS (
       DELETE FROM login_attempts WHERE id IN (SELECT id FROM login_attempts WHERE attempted_at < $1 LIMIT $2) RETURNING 1
     ), registrations AS (
       DELETE FROM registration_attempts WHERE id IN (SELECT id FROM registration_attempts WHERE attempted_at < $1 LIMIT $2) RETURNING 1
     )
     SELECT (SELECT count(*) FROM logins)::int AS logins, (SELECT count(*) FROM registrations)::int AS registrations`,
    [before, batchMax],
  );
  return rows[0] ?? { logins: 0, registrations: 0 };
}
