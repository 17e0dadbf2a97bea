import type pg from 'pg';
import { afterAll, beforeAll } from 'vitest';
import { type Migration, allMigrations } from '../../src/platform/db/migrate.ts';
import type { DomainName } from '../../src/platform/domains.ts';
import { scratchDatabase } from './scratch-database.ts';

/**
 * For a test of one migration on data written before it: a scratch database of its own (dropped
 * after the file's tests) holding every migration of `domain` before `migrationId`; the test writes
 * its rows, then `apply()` runs the migration under test.
 */
export function migrationScratch(domain: DomainName, migrationId: string): { readonly db: pg.Client; apply(): Promise<void> } {
  let scratch: Awaited<ReturnType<typeof scratchDatabase>> | undefined;
  let underTest: Migration | undefined;
  beforeAll(async () => {
    scratch = await scratchDatabase(`${domain}_${migrationId.split('/')[1]?.slice(0, 4)}`);
    const migrations = await allMigrations(domain);
    const at = migrations.findIndex((m) => m.id === migrationId);
    if (at <= 0) throw new Error(`${domain} has no migration ${migrationId} after its first`);
    for (const m of migrations.slice(0, at)) await scratch.db.query(m.sql);
    underTest = migrations[at];
  });
  afterAll(async () => {
    await scratch?.drop();
  });
  return {
    get db() {
      if (!scratch) throw new Error('the scratch database is made before the tests run');
      return scratch.db;
    },
    async apply() {
      if (!underTest) throw new Error('the migration under test is found before the tests run');
      await this.db.query(underTest.sql);
    },
  };
}
