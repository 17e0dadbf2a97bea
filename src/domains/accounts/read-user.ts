import type { Queryable } from '../../platform/db/pool.ts';
import type { Address, User } from './schemas.ts';
import { selectUser } from './sql.ts';

/** A user as the API shows it: roles and profile, never the password hash. */
export async function readUser(q: Queryable, userId: string): Promise<User | undefined> {
  const row = await selectUser(q, userId);
  if (!row) return undefined;
  return {
    id: row.id,
    email: row.email,
    status: row.status,
    roles: row.roles,
    profile: {
      firstName: row.first_name,
      lastName: row.last_name,
      phone: row.phone,
      addresses: (row.address_json ?? []) as Address[],
      updatedAt: (row.profile_updated_at ?? row.updated_at).toISOString(),
    },
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  };
}
