/** Helpers for tests that run real servers on loopback. */
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';

/** A port that was free a moment ago: listens on port 0, reads the port, closes. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
  return port;
}
