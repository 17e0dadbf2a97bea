-- Outbox and inbox inserts no longer NOTIFY from inside the writing transaction. PostgreSQL takes
-- one server-wide lock at the commit of every transaction that has sent a notification and holds it
-- through the commit's WAL flush, so these triggers serialised the commits of every domain behind
-- one another, without group commit. The writing process now wakes its own relay or consumer once
-- the commit is done (pool.ts, CommitSignals); a process that runs no delivery of its own NOTIFYs
-- after its commit instead (docs/adr/0009-wake-ups-after-commit.md). The trigger that wakes
-- consumers when an event is made pending again (a replayed dead letter) stays: it is rare.
DROP TRIGGER IF EXISTS {{outbox}}_notify ON {{outbox}};
DROP TRIGGER IF EXISTS {{inbox}}_notify ON {{inbox}};
