import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { lockHolderOf, socketDirFor, socketDirectoriesSetting } from '../../src/platform/db/embedded.ts';

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

  it('takes a process with no arguments (a kernel thread, a zombie) for a stale lock, not for one it cannot tell (found by a review: a start refused)', () => {
    expect(lockHolderOf(4242, cluster, seen([])).kind).toBe('stale');
  });

  it("judges a line as ps shows it (no /proc) without splitting its paths at spaces (found by a review: this cluster's server under a spaced path was a stranger)", () => {
    const spaced = '/Users/ada/My Projects/bazaar/.data/postgres';
    const line = (text: string) => () => ({ line: text });
    expect(lockHolderOf(4242, spaced, line(`/Users/ada/My Projects/bazaar/node_modules/pg/bin/postgres -D ${spaced} -p 5000 -c listen_addresses=127.0.0.1`)).kind).toBe('postmaster');
    expect(lockHolderOf(4242, spaced, line('/opt/pg/bin/postgres -D .data/postgres -p 5000')).kind).toBe('unknown');
    expect(lockHolderOf(4242, spaced, line('/usr/bin/sleep 600')).kind).toBe('stale');
    expect(lockHolderOf(4242, spaced, line('')).kind).toBe('stale');
    // Not this cluster's server (found by a review: each stopped a start after a reboot).
    expect(lockHolderOf(4242, spaced, line(`/opt/pg/bin/postgres -D ${spaced}-other -p 5000`)).kind).toBe('stale');
    expect(lockHolderOf(4242, spaced, line('/opt/homebrew/opt/postgresql@16/bin/postgres -D /opt/homebrew/var/postgresql@16')).kind).toBe('stale');
    expect(lockHolderOf(4242, spaced, line('psql -U postgres')).kind).toBe('stale');
    expect(lockHolderOf(4242, spaced, line('tail -f /opt/homebrew/var/log/postgresql@16.log')).kind).toBe('stale');
  });

  it('cannot tell a process whose command line cannot be read, or a PostgreSQL whose data directory is not known', () => {
    expect(lockHolderOf(4242, cluster, () => undefined).kind).toBe('unknown');
    expect(lockHolderOf(4242, cluster, seen(['postgres'])).kind).toBe('unknown');
    expect(lockHolderOf(4242, cluster, seen(['postgres', '-D', 'postgres-abc'])).kind).toBe('unknown');
  });

  it("reads this machine's processes: the system's first process and a child of this test are no PostgreSQL", async () => {
    expect(lockHolderOf(1, cluster).kind).toBe('stale');
    const child = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      await new Promise((resolve) => child.once('spawn', resolve));
      expect(lockHolderOf(child.pid as number, cluster).kind).toBe('stale');
    } finally {
      child.kill('SIGKILL');
    }
  });
});

/** Where the embedded server's Unix-domain socket goes, when it can have one. */
describe('socketDirFor', () => {
  it("puts the socket in the cluster's own directory, made absolute", () => {
    expect(socketDirFor('/var/lib/bazaar/postgres-abc', 54321, 'linux')).toBe('/var/lib/bazaar/postgres-abc');
    expect(socketDirFor('data/postgres', 54321, 'darwin')).toBe(`${process.cwd()}/data/postgres`);
  });

  it('gives none on Windows, nor where the socket file would not fit a socket address (TCP alone then)', () => {
    expect(socketDirFor('C:/bazaar/postgres', 54321, 'win32')).toBeUndefined();
    const deep = `/home/someone/${'a'.repeat(63)}/postgres`; // its socket file's path takes 101 bytes
    expect(socketDirFor(deep, 54321, 'linux')).toBeUndefined();
    expect(socketDirFor(deep.slice(1), 54321, 'linux')).toBeUndefined();
    expect(socketDirFor(`/home/someone/${'a'.repeat(62)}/postgres`, 54321, 'linux')).toBe(`/home/someone/${'a'.repeat(62)}/postgres`);
  });
});

describe('socketDirectoriesSetting', () => {
  it('quotes the directory, since PostgreSQL splits the setting at commas (found by a review: a DATA_DIR under "Projects, 2026" did not start)', () => {
    expect(socketDirectoriesSetting('/home/a/Projects, 2026/data/postgres')).toBe('"/home/a/Projects, 2026/data/postgres"');
    expect(socketDirectoriesSetting('/home/a/say "hi"/postgres')).toBe('"/home/a/say ""hi""/postgres"');
    expect(socketDirectoriesSetting(undefined)).toBe('');
  });
});
