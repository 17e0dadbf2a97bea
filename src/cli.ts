import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Command, CommanderError } from 'commander';
import type { Databases, Marketplace } from './app.ts';
import { ConfigError, loadConfig, loadDotenv, type Config } from './platform/config.ts';
import type { Pool } from './platform/db/pool.ts';
import { isDomainName, type DomainName } from './platform/domains.ts';
import { isUuid } from './platform/ids.ts';
import { createLogger } from './platform/logger.ts';
import type { SeedResult } from './seed/index.ts';
import { SEED_PRODUCTS_MAX, SEED_SELLERS_MAX } from './seed/limits.ts';
import { VERSION } from './version.ts';

/** The commands' work (see cli-work.ts), loaded by the first command that needs it. */
let loading: Promise<typeof import('./cli-work.ts')> | undefined;
const work = () => (loading ??= import('./cli-work.ts'));

async function config(): Promise<Config> {
  try {
    const cfg = loadConfig(loadDotenv(process.env));
    const admin = cfg.adminEmail && cfg.adminPassword ? (await work()).adminCredentialsProblem(cfg.adminEmail, cfg.adminPassword) : undefined;
    if (admin) throw new ConfigError(admin.variable, admin.reason);
    return cfg;
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exit(2);
    }
    throw error;
  }
}

/**
 * Runs `run` against every domain database, then closes the pools and any embedded server. With
 * `migrate: false` (commands that inspect or repair event delivery) nothing is created or migrated:
 * looking at a server with a newer CLI used to migrate it. A database missing migrations this CLI
 * knows is named on stderr, and the command goes on with the schema it finds.
 */
async function withDatabases<T>(
  cfg: Config,
  run: (databases: Databases, pools: Map<DomainName, Pool>) => Promise<T>,
  options: { migrate?: boolean } = {},
): Promise<T> {
  const { createPool, pendingMigrations, prepareDatabases } = await work();
  const log = createLogger(cfg.logLevel === 'info' ? 'warn' : cfg.logLevel);
  const migrate = options.migrate ?? true;
  const databases = await prepareDatabases(cfg, log, { migrate });
  // As the server's pools: behind a pooler in transaction mode, no prepared statements nor startup options.
  const pools = new Map(databases.targets.map((t) => [t.domain, createPool(t.url, 2, 'bazaar-cli', { prepare: cfg.preparedStatements })]));
  try {
    if (!migrate) {
      for (const t of databases.targets) {
        const pending = await pendingMigrations(pools.get(t.domain) as Pool, t.domain);
        if (pending.length > 0) console.error(`${t.database} lacks ${pending.length} migration(s) of this version (${pending.join(', ')}); nothing was migrated`);
      }
    }
    return await run(databases, pools);
  } finally {
    await Promise.all([...pools.values()].map((p) => p.end()));
    await databases.embedded?.stop();
  }
}

/**
 * A start that fails says why in one line on stderr; the log keeps the reason too, without a
 * stack trace (the stack goes to the log at debug level).
 */
function failedToStart(log: ReturnType<typeof createLogger>, what: string, error: unknown): void {
  log.debug({ err: error }, what);
  log.error({ reason: error instanceof Error ? error.message : String(error) }, what);
}

async function start(): Promise<void> {
  const cfg = await config();
  const log = createLogger(cfg.logLevel);
  const { createMarketplace, prepareDatabases, seedDemo } = await work();
  let databases: Databases;
  try {
    // A server never borrows another process's embedded PostgreSQL: that one's stop would stop it.
    databases = await prepareDatabases(cfg, log, { shareEmbedded: false });
  } catch (error) {
    failedToStart(log, 'could not prepare the databases', error);
    console.error(`bazaar could not start: ${(error as Error).message}`);
    process.exit(1);
  }
  let app: Marketplace;
  try {
    app = await createMarketplace(cfg, databases, { log });
  } catch (error) {
    failedToStart(log, 'could not start', error);
    console.error(`bazaar could not start: ${(error as Error).message}`);
    await databases.embedded?.stop().catch(() => undefined);
    process.exit(1);
  }
  let stopping = false;
  const shutdown = async (signal: string, exitCode = 0) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    const timer = setTimeout(() => {
      log.error('shutdown took too long; exiting');
      process.exit(1);
    }, cfg.shutdownTimeoutMs);
    timer.unref();
    try {
      // First answer 503 to what comes (idle keep-alive connections, connections not yet accepted)
      // while still listening, then stop listening: closing at once reset those.
      app.http.refuseRequests();
      // At most half the shutdown's time, so the stop itself keeps the rest.
      const drainMs = Math.min(cfg.shutdownDrainMs, cfg.shutdownTimeoutMs / 2);
      if (drainMs > 0) await new Promise((resolve) => setTimeout(resolve, drainMs));
      await app.stop();
      log.info('stopped');
      process.exit(exitCode);
    } catch (error) {
      log.error({ err: error }, 'shutdown failed');
      process.exit(1);
    }
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  // The databases this process runs are gone: every request would fail. Stop, and say so by the
  // exit code, so that a supervisor starts it again (the next start recovers everything).
  void databases.embedded?.lost.then(async (reason) => {
    if (stopping) return;
    console.error(`bazaar is stopping: ${reason}`);
    // Also if the stop ends by the event loop running dry (pools whose server is gone may leave
    // nothing to wait for) rather than by its own exit.
    process.exitCode = 1;
    await shutdown('embedded PostgreSQL lost', 1);
  });
  try {
    const address = await app.listen();
    const base = address.replace('[::1]', 'localhost');
    console.log(`bazaar is running:
  API       ${base}/v1
  docs      ${base}/docs
  openapi   ${base}/openapi.json
  health    ${base}/health   ready ${base}/ready   metrics ${base}/metrics`);
    try {
      const seeded = await seedDemo(app);
      if (seeded) printSeed(seeded, 'demo catalog seeded (SEED_DEMO=false to skip)');
    } catch (error) {
      log.error({ err: error }, 'seeding the demo catalog failed; the API keeps running');
    }
  } catch (error) {
    failedToStart(log, 'could not start', error);
    const code = (error as NodeJS.ErrnoException).code;
    const why =
      code === 'EADDRINUSE'
        ? `port ${cfg.port} is in use (PORT): stop what listens there, or choose another port`
        : code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND' || code === 'EAI_AGAIN'
          ? `cannot listen on ${cfg.host} (HOST): not an address of this machine`
          : (error as Error).message;
    console.error(`bazaar could not start: ${why}`);
    await app.stop().catch(() => undefined);
    process.exit(1);
  }
}

const program = new Command()
  .name('bazaar')
  .description('bazaar marketplace backend')
  .version(VERSION);

program.command('start', { isDefault: true }).description('migrate the 11 databases and serve the HTTP API').action(start);

program
  .command('migrate')
  .description('create and migrate the 11 domain databases without serving (a second run is a no-op)')
  .action(async () => {
    const cfg = await config();
    await withDatabases(cfg, async (databases) => {
      for (const t of databases.targets) {
        const applied = databases.applied?.get(t.database) ?? [];
        console.log(applied.length === 0 ? `${t.database}: up to date` : `${t.database}: applied ${applied.join(', ')}`);
      }
    });
  });

program
  .command('docs')
  .argument('<what>', 'schema')
  .option('--out <file>', 'where to write', 'docs/architecture/database-tables-full.md')
  .description('regenerate the database tables document from the migrated schema')
  .action(async (what: string, opts: { out: string }) => {
    if (what !== 'schema') {
      console.error('only "docs schema" is known');
      process.exit(2);
    }
    const cfg = await config();
    const { renderSchemaDocument } = await work();
    await withDatabases(cfg, async (_d, pools) => {
      const text = await renderSchemaDocument([...pools].map(([domain, db]) => ({ domain, db })));
      await mkdir(path.dirname(opts.out), { recursive: true });
      await writeFile(opts.out, text);
      console.log(`wrote ${opts.out}`);
    });
  });

function printSeed(result: SeedResult, heading: string): void {
  console.log(`${heading}:
  ${result.products} products (${result.published} published), ${result.variants} variants, ${result.priceWindows} price windows, ${result.sellers} sellers
  categories ${result.categories.total} (${result.categories.created} new), events ${result.events}
  stock      ${typeof result.stock === 'string' ? result.stock : `${result.stock.units} units over ${result.stock.variants} variants`}
  took       ${result.seconds.total.toFixed(1)} s (busy: catalog import ${result.seconds.catalog.toFixed(1)} s over 2 workers, stock ${result.seconds.stock.toFixed(1)} s)`);
  if (typeof result.logins === 'string') console.log(`  logins     ${result.logins}`);
  else for (const l of result.logins) console.log(`  login      ${l.email} / ${l.password} (${l.role})`);
}

/** Digits only (`0x2`, `1e3` and an empty value are no whole number here), within the safe range. */
function wholeNumber(text: string): number | undefined {
  if (!/^\d{1,15}$/.test(text.trim())) return undefined;
  return Number(text.trim());
}

program
  .command('seed')
  .description('generate a realistic demo catalog: categories, sellers, products with variants, images, attributes, prices and stock')
  .option('--products <n>', 'how many products', '1000')
  .option('--sellers <m>', 'how many sellers', '20')
  .option('--seed <n>', 'random seed (the same seed gives the same shape)', '20260301')
  .action(async (opts: { products: string; sellers: string; seed: string }) => {
    const products = wholeNumber(opts.products);
    const sellers = wholeNumber(opts.sellers);
    const seed = wholeNumber(opts.seed);
    const bad = products === undefined || products > SEED_PRODUCTS_MAX || sellers === undefined || sellers < 1 || sellers > SEED_SELLERS_MAX;
    // The generator takes 32 bits: a larger seed would give another seed's catalog.
    if (bad || seed === undefined || seed < 1 || seed > 0xffffffff) {
      console.error(`--products must be a whole number from 0 to ${SEED_PRODUCTS_MAX}, --sellers from 1 to ${SEED_SELLERS_MAX}, --seed a whole number from 1 to ${0xffffffff}`);
      process.exit(2);
    }
    const cfg = await config();
    const log = createLogger(cfg.logLevel === 'info' ? 'warn' : cfg.logLevel);
    const { createMarketplace, prepareDatabases, seedCatalog, seedDepsOf } = await work();
    const databases = await prepareDatabases(cfg, log);
    const app = await createMarketplace(cfg, databases, { log, runMessaging: false });
    try {
      const result = await seedCatalog(seedDepsOf(app), { products, sellers, seed, log: (line) => log.info(line) });
      printSeed(result, 'seeded');
      console.log('  events are delivered to the other domains by the running marketplace (npm start)');
    } finally {
      await app.stop();
    }
  });

/** The event delivery commands look at (and repair) the databases as they are: they migrate nothing. */
const INSPECT = { migrate: false };

const events = program.command('events').description('inspect and repair event delivery');

events
  .command('outbox')
  .description('backlog and oldest unpublished age per domain')
  .action(async () => {
    const cfg = await config();
    const { outboxStatus } = await work();
    await withDatabases(cfg, async (_d, pools) => {
      for (const [domain, pool] of pools) console.log(JSON.stringify(await outboxStatus(domain, pool)));
    }, INSPECT);
  });

events
  .command('dead-letters')
  .description('list parked events with their last error')
  .option('--domain <name>', 'only this domain')
  .option('--limit <n>', 'at most this many per domain (1 to 500)', '50')
  .action(async (opts: { domain?: string; limit: string }) => {
    // An empty --domain names no domain (it listed every one); a limit is written in digits, as the
    // seed's numbers are (0x10 and 1e2 were taken).
    if (opts.domain !== undefined && !isDomainName(opts.domain)) {
      console.error(`unknown domain ${JSON.stringify(opts.domain)}`);
      process.exit(2);
    }
    const limit = wholeNumber(opts.limit);
    if (limit === undefined || limit < 1 || limit > 500) {
      console.error(`--limit must be a whole number from 1 to 500, not ${opts.limit}`);
      process.exit(2);
    }
    const cfg = await config();
    const { listDeadLetters } = await work();
    await withDatabases(cfg, async (_d, pools) => {
      let count = 0;
      for (const [domain, pool] of pools) {
        if (opts.domain !== undefined && opts.domain !== domain) continue;
        for (const { parkedKey: _key, ...dl } of await listDeadLetters(domain, pool, limit)) {
          console.log(JSON.stringify(dl));
          count++;
        }
      }
      if (count === 0) console.error('no dead letters');
    }, INSPECT);
  });

events
  .command('replay')
  .argument('<id>', 'dead letter id')
  .description('deliver a parked event again')
  .action(async (id: string) => {
    if (!isUuid(id)) {
      console.error(`${id} is not a dead letter id (a UUID, as \`bazaar events dead-letters\` lists them)`);
      process.exit(2);
    }
    const cfg = await config();
    const { replayDeadLetter } = await work();
    const found = await withDatabases(cfg, async (_d, pools) => {
      for (const [domain, pool] of pools) if (await replayDeadLetter(domain, pool, id)) return domain;
      return undefined;
    }, INSPECT);
    if (!found) {
      console.error(`no parked event with id ${id}`);
      process.exit(1);
    }
    console.log(`replayed ${id} (${found}); a running marketplace delivers it now`);
  });

/** A century: older than that, nothing was ever published (and the cutoff would leave the range of a date). */
const PRUNE_DAYS_MAX = 36_500;

events
  .command('prune')
  .description('retention: delete published outbox rows older than N days (unpublished rows are kept, and so are the event types a read model rebuild replays)')
  .requiredOption('--older-than-days <n>', 'age in days (1 to 36500)')
  .option('--include-read-model-sources', 'delete the events read models are rebuilt from too: a rebuild is then refused, or done incomplete on request')
  .action(async (opts: { olderThanDays: string; includeReadModelSources?: boolean }) => {
    const days = Number(opts.olderThanDays);
    if (!/^\d{1,6}$/.test(opts.olderThanDays.trim()) || days < 1 || days > PRUNE_DAYS_MAX) {
      console.error(`--older-than-days must be a whole number of days from 1 to ${PRUNE_DAYS_MAX}`);
      process.exit(2);
    }
    const cfg = await config();
    const { pruneOutbox, readModelEventTypes } = await work();
    const keep = opts.includeReadModelSources ? [] : readModelEventTypes();
    await withDatabases(cfg, async (_d, pools) => {
      for (const [domain, pool] of pools) {
        const kept = keep.filter((type) => type.startsWith(`${domain}.`));
        const deleted = await pruneOutbox(domain, pool, days, kept);
        console.log(`${domain}: ${deleted} published rows deleted${kept.length > 0 ? ` (kept for read model rebuilds: ${kept.join(', ')})` : ''}`);
      }
    }, INSPECT);
  });

/**
 * A command that fails (a database that cannot be reached, a broken cluster) says why in one line
 * and exits 1; the detail goes to the log (LOG_LEVEL=debug), not a stack trace on the terminal.
 * A usage or configuration mistake (an unknown command or option, a bad value) says what is wrong
 * in one line and exits 2.
 */
export async function main(argv: string[]): Promise<void> {
  // Output piped into a reader that stops early (| head): done, quietly (the 'exit' hooks still
  // stop an embedded PostgreSQL this process started).
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(0);
    throw error;
  });
  // `start` is the default command, so a mistyped command would reach it as an argument and be
  // answered as a start problem: it is named as what it is instead.
  const first = argv[2];
  const known = new Set(['help', ...program.commands.flatMap((c) => [c.name(), ...c.aliases()])]);
  if (first !== undefined && !first.startsWith('-') && !known.has(first)) {
    console.error(`bazaar: unknown command '${first}' (the commands: ${[...known].sort().join(', ')}; see bazaar --help)`);
    process.exit(2);
  }
  // Usage mistakes commander finds (an unknown option, a missing argument) exit 2 like ours.
  const throwOnUsage = (command: Command): void => {
    command.exitOverride();
    command.commands.forEach(throwOnUsage);
  };
  throwOnUsage(program);
  try {
    await program.parseAsync(argv);
  } catch (error) {
    // Commander has said what was wrong already; --help and --version end here too, with 0.
    if (error instanceof CommanderError) process.exit(error.exitCode === 0 ? 0 : 2);
    // The command, with its subcommand when it has some (events prune), as typed.
    const [name = 'start', sub] = argv.slice(2).filter((a) => !a.startsWith('-'));
    const hasSubcommands = (program.commands.find((c) => c.name() === name)?.commands.length ?? 0) > 0;
    const command = hasSubcommands && sub !== undefined ? `${name} ${sub}` : name;
    createLogger(process.env.LOG_LEVEL === 'debug' ? 'debug' : 'silent').debug({ err: error }, 'command failed');
    console.error(`bazaar ${command} failed: ${(error as Error).message}`);
    process.exit(1);
  }
}
