import { describe, expect, it } from 'vitest';
import { lockHolderOf } from '../../src/platform/db/embedded.ts';

/** Who holds the pid of the embedded PostgreSQL's lock file: only its own server may be signalled. */
describe('lockHolderOf', () => {
  const cluster = '/var/lib/bazaar/postgres-abc';
  const seen = (args: string[], cwd?: string) => () => ({ args, ...(cwd ? { cwd } : {}) });

  it("knows this cluster's server by its program and data directory, relative ones too", () => {
    expect(lockHolderOf(4242, cluster, seen(['/opt/pg/bin/postgres', '-D', cluster, '-p', '5000'])).kind).toBe('postmaster');
    expect(lockHolderOf(4242, cluster, seen(['postgres', '-D', 'postgres-abc'], '/var/lib/bazaar')).kind).toBe('postmaster');
  });

  it("takes any other process, another cluster's PostgreSQL included, and this process and its parent, for a stale lock", () => {
    expect(lockHolderOf(4242, cluster, seen(['sleep', '600'])).kind).toBe('stale');
    expect(lockHolderOf(4242, cluster, seen(['/usr/lib/postgresql/15/bin/postgres', '-D', '/var/lib/postgresql/15/main'])).kind).toBe('stale');
    const never = () => {
      throw new Error('not asked');
    };
    expect(lockHolderOf(process.pid, cluster, never).kind).toBe('stale');
    expect(lockHolderOf(process.ppid, cluster, never).kind).toBe('stale');
  });

  it('cannot tell a process whose command line cannot be read, or a PostgreSQL whose data directory is not known', () => {
    expect(lockHolderOf(4242, cluster, () => undefined).kind).toBe('unknown');
    expect(lockHolderOf(4242, cluster, seen(['postgres'])).kind).toBe('unknown');
    expect(lockHolderOf(4242, cluster, seen(['postgres', '-D', 'postgres-abc'])).kind).toBe('unknown');
  });

  it("reads this machine's processes: this test's own runner is no PostgreSQL", () => {
    const child = lockHolderOf(1, cluster);
    expect(['stale', 'unknown']).toContain(child.kind);
  });
});
