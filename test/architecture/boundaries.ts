import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

export interface SourceFile {
  /** Path relative to the repository root, with forward slashes. */
  file: string;
  text: string;
}

const IMPORT = /(?:import|export)\s+(type\s+)?(?:[^'"]*?\sfrom\s+)?['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;

export function listSources(root: string, dir = 'src'): SourceFile[] {
  const out: SourceFile[] = [];
  const walk = (rel: string) => {
    for (const name of readdirSync(path.join(root, rel))) {
      const child = `${rel}/${name}`;
      if (statSync(path.join(root, child)).isDirectory()) walk(child);
      else if (/\.ts$/.test(name)) out.push({ file: child, text: readFileSync(path.join(root, child), 'utf8') });
    }
  };
  walk(dir);
  return out;
}

function domainOf(file: string): string | undefined {
  return /^src\/domains\/([^/]+)\//.exec(file)?.[1];
}

/**
 * The module boundaries: a domain imports only its own files, other domains' public index.ts,
 * the platform and the contracts; the platform and the contracts import no domain; only the
 * platform opens database connections.
 */
export function boundaryViolations(files: SourceFile[]): string[] {
  const violations: string[] = [];
  for (const { file, text } of files) {
    const from = domainOf(file);
    for (const match of text.matchAll(IMPORT)) {
      const typeOnly = Boolean(match[1]);
      const spec = match[2] ?? match[3];
      if (!spec) continue;
      if (!spec.startsWith('.')) {
        if (from && spec === 'pg' && !typeOnly) violations.push(`${file}: a domain must not open its own connections (imports pg)`);
        continue;
      }
      const target = path.posix.normalize(path.posix.join(path.posix.dirname(file), spec));
      const to = domainOf(target);
      if (file.startsWith('src/platform/') && target.startsWith('src/domains')) violations.push(`${file}: the platform imports a domain (${spec})`);
      if (file.startsWith('src/contracts/') && !target.startsWith('src/contracts/')) violations.push(`${file}: contracts import ${spec}`);
      if (from) {
        if (target === 'src/app.ts' || target === 'src/cli.ts' || target === 'src/domains.ts' || target.startsWith('src/seed/')) {
          violations.push(`${file}: a domain imports the composition root (${spec})`);
        }
        if (to && to !== from && target !== `src/domains/${to}/index.ts`) {
          violations.push(`${file}: imports ${to}'s internals (${spec}); use src/domains/${to}/index.ts`);
        }
      }
    }
  }
  return violations;
}
