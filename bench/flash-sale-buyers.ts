/**
 * The buyers of the flash-sale benchmark, run in a worker thread so that the load generator does
 * not share the server's event loop: `concurrency` keep-alive connections, each sending one
 * reservation request after another until every buyer has had one attempt. The connections stay
 * open from the warm-up run to the measured one.
 */
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { serveRuns } from './worker-runs.ts';

export interface BuyersInput {
  url: string;
  variantId: string;
  tokens: string[];
  /** Idempotency key prefix, so a warm-up and the measured run never share keys. */
  keyPrefix: string;
  concurrency: number;
}

export interface BuyersOutput {
  statuses: Int16Array;
  latenciesMs: Float64Array;
  /** Finish time of each request, in ms since the first request started. */
  finishedAtMs: Float64Array;
  elapsedMs: number;
  codes: Record<string, number>;
}

/** One keep-alive agent per server and concurrency, kept from one run to the next. */
const agents = new Map<string, http.Agent>();

function agentFor(input: BuyersInput): http.Agent {
  const key = `${input.url} ${input.concurrency}`;
  let agent = agents.get(key);
  if (!agent) {
    agent = new http.Agent({ keepAlive: true, maxSockets: input.concurrency, maxFreeSockets: input.concurrency });
    agents.set(key, agent);
  }
  return agent;
}

async function runBuyers(input: BuyersInput): Promise<BuyersOutput> {
  const target = new URL('/v1/reservations', input.url);
  const agent = agentFor(input);
  const body = JSON.stringify({ items: [{ variantId: input.variantId, quantity: 1 }] });
  const n = input.tokens.length;
  const statuses = new Int16Array(n);
  const latenciesMs = new Float64Array(n);
  const finishedAtMs = new Float64Array(n);
  const codes: Record<string, number> = {};
  let next = 0;

  const send = (i: number) =>
    new Promise<void>((resolve, reject) => {
      const started = performance.now();
      const req = http.request(
        target,
        {
          method: 'POST',
          agent,
          headers: {
            authorization: `Bearer ${input.tokens[i]}`,
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(body),
            'idempotency-key': `${input.keyPrefix}-${i}`,
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const ended = performance.now();
            statuses[i] = res.statusCode ?? 0;
            latenciesMs[i] = ended - started;
            finishedAtMs[i] = ended;
            if (res.statusCode !== 201) {
              const code = (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { code?: string }).code ?? String(res.statusCode);
              codes[code] = (codes[code] ?? 0) + 1;
            }
            resolve();
          });
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(body);
    });

  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: Math.min(input.concurrency, n) }, async () => {
      for (let i = next++; i < n; i = next++) await send(i);
    }),
  );
  const elapsedMs = performance.now() - t0;
  for (let i = 0; i < n; i++) finishedAtMs[i] = (finishedAtMs[i] ?? 0) - t0;
  return { statuses, latenciesMs, finishedAtMs, elapsedMs, codes };
}

serveRuns(runBuyers);
