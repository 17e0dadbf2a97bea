import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type FreshDatabases, freshDatabases, serverUrl } from '../support/databases.ts';

const run = promisify(execFile);

/**
 * A stand-in for PgBouncer in transaction mode (the deployment README's DATABASE_PREPARED_STATEMENTS=false
 * is for): it refuses a startup packet carrying `options`, as PgBouncer does
 * ("unsupported startup parameter: options"), and passes everything else through.
 */
function poolerProxy(target: { host?: string; port: number; socket?: string }): Promise<{ port: number; close(): void; refused: string[] }> {
  const refused: string[] = [];
  const server = net.createServer((client) => {
    client.once('data', (first) => {
      const params = first.subarray(8).toString('latin1').split('\0');
      const keys = params.filter((_, i) => i % 2 === 0);
      if (keys.includes('options')) {
        refused.push(params[params.indexOf('application_name') + 1] ?? '?');
        const msg = Buffer.from('SFATAL\0C08P01\0Munsupported startup parameter: options\0\0', 'latin1');
        const head = Buffer.alloc(5);
        head.write('E', 0, 'latin1');
        head.writeInt32BE(msg.length + 4, 1);
        client.end(Buffer.concat([head, msg]));
        return;
      }
      const upstream = target.socket ? net.connect(target.socket) : net.connect(target.port, target.host);
      upstream.write(first);
      client.pipe(upstream).pipe(client);
      upstream.on('error', () => client.destroy());
      client.on('error', () => upstream.destroy());
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve({ port: (server.address() as net.AddressInfo).port, close: () => server.close(), refused })),
  );
}

let dbs: FreshDatabases;
let proxy: Awaited<ReturnType<typeof poolerProxy>>;
const dataDir = mkdtempSync(path.join(os.tmpdir(), 'bazaar-cli-pooler-'));
beforeAll(async () => {
  dbs = await freshDatabases();
  const u = new URL(serverUrl());
  const port = Number(u.port || 5432);
  const socketDir = u.searchParams.get('host');
  proxy = await poolerProxy(socketDir?.startsWith('/') ? { port, socket: `${socketDir}/.s.PGSQL.${port}` } : { host: u.hostname, port });
});
afterAll(async () => {
  proxy?.close();
  await dbs?.drop();
  rmSync(dataDir, { recursive: true, force: true });
});

it('honours DATABASE_PREPARED_STATEMENTS=false behind a transaction pooler, as the server does (found by a review: every CLI command sent the startup options a pooler refuses)', async () => {
  const u = new URL(serverUrl());
  u.hostname = '127.0.0.1';
  u.port = String(proxy.port);
  u.searchParams.delete('host');
  u.pathname = '/postgres';
  const env = {
    ...process.env,
    DATABASE_URL: u.toString(),
    DATABASE_NAME_PREFIX: dbs.config.databaseNamePrefix,
    DATABASE_PREPARED_STATEMENTS: 'false',
    DATA_DIR: dataDir,
    LOG_LEVEL: 'silent',
  };
  const result = await run('node', ['bin/bazaar.mjs', 'events', 'outbox'], { env, timeout: 60_000 }).then(
    (r) => ({ code: 0, ...r }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );
  expect(result.stderr.trim()).toBe('');
  expect(proxy.refused).toEqual([]);
  expect(result.code).toBe(0);
}, 90_000);
