/**
 * The readers of the catalog-read benchmark, in a worker thread so that the load generator does not
 * share the server's event loop: `connections` keep-alive connections, each sending GET after GET
 * of a random path from the list, for a warm-up and then a measured period.
 */
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { serveRuns } from './worker-runs.ts';

export interface LoadInput {
  /** Base address, e.g. http://127.0.0.1:41234 */
  url: string;
  paths: string[];
  connections: number;
  warmupMs: number;
  durationMs: number;
}

export interface LoadOutput {
  /** Requests completed in the measured period. */
  requests: number;
  elapsedMs: number;
  /** Latency of every measured request, in ms. */
  latenciesMs: Float64Array;
  statuses: Record<string, number>;
  bytes: number;
}

const LATENCIES_MAX = 5_000_000;

async function runLoad(input: LoadInput): Promise<LoadOutput> {
  const base = new URL(input.url);
  const agent = new http.Agent({ keepAlive: true, maxSockets: input.connections, maxFreeSockets: input.connections });
  const latencies = new Float64Array(LATENCIES_MAX);
  const statuses: Record<string, number> = {};
  let measured = 0;
  let bytes = 0;
  let random = 0x9e3779b9;
  const nextPath = () => {
    // xorshift32: cheap, and the same sequence on every run.
    random ^= random << 13;
    random ^= random >>> 17;
    random ^= random << 5;
    return input.paths[(random >>> 0) % input.paths.length] as string;
  };

  const get = (path: string) =>
    new Promise<{ status: number; size: number }>((resolve, reject) => {
      const req = http.request({ host: base.hostname, port: base.port, path, method: 'GET', agent }, (res) => {
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, size }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end();
    });

  const start = performance.now();
  const measureFrom = start + input.warmupMs;
  const stopAt = measureFrom + input.durationMs;
  await Promise.all(
    Array.from({ length: input.connections }, async () => {
      for (;;) {
        const t = performance.now();
        if (t >= stopAt) return;
        const { status, size } = await get(nextPath());
        const done = performance.now();
        if (t >= measureFrom && done <= stopAt) {
          if (measured < LATENCIES_MAX) latencies[measured] = done - t;
          measured++;
          bytes += size;
          statuses[status] = (statuses[status] ?? 0) + 1;
        }
      }
    }),
  );
  agent.destroy();
  return { requests: measured, elapsedMs: input.durationMs, latenciesMs: latencies.slice(0, Math.min(measured, LATENCIES_MAX)), statuses, bytes };
}

serveRuns(runLoad);
