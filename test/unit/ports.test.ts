/**
 * The free ports handed to servers a stack starts: never in the range the OS hands out by itself, never twice in one
 * process, and free to listen on.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { describe, test } from 'node:test';
import { freePort } from '../../services/ports';

function ephemeralRangeStart(): number {
  try {
    return Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
  } catch {
    return 49_152;
  }
}

function listen(port: number): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

const close = (server: net.Server) => new Promise<void>((resolve) => server.close(() => resolve()));

describe('free ports', () => {
  test('come from below the ephemeral range and fit a signed 16-bit column', async () => {
    const ceiling = Math.min(ephemeralRangeStart(), 32_768);
    for (let n = 0; n < 50; n += 1) {
      const port = await freePort();
      assert.ok(port >= 10_000 && port < ceiling, `port ${port} is outside 10000..${ceiling - 1}`);
    }
  });

  test('are never handed out twice in one process, even before anything binds them', async () => {
    const ports = new Set<number>();
    for (let n = 0; n < 400; n += 1) ports.add(await freePort());
    assert.equal(ports.size, 400);
  });

  test('can be listened on at once', async () => {
    for (let n = 0; n < 50; n += 1) await close(await listen(await freePort()));
  });
});
