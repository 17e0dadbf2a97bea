import { Worker } from 'node:worker_threads';
import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { loadConfig } from '../src/platform/config.ts';
import { type DatabaseTarget, dropDatabases, ensureDatabases, resolveTargets } from '../src/platform/db/databases.ts';
import { startEmbeddedPostgres } from '../src/platform/db/embedded.ts';
import { migrateDatabase } from '../src/platform/db/migrate.ts';
import type { Pool } from '../src/platform/db/pool.ts';
import { type DomainName, domainTables } from '../src/platform/domains.ts';
import pino from 'pino';

export type Flags = ReadonlyMap<string, string>;

export interface Scenario {
  description: string;
  /** Flag name → what it does and its default, for --help. */
  flags: Record<string, string>;
  /** Returns the result fields; the dispatcher prints them with the scenario name as one JSON line. */
  run(flags: Flags): Promise<Record<string, unknown>>;
}

/** `--name value`, `--name=value`, or a bare `--name` (= "true"); anything else is positional. */
export function parseFlags(args: readonly string[]): { positional: string[]; flags: Map<string, string> } {
  const positional: string[] = [];
  const flags = new Map<string, string>();
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (!arg.startsWith('--')) {
      positional.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    if (eq > 2) {
      flags.set(arg.slice(2, eq), arg.slice(eq + 1));
      continue;
    }
    const next = args[i + 1];
    if (next === undefined || next.startsWith('--')) {
      flags.set(arg.slice(2), 'true');
    } else {
      flags.set(arg.slice(2), next);
      i++;
    }
  }
  return { positional, flags };
}

/** A numeric flag within bounds; anything else stops the run with a message naming the flag. */
export function numberFlag(flags: Flags, name: string, fallback: number, min: number, max: number): number {
  const raw = flags.get(name);
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(value) || value < min || value > max) {
    throw new Error(`--${name} must be a number between ${min} and ${max}, got "${raw}"`);
  }
  return value;
}

/** Connections per domain database pool, as the app would take them (DATABASE_POOL_SIZE_MAX or its default). */
export function appPoolSize(): number {
  return loadConfig(process.env).poolSizeMax;
}

/** The p-th percentile (0–100) of ascending values, nearest rank. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

export const round = (value: number, digits = 2): number => Number(value.toFixed(digits));

export function progress(message: string): void {
  process.stderr.write(`[bench] ${message}\n`);
}

export interface BenchDatabases {
  /** 'external' when DATABASE_URL was used, else 'embedded'. */
  server: 'external' | 'embedded';
  targets: Map<DomainName, DatabaseTarget>;
  close(): Promise<void>;
}

/**
 * Throwaway, migrated databases for the given domains: on DATABASE_URL's server when set (named with a
 * random `bench_…_` prefix and dropped afterwards), otherwise on an embedded PostgreSQL in a temporary
 * directory that is removed afterwards.
 */
/** The marketplace's own log in a benchmark: warnings only, on stderr (stdout carries only the result line). */
export function benchLog() {
  return pino({ level: 'warn', base: { service: 'bazaar' } }, pino.destination(2));
}

export async function benchDatabases(domains: readonly DomainName[]): Promise<BenchDatabases> {
  const given = process.env.DATABASE_URL;
  const log = benchLog();
  let dir: string | undefined;
  let embedded: Awaited<ReturnType<typeof startEmbeddedPostgres>> | undefined;
  if (!given) {
    dir = await mkdtemp(path.join(os.tmpdir(), 'bazaar-bench-'));
    // Run as root, PostgreSQL runs as its own user, which must be able to reach its data directory inside.
    await chmod(dir, 0o755);
    progress(`starting an embedded PostgreSQL in ${dir}`);
    embedded = await startEmbeddedPostgres(dir, log);
  }
  const serverUrl = given ?? embedded!.url;
  const prefix = `bench_${randomBytes(4).toString('hex')}_`;
  const config = loadConfig({ DATABASE_URL: serverUrl, DATABASE_NAME_PREFIX: prefix });
  const targets = resolveTargets(config, serverUrl).filter((t) => domains.includes(t.domain));
  const cleanup = async () => {
    if (given) await dropDatabases(targets).catch((error: Error) => progress(`could not drop ${prefix}* databases: ${error.message}`));
    await embedded?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  };
  try {
    await ensureDatabases(targets);
    for (const t of targets) await migrateDatabase(t.url, t.domain);
  } catch (error) {
    await cleanup();
    throw error;
  }
  progress(`databases ${targets.map((t) => t.database).join(', ')} ready on the ${given ? 'DATABASE_URL' : 'embedded'} server`);
  return { server: given ? 'external' : 'embedded', targets: new Map(targets.map((t) => [t.domain, t])), close: cleanup };
}

export interface WorkerRuns<I, O> {
  /** One run in the worker; runs go one at a time. */
  run(input: I): Promise<O>;
  close(): Promise<void>;
}

/**
 * Starts a load generator module in a worker thread (so the load does not share the server's event
 * loop) that serves runs until closed (bench/worker-runs.ts). A worker does not inherit tsx's
 * loader: it registers it first, then loads the module.
 */
export function startWorker<I, O>(script: URL, label: string): WorkerRuns<I, O> {
  const bootstrap = `import('tsx/esm/api').then(({ register }) => { register(); return import(${JSON.stringify(script.href)}); })`;
  const worker = new Worker(bootstrap, { eval: true });
  let failed: Error | undefined;
  worker.on('error', (error) => {
    failed = error;
  });
  return {
    run: (input) =>
      new Promise((resolve, reject) => {
        if (failed) return reject(failed);
        const onError = (error: Error) => reject(error);
        worker.once('error', onError);
        worker.once('message', (m: { ok: true; output: O } | { ok: false; error: string }) => {
          worker.off('error', onError);
          if (m.ok) resolve(m.output);
          else reject(new Error(`${label} failed: ${m.error}`));
        });
        worker.postMessage(input);
      }),
    close: async () => {
      await worker.terminate();
    },
  };
}

/** One run in a worker of its own. */
export async function runInWorker<I, O>(script: URL, input: I, label: string): Promise<O> {
  const worker = startWorker<I, O>(script, label);
  try {
    return await worker.run(input);
  } finally {
    await worker.close();
  }
}

/**
 * Runs `work`; when BENCH_CPU_PROFILE names a file, this thread's CPU profile of just that span is
 * written there (open it in Chrome DevTools), leaving set-up and the reference out of it.
 */
export async function profiled<T>(work: () => Promise<T>): Promise<T> {
  const file = process.env.BENCH_CPU_PROFILE;
  if (!file) return work();
  const { Session } = await import('node:inspector/promises');
  const { writeFile } = await import('node:fs/promises');
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  // Every 100 µs: the default millisecond misses most of a request that takes a tenth of one.
  await session.post('Profiler.setSamplingInterval', { interval: 100 });
  await session.post('Profiler.start');
  try {
    return await work();
  } finally {
    const { profile } = await session.post('Profiler.stop');
    await writeFile(file, JSON.stringify(profile));
    session.disconnect();
    progress(`CPU profile of the measured phase written to ${file}`);
  }
}

/**
 * Waits until every domain's outbox is published and every inbox processed (a warm-up's events
 * delivered), so that a measured phase does not compete with the tail of the work before it.
 * Returns how long that took.
 */
export async function settleDelivery(pools: ReadonlyMap<DomainName, Pool>, timeoutMs = 30_000): Promise<number> {
  const started = performance.now();
  for (;;) {
    let waiting = 0;
    for (const [domain, pool] of pools) {
      const { outbox, inbox } = domainTables(domain);
      const { rows } = await pool.query<{ n: number }>(
        `SELECT (SELECT count(*) FROM ${outbox} WHERE published_at IS NULL) + (SELECT count(*) FROM ${inbox} WHERE status = 'pending') AS n`,
      );
      waiting += Number(rows[0]?.n ?? 0);
    }
    if (waiting === 0) return performance.now() - started;
    if (performance.now() - started > timeoutMs) throw new Error(`${waiting} events still undelivered after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
