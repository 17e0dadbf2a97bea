import type { AccountsDeps } from './deps.ts';
import { passwordChangesSince } from './sql.ts';

/** How often each process reads the password changes made since it last looked. */
export const PASSWORD_CHANGE_POLL_MS = 2000;
/** Each read goes back this far before the last change seen: a change committed late, dated earlier, is still found. */
const OVERLAP_MS = 10_000;
const PAGE = 500;

/**
 * Tells this process's token service of the password changes any process made: a user's access
 * tokens issued before the change are refused from then on. The first read goes back one token
 * lifetime (no older token is still valid); later ones start a little before the newest change seen.
 */
export class PasswordChangeReader {
  #seen: Date | undefined;
  constructor(readonly deps: AccountsDeps) {}

  async read(): Promise<number> {
    const { clock, tokens, pool } = this.deps;
    const lifetimeAgo = new Date(clock.now().getTime() - tokens.ttlSeconds * 1000);
    let after = this.#seen ? new Date(Math.max(this.#seen.getTime() - OVERLAP_MS, lifetimeAgo.getTime())) : lifetimeAgo;
    let count = 0;
    for (;;) {
      const changes = await passwordChangesSince(pool, after, PAGE);
      for (const change of changes) tokens.revokeIssuedBefore(change.id, change.password_changed_at);
      count += changes.length;
      const last = changes[changes.length - 1];
      if (last) {
        after = last.password_changed_at;
        if (!this.#seen || last.password_changed_at > this.#seen) this.#seen = last.password_changed_at;
      }
      if (changes.length < PAGE) return count;
    }
  }
}
