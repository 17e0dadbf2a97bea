import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
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

function startBazaar(port: number): { child: ChildProcess; output: () => string } {
  let output = '';
  const child = spawn(process.execPath, [path.join(root, 'bin/bazaar.mjs'), 'start'], {
    cwd: root,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, DATA_DIR: dataDir, PORT: String(port), SEED_DEMO: 'false', LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
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

/** Runs a `bazaar` command on the test's data folder to its end. */
async function runCli(...args: string[]): Promise<{ code: number | null; output: string }> {
  const child = spawn(process.execPath, [path.join(root, 'bin/bazaar.mjs'), ...args], {
    cwd: root,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, DATA_DIR: dataDir, LOG_LEVEL: 'warn' },
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
    const cli = await runCli('events', 'outbox');
    expect(cli.code).toBe(0);
    const cliOutput = cli.output;
    expect(cliOutput).toContain('orders');
    expect(cliOutput).not.toContain('left running');
    // start migrated every database: a migrate beside it applies nothing, and says so.
    const migrate = await runCli('migrate');
    expect(migrate.code).toBe(0);
    expect(migrate.output.match(/: up to date$/gm)).toHaveLength(11);
    expect(first.child.exitCode).toBeNull();
    expect((await fetch(`http://127.0.0.1:${port}/ready`)).status).toBe(200);
    first.child.kill('SIGTERM');
    expect(await exited(first.child)).toBe(0);
    // PostgreSQL removes its pid file when it has shut down.
    expect(existsSync(path.join(embeddedClusterDir(dataDir), 'postmaster.pid'))).toBe(false);
    expect(existsSync(path.join(embeddedClusterDir(dataDir), 'PG_VERSION'))).toBe(true);

    const second = startBazaar(port);
    await ready(port);
    second.child.kill('SIGINT');
    expect(await exited(second.child)).toBe(0);
    expect(existsSync(path.join(embeddedClusterDir(dataDir), 'postmaster.pid'))).toBe(false);
    // Two starts of PostgreSQL and a CLI command in between: minutes on a loaded machine.
  }, 180_000);

  it('refuses a dead letter id that is not one with a message, not a stack trace', async () => {
    const { code, output } = await runCli('events', 'replay', 'nope');
    expect(code).toBe(2);
    expect(output).toContain('nope is not a dead letter id');
    expect(output).not.toMatch(/\n\s+at /);
  });

  it('stops start-up with a message naming a bad variable', async () => {
    const child = spawn(process.execPath, [path.join(root, 'bin/bazaar.mjs'), 'start'], {
      cwd: root,
      env: { PATH: process.env.PATH, PORT: 'eighty' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stderr?.on('data', (c) => (output += c));
    expect(await exited(child)).toBe(2);
    expect(output).toMatch(/PORT/);
  });
});
