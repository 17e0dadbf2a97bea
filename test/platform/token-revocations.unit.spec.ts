import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/platform/clock.ts';
import { TokenService, generateKeyring, parseKeyring } from '../../src/platform/http/tokens.ts';
import { newId } from '../../src/platform/ids.ts';

describe('token revocations', () => {
  it('keeps refusing a token of the old password signed just after the change, for its whole life (found by a review: it worked again at the end)', async () => {
    const clock = new ManualClock('2026-12-06T10:00:00.000Z');
    const tokens = new TokenService(parseKeyring(generateKeyring()), 'bazaar', 'bazaar-api', 900, clock);
    const changedAt = clock.now();
    const user = newId();
    tokens.revokeIssuedBefore(user, changedAt);
    // A login that checked the old password (version 0) before the change signs its token a second later.
    clock.advance(1000);
    const { token } = await tokens.sign({ userId: user, roles: ['buyer'] }, clock.now(), null);
    await expect(tokens.verify(token)).rejects.toMatchObject({ code: 'INVALID_TOKEN' });
    // A token lifetime after the change, another user's change prunes old revocations; this token has half a second left.
    clock.advance(900_000 - 500);
    tokens.revokeIssuedBefore(newId(), clock.now());
    await expect(tokens.verify(token)).rejects.toMatchObject({ code: 'INVALID_TOKEN' });
    // The sign-in under the new password is not refused.
    const fresh = await tokens.sign({ userId: user, roles: ['buyer'] }, clock.now(), changedAt);
    await expect(tokens.verify(fresh.token)).resolves.toMatchObject({ userId: user });
  });
});
