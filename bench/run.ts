/**
 * Benchmark dispatcher: `npm run bench -- <scenario> [--flag value …]`.
 * The scenario's result is printed as ONE JSON line on stdout; progress and diagnostics go to stderr.
 */
import { type Scenario, parseFlags } from './support.ts';

/** Scenarios by name, loaded only when asked for. A new scenario is one more line here. */
const scenarios: Record<string, () => Promise<Scenario>> = {
  'event-delivery': async () => (await import('./event-delivery.ts')).scenario,
  'flash-sale': async () => (await import('./flash-sale.ts')).scenario,
  checkout: async () => (await import('./checkout.ts')).scenario,
  'catalog-read': async () => (await import('./catalog-read.ts')).scenario,
};

async function usage(): Promise<string> {
  const lines = ['usage: npm run bench -- <scenario> [--flag value …]', '', 'scenarios:'];
  for (const [name, load] of Object.entries(scenarios)) {
    const s = await load();
    lines.push(`  ${name}: ${s.description}`);
    for (const [flag, help] of Object.entries(s.flags)) lines.push(`      --${flag}  ${help}`);
  }
  return lines.join('\n');
}

async function main(argv: readonly string[]): Promise<number> {
  const { positional, flags } = parseFlags(argv);
  const name = positional[0];
  if (!name || flags.has('help')) {
    process.stderr.write(`${await usage()}\n`);
    return name ? 0 : 2;
  }
  const load = scenarios[name];
  if (!load) {
    process.stderr.write(`unknown scenario "${name}"\n${await usage()}\n`);
    return 2;
  }
  const scenario = await load();
  const result = await scenario.run(flags);
  process.stdout.write(`${JSON.stringify({ scenario: name, ...result })}\n`);
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: Error) => {
    process.stderr.write(`bench failed: ${error.stack ?? error.message}\n`);
    process.exit(1);
  },
);
