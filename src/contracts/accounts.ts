import { type Static, Type } from '@sinclair/typebox';
import { defineEvent } from './define.ts';
import { registerContracts } from './registry.ts';

/**
 * Events of the accounts domain. Patterns, not `format`, so the contract checker needs no format
 * registry. Profile details (names, phone, addresses) stay out of events: the outbox is a durable
 * log, and personal data in it could never be erased. The email is the one exception, because
 * notifications need an address to write to.
 */
const Uuid = Type.String({ pattern: '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$', maxLength: 36 });
const Instant = Type.String({ pattern: '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d+)?Z$', maxLength: 40 });
const RoleName = Type.Union([Type.Literal('buyer'), Type.Literal('seller'), Type.Literal('admin')]);

export const UserRegisteredV1 = defineEvent(
  'accounts.user_registered.v1',
  Type.Object(
    {
      userId: Uuid,
      email: Type.String({ minLength: 3, maxLength: 254 }),
      roles: Type.Array(RoleName, { minItems: 1, maxItems: 3, uniqueItems: true }),
      registeredAt: Instant,
    },
    { additionalProperties: false },
  ),
);
export type UserRegisteredV1 = Static<typeof UserRegisteredV1.schema>;

export const RoleAssignedV1 = defineEvent(
  'accounts.role_assigned.v1',
  Type.Object(
    {
      userId: Uuid,
      role: RoleName,
      /** The admin who assigned it. */
      assignedBy: Uuid,
      assignedAt: Instant,
    },
    { additionalProperties: false },
  ),
);
export type RoleAssignedV1 = Static<typeof RoleAssignedV1.schema>;

export const PROFILE_FIELDS = ['firstName', 'lastName', 'phone', 'addresses'] as const;

export const ProfileUpdatedV1 = defineEvent(
  'accounts.profile_updated.v1',
  Type.Object(
    {
      userId: Uuid,
      /** Which fields changed; their values are read through the accounts API, not carried here. */
      changedFields: Type.Array(Type.Union(PROFILE_FIELDS.map((f) => Type.Literal(f))), { minItems: 1, maxItems: 4, uniqueItems: true }),
      updatedAt: Instant,
    },
    { additionalProperties: false },
  ),
);
export type ProfileUpdatedV1 = Static<typeof ProfileUpdatedV1.schema>;

registerContracts(UserRegisteredV1, RoleAssignedV1, ProfileUpdatedV1);
