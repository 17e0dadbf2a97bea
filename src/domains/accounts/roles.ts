import { RoleAssignedV1 } from '../../contracts/accounts.ts';
import { withTransaction } from '../../platform/db/pool.ts';
import { AppError, notFound } from '../../platform/http/errors.ts';
import type { Role } from '../../platform/http/tokens.ts';
import { newId } from '../../platform/ids.ts';
import type { Trace } from '../../platform/messaging/envelope.ts';
import { appendEvents } from '../../platform/messaging/outbox.ts';
import type { AccountsDeps } from './deps.ts';
import { insertRole, userStatus, lockUser, selectRoles, touchUser } from './sql.ts';

export interface RoleAssignment {
  userId: string;
  role: Role;
  /** false when the user held the role already: nothing was written. */
  assigned: boolean;
  roles: Role[];
}

/**
 * Gives a user a role, once: a user_roles row and accounts.role_assigned.v1 the first time, nothing
 * on a repeat. The new role is in the user's next access token.
 */
export async function assignRole(deps: AccountsDeps, input: { userId: string; role: Role; assignedBy: string }, trace: Trace | null): Promise<RoleAssignment> {
  const now = deps.clock.now();
  return withTransaction(deps.pool, async (tx) => {
    // A valid token outlives what it was issued for: the admin who assigns must still be an active
    // account here (assigned_by names a user of this database).
    const actor = await userStatus(tx, input.assignedBy);
    if (actor === undefined) throw new AppError('FORBIDDEN', 'the account this token was issued for does not exist');
    if (actor === 'disabled') throw new AppError('ACCOUNT_DISABLED', 'the account this token was issued for is disabled');
    if (!(await lockUser(tx, input.userId))) throw notFound('user');
    const assigned = await insertRole(tx, { id: newId(), userId: input.userId, role: input.role, assignedBy: input.assignedBy, now });
    if (assigned) {
      await touchUser(tx, input.userId, now);
      const data: RoleAssignedV1 = { userId: input.userId, role: input.role, assignedBy: input.assignedBy, assignedAt: now.toISOString() };
      await appendEvents(tx, 'accounts', [{ type: RoleAssignedV1.type, aggregateId: input.userId, aggregateType: 'user', data }], trace, now);
    }
    return { userId: input.userId, role: input.role, assigned, roles: await selectRoles(tx, input.userId) };
  });
}
