import { existsSync, readFileSync, readlinkSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { chmod, chown, cp, link, rename, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import type { Logger } from 'pino';

/**
 * The zero-setup PostgreSQL: real binaries shipped as an npm package, data kept under DATA_DIR.
 * It listens on a free loopback port chosen at each start (5432 may be taken by another server).
 */
export interface EmbeddedServer {
  url: string;
  stop(): Promise<void>;
  /**
   * Resolves with a reason if the server exits without being asked to (killed, crashed): the
   * process that owns it has lost its databases and should stop. Never resolves for a server this
   * process did not start.
   */
  readonly lost: Promise<string>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitUntilGone(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!isAlive(pid)) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return !isAlive(pid);
}

/** Written to DATA_DIR by the process that started the cluster, removed when it stops it. */
const OWNER_FILE = 'embedded-postgres.json';

interface Owner {
  pid: number;
  port: number;
  /** The directory of the server's Unix-domain socket; absent: TCP only (or a server of an older version). */
  socketDir?: string;
}

async function readOwner(dataDir: string): Promise<Owner | undefined> {
  try {
    const owner = JSON.parse(await readFile(path.join(dataDir, OWNER_FILE), 'utf8')) as Partial<Owner>;
    if (!Number.isInteger(owner.pid) || !Number.isInteger(owner.port)) return undefined;
    return { pid: owner.pid as number, port: owner.port as number, ...(typeof owner.socketDir === 'string' ? { socketDir: owner.socketDir } : {}) };
  } catch {
    return undefined;
  }
}

/**
 * What holds the pid a postmaster.pid names. That file outlives a run killed with SIGKILL, and
 * after a reboot or a container's restart its pid may be any process's (this one's, even), which
 * must never be signalled: only a PostgreSQL server of this very cluster is.
 * - `postmaster`: a PostgreSQL server whose data directory is `pgDir`;
 * - `stale`: a live process that is certainly not one (its command line says so);
 * - `unknown`: its command line cannot be read.
 */
export type LockHolder = { kind: 'postmaster' | 'stale' | 'unknown'; pid: number };

/** What is known of a process's command line: its arguments (from /proc), or only the line `ps` shows. */
export type CommandLine = { args: string[]; cwd?: string } | { line: string };

export function lockHolderOf(pid: number, pgDir: string, commandLine: (pid: number) => CommandLine | undefined = commandLineOf): LockHolder {
  if (pid === process.pid || pid === process.ppid) return { kind: 'stale', pid };
  const seen = commandLine(pid);
  if (!seen) return { kind: 'unknown', pid };
  if ('line' in seen) return { kind: holderByLine(seen.line, pgDir), pid };
  // No arguments at all: a kernel thread or a zombie, never a running server.
  if (seen.args.length === 0) return { kind: 'stale', pid };
  const program = path.basename(seen.args[0] ?? '');
  if (program !== 'postgres' && program !== 'postmaster') return { kind: 'stale', pid };
  const at = seen.args.indexOf('-D');
  const dir = at >= 0 ? seen.args[at + 1] : undefined;
  // A PostgreSQL whose data directory cannot be told (none given, or relative to a directory not
  // known) may be this cluster's.
  if (dir === undefined || (!path.isAbsolute(dir) && seen.cwd === undefined)) return { kind: 'unknown', pid };
  return { kind: path.resolve(seen.cwd ?? '/', dir) === path.resolve(pgDir) ? 'postmaster' : 'stale', pid };
}

/**
 * The same judgement from a line as `ps` shows it, whose arguments cannot be told apart (a path may
 * hold spaces): this cluster's server is started with `-D <its absolute directory>`, so the line
 * holding that is one; a line of another program (`psql -U postgres`, a path holding "postgres") is
 * not, nor is a PostgreSQL given another absolute data directory; a PostgreSQL given a relative one
 * (an older start) may be this cluster's.
 */
function holderByLine(line: string, pgDir: string): LockHolder['kind'] {
  if (line.trim() === '') return 'stale';
  if (` ${line} `.includes(` -D ${path.resolve(pgDir)} `)) return 'postmaster';
  if (!/(^|\/)(postgres|postmaster)(\s|$)/.test(line)) return 'stale';
  return /\s-D\s+\//.test(line) ? 'stale' : 'unknown';
}

/** A process's arguments (and, on Linux, its working directory); undefined when they cannot be read. */
function commandLineOf(pid: number): CommandLine | undefined {
  try {
    const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter((a) => a !== '');
    let cwd: string | undefined;
    try {
      cwd = readlinkSync(`/proc/${pid}/cwd`);
    } catch {
      cwd = undefined;
    }
    return { args, ...(cwd ? { cwd } : {}) };
  } catch {
    // No /proc (macOS): ps shows the command line.
    try {
      return { line: execFileSync('ps', ['-o', 'command=', '-p', String(pid)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim() };
    } catch {
      return undefined;
    }
  }
}

/** A process's parent pid; undefined when it cannot be read. */
function parentOf(pid: number): number | undefined {
  try {
    // /proc/<pid>/stat: "pid (command) state ppid …", the command possibly holding spaces and parentheses.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    return Number.isInteger(ppid) ? ppid : undefined;
  } catch {
    try {
      const ppid = Number(execFileSync('ps', ['-o', 'ppid=', '-p', String(pid)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
      return Number.isInteger(ppid) && ppid > 0 ? ppid : undefined;
    } catch {
      return undefined;
    }
  }
}

async function runningPostmaster(pgDir: string): Promise<LockHolder | undefined> {
  const pidFile = path.join(pgDir, 'postmaster.pid');
  if (!existsSync(pidFile)) return undefined;
  const pid = Number((await readFile(pidFile, 'utf8')).split('\n')[0]);
  return Number.isInteger(pid) && pid > 0 && isAlive(pid) ? lockHolderOf(pid, pgDir) : undefined;
}

/**
 * A postmaster already running on the cluster belongs either to a live bazaar process (`npm start`
 * beside which a CLI command runs): its port is returned, to be shared and left running; or to a
 * run killed with SIGKILL: it is stopped cleanly, so that this process starts its own. A lock file
 * naming a live process that is not this cluster's PostgreSQL is stale: that process is left alone,
 * and PostgreSQL is told to pass over it (`staleLockPid`). One whose holder cannot be told is
 * refused, for a person to look at.
 */
async function shareOrStopRunning(
  dataDir: string,
  pgDir: string,
  log: Logger,
  share: boolean,
): Promise<{ port: number; socketDir?: string } | { staleLockPid?: number }> {
  const holder = await runningPostmaster(pgDir);
  if (holder === undefined) return {};
  if (holder.kind === 'stale') {
    log.warn({ pid: holder.pid }, 'the lock file of the embedded PostgreSQL names a process that is not it (left by a run that was killed): that process is left alone');
    return { staleLockPid: holder.pid };
  }
  if (holder.kind === 'unknown') {
    throw new Error(
      `${path.join(pgDir, 'postmaster.pid')} names pid ${holder.pid}, and whether that process is this DATA_DIR's PostgreSQL cannot be told: stop it if it is, or remove the file if it is not, then start again`,
    );
  }
  const { pid } = holder;
  const owner = await readOwner(dataDir);
  // The owner named by the file runs the server only if it is still the server's parent: a server
  // whose owner was killed has been handed to another parent, and the owner's pid, alive again
  // after a reboot, may be any process's.
  const parent = parentOf(pid);
  if (owner && owner.pid !== process.pid && isAlive(owner.pid) && (parent === undefined || parent === owner.pid)) {
    // A server sharing another process's PostgreSQL would lose it when that process stops.
    if (!share) {
      throw new Error(
        `another bazaar process (pid ${owner.pid}) runs the embedded PostgreSQL of this DATA_DIR: stop it first, or give this server a DATA_DIR of its own`,
      );
    }
    log.info({ owner: owner.pid, port: owner.port }, 'using the embedded PostgreSQL of the bazaar process running on this DATA_DIR');
    return owner.socketDir === undefined ? { port: owner.port } : { port: owner.port, socketDir: owner.socketDir };
  }
  log.warn({ pid }, 'stopping a PostgreSQL left running by an earlier run');
  process.kill(pid, 'SIGINT');
  if (!(await waitUntilGone(pid, 20000))) {
    process.kill(pid, 'SIGKILL');
    await waitUntilGone(pid, 5000);
  }
  return {};
}

interface Binaries {
  postgres: string;
  initdb: string;
}

/**
 * The PostgreSQL binaries come from the `embedded-postgres` package's per-platform package. We run
 * them ourselves rather than through its JS wrapper, whose exit hook calls process.exit on SIGINT
 * and would cut our graceful shutdown short.
 */
async function binaries(): Promise<Binaries> {
  const name = `@embedded-postgres/${os.platform()}-${os.arch()}`;
  let bin: Binaries;
  try {
    bin = (await import(name)) as Binaries;
  } catch {
    throw new Error(`no embedded PostgreSQL for ${os.platform()}-${os.arch()} (package ${name}); set DATABASE_URL to use your own server`);
  }
  return process.getuid?.() === 0 ? reachableCopy(bin) : bin;
}

/**
 * As root, PostgreSQL runs as the postgres user, who may not be able to enter the project folder
 * (a checkout under a 0700 folder): the binaries are copied once to a world-readable folder.
 */
async function reachableCopy(bin: Binaries): Promise<Binaries> {
  const native = path.dirname(path.dirname(bin.postgres));
  const stamp = (await stat(bin.postgres)).size.toString(36);
  const target = path.join(os.tmpdir(), `bazaar-embedded-pg-${stamp}`);
  if (!existsSync(path.join(target, 'bin', 'postgres'))) {
    const staging = `${target}.${process.pid}.${randomBytes(4).toString('hex')}`;
    await cp(native, staging, { recursive: true, verbatimSymlinks: true });
    await chmod(staging, 0o755);
    await rename(staging, target).catch(async () => rm(staging, { recursive: true, force: true }));
  }
  return { postgres: path.join(target, 'bin', 'postgres'), initdb: path.join(target, 'bin', 'initdb') };
}

function ensurePostgresUser(): void {
  if (process.getuid?.() !== 0) return;
  try {
    execFileSync('id', ['-u', 'postgres'], { stdio: 'ignore' });
  } catch {
    // PostgreSQL refuses to run as root: run it as a dedicated user.
    execFileSync('groupadd', ['-f', 'postgres']);
    execFileSync('useradd', ['-g', 'postgres', '-M', '-s', '/usr/sbin/nologin', 'postgres']);
  }
}

/**
 * initdb works in a folder beside the cluster's, renamed into place once it is done: initdb writes
 * PG_VERSION early, so a process killed during it (Ctrl-C twice, SIGKILL) used to leave a folder the
 * next start took for a cluster, and failed on for good ('database "postgres" does not exist').
 */
async function initialise(bin: Binaries, pgDir: string, password: string, log: Logger): Promise<void> {
  log.info({ dir: pgDir }, 'initialising embedded PostgreSQL');
  const staging = `${pgDir}.initdb`;
  // The password file initdb reads sits beside the staging folder, not in the shared temp folder:
  // a run killed during initdb left it there; the next one removes both.
  const pwfile = `${staging}.pw`;
  await rm(staging, { recursive: true, force: true });
  await rm(pwfile, { force: true });
  await mkdir(staging, { recursive: true, mode: 0o700 });
  const ids = postgresIds();
  await writeFile(pwfile, `${password}\n`, { mode: 0o600 });
  try {
    if (ids.uid !== undefined && ids.gid !== undefined) {
      await chown(staging, ids.uid, ids.gid);
      await chown(pwfile, ids.uid, ids.gid);
    }
    try {
      execFileSync(bin.initdb, [`--pgdata=${staging}`, '--auth=scram-sha-256', '--username=postgres', `--pwfile=${pwfile}`, '--encoding=UTF8', '--locale=C'], {
        ...ids,
        stdio: 'pipe',
        env: { ...process.env, LC_MESSAGES: 'C' },
      });
    } catch (error) {
      const stderr = String((error as { stderr?: Buffer }).stderr ?? '').trim();
      throw new Error(`initdb failed in ${staging}: ${stderr || (error as Error).message}`);
    }
    await rm(pgDir, { recursive: true, force: true });
    await rename(staging, pgDir);
  } finally {
    await rm(pwfile, { force: true });
  }
}

/** Where the clusters of data folders the postgres user cannot enter go, when bazaar runs as root. */
export const ROOT_CLUSTERS_DIR = '/var/lib/bazaar';

/**
 * The cluster's folder: `DATA_DIR/postgres`, unless bazaar runs as root and the postgres user (who
 * runs PostgreSQL then) cannot enter DATA_DIR, as in a checkout under a 0700 folder. Such a cluster
 * lives under ROOT_CLUSTERS_DIR instead, one per data folder (named by a hash of its path), so it
 * stays put from one start to the next. As root, it makes the postgres user if there is none.
 */
export function embeddedClusterDir(dataDir: string): string {
  const inside = path.join(dataDir, 'postgres');
  if (process.getuid?.() !== 0) return inside;
  ensurePostgresUser();
  try {
    execFileSync('test', ['-x', dataDir], { ...postgresIds(), stdio: 'ignore' });
    return inside;
  } catch {
    return rootClusterDir(dataDir);
  }
}

function rootClusterDir(dataDir: string): string {
  const hash = createHash('sha256').update(path.resolve(dataDir)).digest('hex').slice(0, 16);
  return path.join(ROOT_CLUSTERS_DIR, `postgres-${hash}`);
}

/** Whether DATA_DIR has an embedded PostgreSQL cluster (in either place it may be kept), changing nothing. */
export function hasEmbeddedCluster(dataDir: string): boolean {
  return [path.join(dataDir, 'postgres'), rootClusterDir(dataDir)].some((dir) => existsSync(path.join(dir, 'PG_VERSION')));
}

/**
 * `share`: whether a PostgreSQL that another live bazaar process runs on this DATA_DIR may be used
 * (a short CLI command beside `npm start`); a server refuses to, since the other's stop stops it.
 */
/** Held by the process starting the embedded PostgreSQL of a DATA_DIR, until it is up or has failed. */
const START_LOCK_FILE = 'embedded-postgres.starting';

/**
 * The embedded server's settings besides where it listens. `max_wal_size` 2 GB instead of 1 GB: a
 * seed of 100,000 products writes about 2 GB of WAL in a minute, and at 1 GB the server ran a
 * checkpoint every 20 to 30 s, after each of which every page touched again is written whole to
 * the WAL once more (2.32 GB of WAL at 1 GB, 1.94 GB at 2 GB, 1.80 GB at 4 GB, 2026-12-07). The
 * price is up to about 2 GB of WAL kept on disk under a write-heavy load, and a longer recovery
 * after a crash in the middle of one.
 */
export const EMBEDDED_SETTINGS: readonly string[] = ['max_connections=300', 'shared_buffers=256MB', 'max_wal_size=2GB'];

/**
 * One start at a time per DATA_DIR: the owner file is written only once PostgreSQL is up, so two
 * starts in the same moment saw no owner, and one could stop the other's fresh PostgreSQL as a
 * leftover, or die on PostgreSQL's own lock error. A lock left by a start that was killed (its
 * process is gone) is taken over. Returns the release.
 * The lock appears with its holder's pid already in it (a hard link to a file written first): a
 * lock created empty and written next was, to a start looking in between, a lock of nobody, which
 * it removed and took too (seen on a loaded machine: both started, one died on PostgreSQL's lock).
 */
async function takeStartLock(dataDir: string): Promise<() => Promise<void>> {
  const file = path.join(dataDir, START_LOCK_FILE);
  const written = `${file}.${process.pid}`;
  await writeFile(written, String(process.pid));
  try {
    return await takeLinkedLock(file, written);
  } finally {
    await rm(written, { force: true });
  }
}

async function takeLinkedLock(file: string, written: string): Promise<() => Promise<void>> {
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      await link(written, file);
      return () => rm(file, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const holder = Number((await readFile(file, 'utf8').catch(() => '')).trim());
      if (Number.isInteger(holder) && holder > 0 && holder !== process.pid && isAlive(holder)) {
        throw new Error(`another bazaar process (pid ${holder}) is starting the embedded PostgreSQL of this DATA_DIR: let it start, or give this one a DATA_DIR of its own`);
      }
      await rm(file, { force: true });
    }
  }
  throw new Error(`could not take the start lock of this DATA_DIR (${file})`);
}

export async function startEmbeddedPostgres(dataDir: string, log: Logger, options: { share?: boolean } = {}): Promise<EmbeddedServer> {
  await mkdir(dataDir, { recursive: true });
  const release = await takeStartLock(dataDir);
  try {
    return await startLocked(dataDir, log, options);
  } finally {
    await release();
  }
}

async function startLocked(dataDir: string, log: Logger, options: { share?: boolean }): Promise<EmbeddedServer> {
  const pgDir = embeddedClusterDir(dataDir);
  if (pgDir.startsWith(ROOT_CLUSTERS_DIR)) {
    log.warn({ dataDir, cluster: pgDir }, 'the postgres user cannot enter DATA_DIR: the embedded cluster is kept elsewhere');
    await mkdir(ROOT_CLUSTERS_DIR, { recursive: true, mode: 0o755 });
  }
  const passwordFile = path.join(dataDir, 'postgres-password');
  let password: string;
  if (existsSync(passwordFile)) {
    password = (await readFile(passwordFile, 'utf8')).trim();
  } else {
    password = randomBytes(18).toString('base64url');
    await writeFile(passwordFile, password, { mode: 0o600 });
  }
  const bin = await binaries();
  let staleLockPid: number | undefined;
  // Through the Unix-domain socket when the server has one: a round trip costs the client about a
  // tenth less CPU than over TCP on 127.0.0.1 (ADR 0001). TCP stays open for tools.
  const urlOn = (port: number, socketDir: string | undefined) =>
    `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres${socketDir === undefined ? '' : `?host=${encodeURIComponent(socketDir)}`}`;
  if (!existsSync(path.join(pgDir, 'PG_VERSION'))) {
    await initialise(bin, pgDir, password, log);
  } else {
    const running = await shareOrStopRunning(dataDir, pgDir, log, options.share ?? true);
    // Another process's server: used as it is, and left running when this process is done.
    if ('port' in running) return { url: urlOn(running.port, running.socketDir), stop: async () => undefined, lost: new Promise<string>(() => undefined) };
    staleLockPid = running.staleLockPid;
  }
  const port = await freePort();
  const socketDir = socketDirFor(pgDir, port);
  const flags = ['-c', 'listen_addresses=127.0.0.1', '-c', `unix_socket_directories=${socketDirectoriesSetting(socketDir)}`, ...EMBEDDED_SETTINGS.flatMap((s) => ['-c', s])];
  const child = await spawnServer(bin.postgres, pgDir, port, flags, log, staleLockPid);
  const ownerFile = path.join(dataDir, OWNER_FILE);
  await writeFile(ownerFile, JSON.stringify({ pid: process.pid, port, ...(socketDir === undefined ? {} : { socketDir }) } satisfies Owner));
  log.info({ port }, 'embedded PostgreSQL started');
  let stopping = false;
  const letGo = stopWithProcess(child);
  const lost = new Promise<string>((resolve) => {
    child.once('exit', (code, signal) => {
      letGo();
      if (stopping) return;
      const reason = `the embedded PostgreSQL exited on its own (${signal ? `signal ${signal}` : `code ${code}`})`;
      log.error({ code, signal }, reason);
      resolve(reason);
    });
  });
  return {
    url: urlOn(port, socketDir),
    stop: async () => {
      stopping = true;
      letGo();
      await stopServer(child);
      await rm(ownerFile, { force: true });
    },
    lost,
  };
}

/** Longest socket file path taken: sockaddr_un holds 107 bytes on Linux, 103 on macOS. */
const SOCKET_PATH_MAX = 100;

/**
 * Where the server's Unix-domain socket goes: the cluster's own directory (the server's user owns
 * it; the socket file is `.s.PGSQL.<port>`). None on Windows, nor when the path would not fit a
 * socket address (a deep DATA_DIR): TCP on 127.0.0.1 alone then, as before.
 */
export function socketDirFor(pgDir: string, port: number, platform: NodeJS.Platform = process.platform): string | undefined {
  if (platform === 'win32') return undefined;
  const dir = path.resolve(pgDir);
  return Buffer.byteLength(path.join(dir, `.s.PGSQL.${port}`)) <= SOCKET_PATH_MAX ? dir : undefined;
}

/**
 * The value of `unix_socket_directories` naming one directory: PostgreSQL reads a list split at
 * commas, so the path goes double-quoted (a quote doubled): a DATA_DIR under `Projects, 2026` was
 * split in two and the server refused to start (found by a review). Empty: no socket.
 */
export function socketDirectoriesSetting(dir: string | undefined): string {
  return dir === undefined ? '' : `"${dir.replaceAll('"', '""')}"`;
}

function postgresIds(): { uid?: number; gid?: number } {
  if (process.getuid?.() !== 0) return {};
  const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim());
  return { uid: id('-u'), gid: id('-g') };
}

/**
 * Started in its own process group: a Ctrl-C in the terminal reaches only bazaar, which finishes
 * its in-flight work and then stops PostgreSQL itself.
 */
async function spawnServer(binary: string, pgDir: string, port: number, flags: string[], log: Logger, staleLockPid?: number): Promise<ChildProcess> {
  // PostgreSQL refuses a lock file whose pid is alive unless it is its own, its parent's or the
  // one pg_ctl names in PG_GRANDPARENT_PID (a pid reused after a reboot, pg_ctl's case). A holder
  // found not to be this cluster's server is named the same way: PostgreSQL then still makes its
  // own check that no process of the old server is attached to its shared memory, which removing
  // the file would skip.
  const env = { ...process.env, LC_MESSAGES: 'C', ...(staleLockPid !== undefined ? { PG_GRANDPARENT_PID: String(staleLockPid) } : {}) };
  const child = spawn(binary, ['-D', path.resolve(pgDir), '-p', String(port), ...flags], {
    ...postgresIds(),
    detached: true,
    stdio: ['ignore', 'ignore', 'pipe'],
    env,
  });
  await new Promise<void>((resolve, reject) => {
    let output = '';
    const onData = (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      output = (output + text).slice(-4000);
      log.debug({ postgres: text.trim() }, 'postgres');
      if (text.includes('database system is ready to accept connections')) resolve();
    };
    child.stderr?.on('data', onData);
    child.once('exit', (code) => reject(new Error(`embedded PostgreSQL exited with code ${code}: ${output}`)));
  });
  child.removeAllListeners('exit');
  // Keep draining stderr so the server never blocks on a full pipe.
  child.stderr?.on('data', () => undefined);
  return child;
}

const SIGNALS_STOPPING = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/**
 * The server runs in its own process group (see spawnServer), so neither a Ctrl-C nor this process
 * ending reaches it: a process that ended without stopping it (a command interrupted, start-up
 * failing, an uncaught error) left it running with nobody to stop it. Until `stop` lets it go, it
 * is told to shut down (fast) when this process exits, and on a stopping signal that nothing else
 * here handles (a graceful stop that listens for the signal does it itself). Returns the letting go.
 */
function stopWithProcess(child: ChildProcess): () => void {
  const shutDown = () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    try {
      child.kill('SIGINT');
    } catch {
      // Gone already.
    }
  };
  const handlers = SIGNALS_STOPPING.map((signal) => {
    const handler = () => {
      if (process.listenerCount(signal) > 1) return;
      shutDown();
      process.exit(128 + (os.constants.signals[signal] ?? 0));
    };
    process.on(signal, handler);
    return [signal, handler] as const;
  });
  process.on('exit', shutDown);
  return () => {
    process.off('exit', shutDown);
    for (const [signal, handler] of handlers) process.off(signal, handler);
  };
}

async function stopServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.pid === undefined) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGINT');
  const timeout = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), 15000).unref());
  if ((await Promise.race([exited, timeout])) === 'timeout') {
    child.kill('SIGKILL');
    await exited;
  }
}
