/**
 * The worker side of a load generator (see startWorker in support.ts): every message from the
 * parent is one run's input, answered by one message `{ ok, output | error }`. The worker stays up
 * between runs, so a warm-up run leaves its JIT-compiled code and keep-alive connections to the run
 * measured after it, as a server's pool is warm too.
 */
import { parentPort } from 'node:worker_threads';

export function serveRuns<I, O>(run: (input: I) => Promise<O>): void {
  const port = parentPort;
  if (!port) return;
  port.on('message', (input: I) => {
    run(input).then(
      (output) => port.postMessage({ ok: true, output }),
      (error: Error) => port.postMessage({ ok: false, error: error.stack ?? error.message }),
    );
  });
}
