import http from 'node:http';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { embeddedClusterDir, freePort } from '../../src/platform/db/embedded.ts';
import { eventually } from '../support/eventually.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
// The data folder sits in a 0700 folder, as a checkout under a private folder does: run as root,
// PostgreSQL runs as the postgres user, who cannot enter it, and the cluster must be kept elsewhere.
const outer = mkdtempSync(path.join(os.tmpdir(), 'bazaar-lifecycle-'));
const dataDir = path.join(outer, 'data');
mkdirSync(dataDir);

/** Servers this file started: one still running when a test fails or times out is stopped in afterAll. */
const servers = new Set<ChildProcess>();

function startBazaar(port: number, data = dataDir, options: { detached?: boolean } = {}): { child: ChildProcess; output: () => string } {
  let output = '';
  const child = spawn(process.execPath, [path.join(root, 'bin/bazaar.mjs'), 'start'], {
    cwd: root,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, DATA_DIR: data, PORT: String(port), SEED_DEMO: 'false', LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: options.detached ?? false,
  });
  child.stdout?.on('data', (c) => (output += c));
  child.stderr?.on('data', (c) => (output += c));
  servers.add(child);
  child.once('exit', () => servers.delete(child));
  return { child, output: () => output };
}

async function ready(port: number): Promise<void> {
  await eventually(async () => {
    const res = await fetch(`http://127.0.0.1:${port}/ready`);
    expect(res.status).toBe(200);
  }, { timeoutMs: 60_000, intervalMs: 200 });
}

function exited(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) resolve(child.exitCode);
    else child.once('exit', (code) => resolve(code));
  });
}

/** Whether an initdb for this cluster (or its staging folder beside it) is running now. */
function initdbRunningFor(cluster: string): boolean {
  try {
    return execFileSync('pgrep', ['-f', `initdb --pgdata=${cluster}`], { encoding: 'utf8' }).trim() !== '';
  } catch {
    return false;
  }
}

/** Runs `work` beside a process that is no bazaar and no PostgreSQL (a pid a reboot may give out again), killed after. */
async function withStranger(work: (stranger: ChildProcess) => Promise<void>): Promise<void> {
  const stranger = spawn('sleep', ['600'], { detached: true, stdio: 'ignore' });
  try {
    await work(stranger);
  } finally {
    stranger.kill('SIGKILL');
  }
}

/** Runs a `bazaar` command on the test's data folder to its end. */
async function runCli(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; output: string }> {
  const child = spawn(process.execPath, [path.join(root, 'bin/bazaar.mjs'), ...args], {
    cwd: root,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, DATA_DIR: dataDir, LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (c) => (output += c));
  child.stderr?.on('data', (c) => (output += c));
  return { code: await exited(child), output };
}

afterAll(async () => {
  // SIGTERM lets a server stop its PostgreSQL; one that does not exit within 30 s is killed.
  await Promise.all(
    [...servers].map(async (child) => {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      await exited(child);
      clearTimeout(timer);
    }),
  );
  const cluster = embeddedClusterDir(dataDir);
  if (!cluster.startsWith(outer)) rmSync(cluster, { recursive: true, force: true });
  rmSync(outer, { recursive: true, force: true });
});

describe('the bazaar process', () => {
  it('starts on its own PostgreSQL, stops cleanly on SIGTERM leaving no server behind, and starts again on the same data', async () => {
    const port = await freePort();
    const first = startBazaar(port);
    await ready(port);
    expect(first.output()).toContain(`http://127.0.0.1:${port}/docs`);
    // A CLI command beside the running marketplace shares its PostgreSQL and leaves it running.
    const cli = await runCli(['events', 'outbox']);
    expect(cli.code).toBe(0);
    const cliOutput = cli.output;
    expect(cliOutput).toContain('orders');
    expect(cliOutput).not.toContain('left running');
    // start migrated every database: a migrate beside it applies nothing, and says so.
    const migrate = await runCli(['migrate']);
    expect(migrate.code).toBe(0);
    expect(migrate.output.match(/: up to date$/gm)).toHaveLength(11);
    // Retention keeps, unless told otherwise, the event types read models are rebuilt from.
    const prune = await runCli(['events', 'prune', '--older-than-days', '36500']);
    expect(prune.code, prune.output).toBe(0);
    expect(prune.output).toMatch(/^inventory: 0 published rows deleted \(kept for read model rebuilds: .*inventory\.stock_adjusted\.v1/m);
    expect(prune.output).toMatch(/^cart: 0 published rows deleted$/m);
    const pruneAll = await runCli(['events', 'prune', '--older-than-days', '36500', '--include-read-model-sources']);
    expect(pruneAll.code, pruneAll.output).toBe(0);
    expect(pruneAll.output).toMatch(/^inventory: 0 published rows deleted$/m);
    // A second server on the same data is refused: it would lose the first one's PostgreSQL when
    // that one stops (it used to share it, and answered 500 to everything after).
    const intruder = startBazaar(await freePort());
    expect(await exited(intruder.child)).toBe(1);
    expect(intruder.output()).toContain('another bazaar process');
    // No stack trace, neither on the terminal nor in the JSON log line (escaped there).
    expect(intruder.output()).not.toMatch(/(\n|\\n)\s+at /);
    expect(first.child.exitCode).toBeNull();
    // A keep-alive connection left idle (found by a helper: a stop reset such connections' next
    // request): a request on it while the server stops is answered 503, Connection: close.
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const get = () =>
      new Promise<{ status: number; connection: string | undefined; reused: boolean; body: string }>((resolve, reject) => {
        const req = http.get({ host: '127.0.0.1', port, path: '/ready', agent }, (res) => {
          let body = '';
          res.on('data', (c) => (body += c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, connection: res.headers.connection, reused: req.reusedSocket, body }));
        });
        req.on('error', reject);
      });
    expect((await get()).status).toBe(200);
    first.child.kill('SIGTERM');
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await get()).toEqual({ status: 503, connection: 'close', reused: true, body: JSON.stringify({ status: 'not_ready', problems: ['the server is shutting down'] }) });
    agent.destroy();
    expect(await exited(first.child)).toBe(0);
    // PostgreSQL removes its pid file when it has shut down.
    expect(existsSync(path.join(embeddedClusterDir(dataDir), 'postmaster.pid'))).toBe(false);
    expect(existsSync(path.join(embeddedClusterDir(dataDir), 'PG_VERSION'))).toBe(true);

    // A port in use stops start-up with a line naming PORT (not a JSON log line with a stack).
    const squatter = createServer();
    await new Promise<void>((resolve) => squatter.listen(port, '127.0.0.1', resolve));
    try {
      const blocked = startBazaar(port);
      expect(await exited(blocked.child)).toBe(1);
      expect(blocked.output()).toContain(`bazaar could not start: port ${port} is in use (PORT)`);
    } finally {
      await new Promise((resolve) => squatter.close(resolve));
    }

    const second = startBazaar(port);
    await ready(port);
    second.child.kill('SIGINT');
    expect(await exited(second.child)).toBe(0);
    expect(existsSync(path.join(embeddedClusterDir(dataDir), 'postmaster.pid'))).toBe(false);
    // Two starts of PostgreSQL and a CLI command in between: minutes on a loaded machine.
  }, 180_000);

  it('stops with exit code 1 when its PostgreSQL dies under it, and starts again on the same data', async () => {
    const port = await freePort();
    const server = startBazaar(port);
    await ready(port);
    const postmaster = Number(readFileSync(path.join(embeddedClusterDir(dataDir), 'postmaster.pid'), 'utf8').split('\n')[0]);
    process.kill(postmaster, 'SIGKILL');
    // Not a process answering 500 to everything with /health still 200: it says why and stops.
    expect(await exited(server.child), server.output()).toBe(1);
    expect(server.output()).toContain('bazaar is stopping: the embedded PostgreSQL exited on its own (signal SIGKILL)');
    const again = startBazaar(port);
    await ready(port);
    again.child.kill('SIGTERM');
    expect(await exited(again.child)).toBe(0);
  }, 120_000);

  it('leaves alone a process that a stale lock file of its PostgreSQL names, and starts (found by a review: it was signalled, then killed)', async () => {
    // After a reboot or a container's restart, the pid a run killed with SIGKILL left in
    // postmaster.pid may be any process's.
    const cluster = embeddedClusterDir(dataDir);
    if (!existsSync(path.join(cluster, 'PG_VERSION'))) {
      // Run alone: the cluster is made by a first start.
      const port = await freePort();
      const first = startBazaar(port);
      await ready(port);
      first.child.kill('SIGTERM');
      expect(await exited(first.child)).toBe(0);
    }
    await withStranger(async (victim) => {
      writeFileSync(path.join(cluster, 'postmaster.pid'), `${victim.pid}\n${cluster}\n0\n39999\n\n127.0.0.1\n     1     1\nready\n`);
      const port = await freePort();
      const server = startBazaar(port);
      await ready(port);
      expect(server.output()).toContain('names a process that is not it');
      expect(victim.exitCode).toBe(null);
      expect(() => process.kill(victim.pid as number, 0)).not.toThrow();
      server.child.kill('SIGTERM');
      expect(await exited(server.child)).toBe(0);
    });
  }, 120_000);

  it('stops the PostgreSQL a killed run left, even when the pid of that run is alive again as another process', async () => {
    const port = await freePort();
    // Its own process group, so that a SIGKILL of it alone leaves its PostgreSQL running, as a
    // killed process's server is left.
    const killed = startBazaar(port, dataDir, { detached: true });
    await ready(port);
    const cluster = embeddedClusterDir(dataDir);
    const leftover = Number(readFileSync(path.join(cluster, 'postmaster.pid'), 'utf8').split('\n')[0]);
    process.kill(killed.child.pid as number, 'SIGKILL');
    await exited(killed.child);
    expect(() => process.kill(leftover, 0)).not.toThrow();
    // After a reboot the owner's pid may be any process's: one stands in for it.
    await withStranger(async (stranger) => {
      writeFileSync(path.join(dataDir, 'embedded-postgres.json'), JSON.stringify({ pid: stranger.pid, port: 1 }));
      const again = startBazaar(port);
      await ready(port);
      expect(again.output()).toContain('stopping a PostgreSQL left running by an earlier run');
      await eventually(() => expect(() => process.kill(leftover, 0)).toThrow());
      expect(stranger.exitCode).toBe(null);
      again.child.kill('SIGTERM');
      expect(await exited(again.child)).toBe(0);
    });
  }, 120_000);

  it('lets one of two starts at the same moment on one DATA_DIR run, and refuses the other in one clear line', async () => {
    for (let round = 0; round < 3; round++) {
      const ports = [await freePort(), await freePort()];
      const starts = ports.map((port) => startBazaar(port));
      // One of them is refused; the other serves.
      const refused = await Promise.race(starts.map(async (s, i) => ({ i, code: await exited(s.child) })));
      expect(refused.code, starts[refused.i]?.output()).toBe(1);
      const loser = starts[refused.i] as (typeof starts)[number];
      const winner = starts[1 - refused.i] as (typeof starts)[number];
      expect(loser.output()).toContain('another bazaar process');
      expect(loser.output()).not.toMatch(/FATAL|postmaster\.pid|\n\s+at /);
      await ready(ports[1 - refused.i] as number);
      winner.child.kill('SIGTERM');
      expect(await exited(winner.child)).toBe(0);
    }
  }, 180_000);

  it('leaves no PostgreSQL behind when a command run alone is interrupted or its output is cut short', async () => {
    const pidFile = path.join(embeddedClusterDir(dataDir), 'postmaster.pid');
    expect(existsSync(pidFile)).toBe(false);
    // Ctrl-C while a long seed runs: PostgreSQL runs in a process group of its own and heard nothing.
    const seeding = spawn(process.execPath, [path.join(root, 'bin/bazaar.mjs'), 'seed', '--products', '50000', '--sellers', '2'], {
      cwd: root,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, DATA_DIR: dataDir, LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    servers.add(seeding);
    await eventually(() => expect(existsSync(pidFile)).toBe(true), { timeoutMs: 60_000, intervalMs: 50 });
    await new Promise((resolve) => setTimeout(resolve, 1000));
    seeding.kill('SIGINT');
    expect(await exited(seeding)).toBe(130);
    await eventually(() => expect(existsSync(pidFile)).toBe(false), { timeoutMs: 30_000, intervalMs: 100 });

    // Output read by something that stops early (| head): a quiet end, no stack trace, no server left.
    const listing = spawn(process.execPath, [path.join(root, 'bin/bazaar.mjs'), 'events', 'outbox'], {
      cwd: root,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, DATA_DIR: dataDir, LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let errors = '';
    listing.stderr?.on('data', (c) => (errors += c));
    listing.stdout?.destroy();
    expect(await exited(listing), errors).toBe(0);
    expect(errors).not.toMatch(/EPIPE|\n\s+at /);
    await eventually(() => expect(existsSync(pidFile)).toBe(false), { timeoutMs: 30_000, intervalMs: 100 });
  }, 180_000);

  it('refuses a dead letter id that is not one with a message, not a stack trace', async () => {
    const { code, output } = await runCli(['events', 'replay', 'nope']);
    expect(code).toBe(2);
    expect(output).toContain('nope is not a dead letter id');
    expect(output).not.toMatch(/\n\s+at /);
  });

  it('starts after being killed while it was first initialising its PostgreSQL', async () => {
    const fresh = path.join(outer, 'killed-during-initdb');
    mkdirSync(fresh);
    const cluster = embeddedClusterDir(fresh);
    try {
      // Killed with its whole process group (initdb included), as a SIGKILL of a terminal's job is.
      const dying = startBazaar(await freePort(), fresh, { detached: true });
      await eventually(() => expect(initdbRunningFor(cluster)).toBe(true), { timeoutMs: 60_000, intervalMs: 20 });
      await new Promise((resolve) => setTimeout(resolve, 300));
      process.kill(-(dying.child.pid as number), 'SIGKILL');
      await exited(dying.child);

      const port = await freePort();
      const again = startBazaar(port, fresh);
      await ready(port);
      again.child.kill('SIGTERM');
      expect(await exited(again.child)).toBe(0);
      // Nothing of the killed initialisation is left: not its folder, not the password file it read.
      expect(existsSync(`${cluster}.initdb`)).toBe(false);
      expect(existsSync(`${cluster}.initdb.pw`)).toBe(false);
    } finally {
      if (!cluster.startsWith(outer)) {
        rmSync(cluster, { recursive: true, force: true });
        rmSync(`${cluster}.initdb`, { recursive: true, force: true });
        rmSync(`${cluster}.initdb.pw`, { force: true });
      }
    }
  }, 180_000);

  it('refuses a --limit that is not a number from 1 to 500 instead of using another', async () => {
    // 0x10 and 1e2 too, as the seed's numbers (found by a review: Number() took them).
    for (const limit of ['abc', '0', '501', '2.5', '0x10', '1e2']) {
      const { code, output } = await runCli(['events', 'dead-letters', '--limit', limit]);
      expect(code, limit).toBe(2);
      expect(output).toContain('--limit must be a whole number from 1 to 500');
    }
    // An empty --domain names no domain: it listed every one.
    const empty = await runCli(['events', 'dead-letters', '--domain', '']);
    expect([empty.code, empty.output.trim()]).toEqual([2, 'unknown domain ""']);
    // A retention past a century (or written as 1e9) is refused as such, not by PostgreSQL's date range.
    for (const days of ['1e9', '36501', '0', '-1']) {
      const { code, output } = await runCli(['events', 'prune', '--older-than-days', days]);
      expect([code, output.trim()], days).toEqual([2, '--older-than-days must be a whole number of days from 1 to 36500']);
    }
  });

  it('names a mistyped command as unknown, not as an argument of the default start', async () => {
    const { code, output } = await runCli(['frobnicate']);
    expect(code).toBe(2);
    expect(output).toContain("unknown command 'frobnicate'");
    expect(output).not.toContain("too many arguments for 'start'");
  });

  it('answers a command that cannot reach its database with one line, not a stack trace', async () => {
    const { code, output } = await runCli(['migrate'], { DATABASE_URL: `postgres://nobody@127.0.0.1:${await freePort()}/nothing` });
    expect(code).toBe(1);
    expect(output).toMatch(/^bazaar migrate failed: .*ECONNREFUSED/m);
    expect(output).not.toMatch(/\n\s+at /);
  });

  it('stops start-up with a message naming a bad variable, before any database is started (exit 2)', async () => {
    const admin = { ADMIN_PASSWORD: 'a long enough password' };
    for (const [env, says] of [
      [{ PORT: 'eighty' }, /PORT/],
      // Found by a review: the admin's email and password were checked after PostgreSQL started and
      // the migrations ran, and a mistake exited 1.
      [{ ...admin, ADMIN_EMAIL: 'not-an-email' }, /^Invalid configuration: ADMIN_EMAIL must be an email address/],
      [{ ADMIN_EMAIL: 'admin@example.com', ADMIN_PASSWORD: ' '.repeat(20) }, /^Invalid configuration: ADMIN_PASSWORD is refused: password must not be only spaces/],
    ] as const) {
      const empty = mkdtempSync(path.join(outer, 'config-'));
      const child = spawn(process.execPath, [path.join(root, 'bin/bazaar.mjs'), 'start'], {
        cwd: root,
        env: { PATH: process.env.PATH, DATA_DIR: empty, ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      child.stderr?.on('data', (c) => (output += c));
      expect(await exited(child), output).toBe(2);
      expect(output).toMatch(says);
      // Nothing was started: no cluster was made for this data folder.
      expect(existsSync(path.join(embeddedClusterDir(empty), 'PG_VERSION'))).toBe(false);
    }
  });

  it('exits 2 on a usage mistake, whether commander or bazaar finds it, saying what is wrong in one line', async () => {
    for (const [args, says] of [
      [['seed', '--bogus'], "unknown option '--bogus'"],
      [['frobnicate'], "unknown command 'frobnicate'"],
      [['seed', '--products', '0x2'], '--products must be a whole number'],
      [['seed', '--seed', 'banana'], '--seed a whole number'],
      [['seed', '--seed', '4294967297'], '--seed a whole number from 1 to 4294967295'],
      [['events', 'prune', '--older-than-days', '0'], '--older-than-days must be'],
    ] as const) {
      const { code, output } = await runCli([...args]);
      expect(code, args.join(' ')).toBe(2);
      expect(output.trim().split('\n'), args.join(' ')).toEqual([expect.stringContaining(says)]);
    }
    expect((await runCli(['--version'])).code).toBe(0);
  });
});
