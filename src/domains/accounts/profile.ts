import { isDeepStrictEqual } from 'node:util';
import { type PROFILE_FIELDS, ProfileUpdatedV1 } from '../../contracts/accounts.ts';
import { findCardData } from '../../platform/card-data.ts';
import { withTransaction } from '../../platform/db/pool.ts';
import { AppError, notFound } from '../../platform/http/errors.ts';
import type { Trace } from '../../platform/messaging/envelope.ts';
import { appendEvents } from '../../platform/messaging/outbox.ts';
import type { AccountsDeps } from './deps.ts';
import { readUser } from './read-user.ts';
import { charactersWithin } from '../../platform/unicode.ts';
import type { ProfilePatchBody, User } from './schemas.ts';
import { type ProfileRow, lockUser, selectProfileForUpdate, touchUser, updateProfile } from './sql.ts';

type ProfileField = (typeof PROFILE_FIELDS)[number];

/** The profile after the patch: fields left out stay, null clears. Pure. */
export function applyProfilePatch(current: ProfileRow, patch: ProfilePatchBody): { next: ProfileRow; changed: ProfileField[] } {
  const next: ProfileRow = {
    first_name: patch.firstName !== undefined ? patch.firstName : current.first_name,
    last_name: patch.lastName !== undefined ? patch.lastName : current.last_name,
    phone: patch.phone !== undefined ? patch.phone : current.phone,
    address_json: patch.addresses !== undefined ? patch.addresses : current.address_json,
  };
  const changed: ProfileField[] = [];
  if (next.first_name !== current.first_name) changed.push('firstName');
  if (next.last_name !== current.last_name) changed.push('lastName');
  if (next.phone !== current.phone) changed.push('phone');
  if (!isDeepStrictEqual(next.address_json, current.address_json)) changed.push('addresses');
  return { next, changed };
}

/** A shipping address's second line, as checkout takes it (its schema's line2). */
const SHIPPING_LINE_MAX = 200;

/** What a profile may not hold, whatever its schema lets through: card data, labels a checkout cannot tell apart, lines it cannot ship to. */
export function checkProfilePatch(patch: ProfilePatchBody): void {
  // A saved address is copied into orders at checkout: a card number must not get in this way.
  const cardField = findCardData(patch);
  if (cardField) throw new AppError('VALIDATION_FAILED', `card numbers and security codes are never stored (body${cardField})`);
  if (patch.addresses && patch.addresses.filter((a) => a.isDefault === true).length > 1) {
    throw new AppError('VALIDATION_FAILED', 'body/addresses may mark at most one address isDefault');
  }
  // A checkout picks a saved address by its label, ignoring case.
  const labels = (patch.addresses ?? []).flatMap((a) => (a.label === undefined ? [] : [a.label.toLowerCase()]));
  const twice = labels.find((label, i) => labels.indexOf(label) !== i);
  if (twice !== undefined) throw new AppError('VALIDATION_FAILED', `body/addresses label two addresses "${twice}" (labels are matched ignoring case)`);
}

/**
 * A checkout joins lines 2 and 3 with ", " into a shipping address's line2, which holds 200
 * characters: an address sent with longer ones is refused here rather than by every checkout (found
 * by an audit). One whose lines are those of an address already saved (before this check: a form
 * sending the whole list back) is let be, as it was.
 */
function checkAddressLines(patch: ProfilePatchBody, saved: readonly unknown[]): void {
  for (const [i, a] of (patch.addresses ?? []).entries()) {
    if (charactersWithin(a.lines.slice(1).join(', '), 0, SHIPPING_LINE_MAX)) continue;
    if (saved.some((s) => isDeepStrictEqual((s as { lines?: unknown }).lines, a.lines))) continue;
    throw new AppError('VALIDATION_FAILED', `body/addresses/${i}/lines: lines 2 and 3 hold at most ${SHIPPING_LINE_MAX} characters together with the ", " that joins them (a shipping address has one second line)`);
  }
}

export async function updateMyProfile(deps: AccountsDeps, userId: string, patch: ProfilePatchBody, trace: Trace | null): Promise<User> {
  checkProfilePatch(patch);
  const now = deps.clock.now();
  return withTransaction(deps.pool, async (tx) => {
    if (!(await lockUser(tx, userId))) throw notFound('user');
    const current = await selectProfileForUpdate(tx, userId);
    if (!current) throw notFound('profile');
    checkAddressLines(patch, current.address_json);
    const { next, changed } = applyProfilePatch(current, patch);
    if (changed.length > 0) {
      await updateProfile(tx, userId, next, now);
      await touchUser(tx, userId, now);
      const data: ProfileUpdatedV1 = { userId, changedFields: changed, updatedAt: now.toISOString() };
      await appendEvents(tx, 'accounts', [{ type: ProfileUpdatedV1.type, aggregateId: userId, aggregateType: 'user', data }], trace, now);
    }
    return (await readUser(tx, userId)) as User;
  });
}
