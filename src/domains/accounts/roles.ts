import { RoleAssignedV1 } from '../../contracts/accounts.ts';
import { withTransaction } from '../../platform/db/pool.ts';
import { notFound } from '../../platform/http/errors.ts';
import type { Role } from '../../platform/http/tokens.ts';
import { newId } from '../../platform/ids.ts';
import { appendEvents } from '../../platform/messaging/outbox.ts';
import type { AccountsDeps } from './deps.ts';
import { insertRole, lockUser, selectRoles, touchUser } from './sql.ts';

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
export async function assignRole(deps: AccountsDeps, input: { userId: string; role: Role; assignedBy: string }): Promise<RoleAssignment> {
  const now = deps.clock.now();
  return withTransaction(deps.pool, async (tx) => {
    if (!(await lockUser(tx, input.userId))) throw notFound('user');
    const assigned = await insertRole(tx, { id: newId(), userId: input.userId, role: input.role, assignedBy: input.assignedBy, now });
    if (assigned) {
      await touchUser(tx, input.userId, now);
      const data: RoleAssignedV1 = { userId: input.userId, role: input.role, assignedBy: input.assignedBy, assignedAt: now.toISOString() };
      await appendEvents(tx, 'accounts', [{ type: RoleAssignedV1.type, aggregateId: input.userId, aggregateType: 'user', data }], now);
    }
    return { userId: input.userId, role: input.role, assigned, roles: await selectRoles(tx, input.userId) };
  });
}
