/**
 * The buyers of the flash-sale benchmark, run in a worker thread so that the load generator does
 * not share the server's event loop: `concurrency` keep-alive connections, each sending one
 * reservation request after another until every buyer has had one attempt. The connections stay
 * open from the warm-up run to the measured one.
 */
import { performance } from 'node:perf_hooks';
import { KeepAliveConnection } from './keep-alive-connection.ts';
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

/** The keep-alive connections per server and concurrency, kept from one run to the next. */
const pools = new Map<string, Promise<KeepAliveConnection[]>>();

function connectionsFor(input: BuyersInput): Promise<KeepAliveConnection[]> {
  const key = `${input.url} ${input.concurrency}`;
  let connections = pools.get(key);
  if (!connections) {
    const { hostname, port } = new URL(input.url);
    connections = Promise.all(Array.from({ length: input.concurrency }, () => KeepAliveConnection.open(hostname, Number(port))));
    pools.set(key, connections);
  }
  return connections;
}

async function runBuyers(input: BuyersInput): Promise<BuyersOutput> {
  const { host } = new URL(input.url);
  const connections = await connectionsFor(input);
  const body = JSON.stringify({ items: [{ variantId: input.variantId, quantity: 1 }] });
  const n = input.tokens.length;
  const statuses = new Int16Array(n);
  const latenciesMs = new Float64Array(n);
  const finishedAtMs = new Float64Array(n);
  const codes: Record<string, number> = {};
  let next = 0;

  const send = async (connection: KeepAliveConnection, i: number) => {
    const request =
      `POST /v1/reservations HTTP/1.1\r\nHost: ${host}\r\nAuthorization: Bearer ${input.tokens[i]}\r\n` +
      `Content-Type: application/json\r\nIdempotency-Key: ${input.keyPrefix}-${i}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
    const started = performance.now();
    const answer = await connection.send(request);
    const ended = performance.now();
    statuses[i] = answer.status;
    latenciesMs[i] = ended - started;
    finishedAtMs[i] = ended;
    if (answer.status !== 201) {
      const code = (JSON.parse(answer.body.toString('utf8')) as { code?: string }).code ?? String(answer.status);
      codes[code] = (codes[code] ?? 0) + 1;
    }
  };

  const t0 = performance.now();
  await Promise.all(
    connections.slice(0, Math.min(input.concurrency, n)).map(async (connection) => {
      for (let i = next++; i < n; i = next++) await send(connection, i);
    }),
  );
  const elapsedMs = performance.now() - t0;
  for (let i = 0; i < n; i++) finishedAtMs[i] = (finishedAtMs[i] ?? 0) - t0;
  return { statuses, latenciesMs, finishedAtMs, elapsedMs, codes };
}

serveRuns(runBuyers);
