/**
 * What the CLI's commands run: the marketplace with its domains, the PostgreSQL client, the seed.
 * `src/cli.ts` loads this module when a command runs, so that `--help`, `--version` and a usage or
 * configuration mistake are answered without loading all of bazaar (about 2 s through tsx).
 */
export { createMarketplace, prepareDatabases } from './app.ts';
export { adminCredentialsProblem } from './domains/accounts/index.ts';
export { readModelEventTypes } from './domains/search/index.ts';
export { pendingMigrations } from './platform/db/migrate.ts';
export { createPool } from './platform/db/pool.ts';
export { renderSchemaDocument } from './platform/db/schema-doc.ts';
export { listDeadLetters, outboxStatus, pruneOutbox, replayDeadLetter } from './platform/messaging/admin.ts';
export { seedCatalog, seedDemo, seedDepsOf } from './seed/index.ts';
