import net from 'node:net';

/**
 * Tests that need a server a fresh machine may lack (NATS) skip with a clear message when it is
 * absent, and fail instead when REQUIRE_SERVICES=1 (as CI sets).
 */
export async function reachable(url: string, timeoutMs = 1000): Promise<boolean> {
  const u = new URL(url);
  return new Promise((resolve) => {
    const socket = net.connect({ host: u.hostname, port: Number(u.port) || 4222 });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

export async function requireService(name: string, url: string): Promise<boolean> {
  if (await reachable(url)) return true;
  const message = `${name} is not reachable at ${url}`;
  if (process.env.REQUIRE_SERVICES === '1') throw new Error(`${message}, and REQUIRE_SERVICES=1 requires it`);
  console.warn(`SKIPPED: ${message}; start it (or set ${name.toUpperCase()}_URL) to run these tests`);
  return false;
}
