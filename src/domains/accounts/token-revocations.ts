import type { AccountsDeps } from './deps.ts';
import { type PasswordChange, passwordChanges } from './sql.ts';

/** How often each process reads the password changes made since it last looked. */
export const PASSWORD_CHANGE_POLL_MS = 2000;
/** Each read goes back this far before the last change seen: a change committed late, stamped earlier, is still found. */
const OVERLAP_SECONDS = 60;
const PAGE = 500;

/**
 * Tells this process's token service of the password changes any process made: a user's access
 * tokens issued before the change are refused from then on. Changes are stamped, and the window
 * read is measured, by the database's clock alone, so processes whose clocks differ miss none. The
 * first read goes back a token lifetime and two minutes (no older token is still valid); later ones start a
 * minute before the newest change seen (a change committed late is still found). Pages go by
 * (time, user id), so changes of the same instant are not skipped.
 */
export class PasswordChangeReader {
  #seen: Date | null = null;
  constructor(readonly deps: AccountsDeps) {}

  async read(): Promise<number> {
    const { tokens, pool } = this.deps;
    const window = { lifetimeSeconds: tokens.revocationKeptSeconds, seen: this.#seen, overlapSeconds: OVERLAP_SECONDS };
    let page: PasswordChange | null = null;
    let count = 0;
    for (;;) {
      const changes = await passwordChanges(pool, window, page, PAGE);
      for (const change of changes) {
        tokens.revokeIssuedBefore(change.id, change.changed_at);
        if (!this.#seen || change.changed_at > this.#seen) this.#seen = change.changed_at;
      }
      count += changes.length;
      page = changes[changes.length - 1] ?? null;
      if (changes.length < PAGE) return count;
    }
  }
}
