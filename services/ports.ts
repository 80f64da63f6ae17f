/**
 * Free TCP ports on loopback, for servers that a stack or a test starts on ports it names (child processes above all).
 *
 * The ports come from below the OS's ephemeral range. A port the OS hands out itself (a listen on port 0, the local end
 * of an outgoing connection) is free for anyone the moment it is released: picked that way and passed to a child
 * process, it can be handed to another process's listen(0) before the child binds it. The Temporal dev server picks
 * its own internal ports so, and a test's server once took one of them first ("bind: address already in use").
 * Below the ephemeral range the OS hands out nothing by itself: a port there is taken only by whoever names it, and
 * this module never names the same port twice in one process.
 */
import { readFileSync } from 'node:fs';
import net from 'node:net';

/** The lowest port handed out here: above the registered ports most local services use. */
const POOL_LOW = 10_000;

/**
 * One past the highest port handed out: the start of the OS's ephemeral range, and never above 32768, so every port
 * also fits a signed 16-bit column (Temporal's cluster_membership.rpc_port is one).
 */
const POOL_END = Math.min(ephemeralRangeStart(), 32_768);

/** Ports this process has handed out; a child may not have bound one yet, so it is never handed out again. */
const handedOut = new Set<number>();

/** The first port of the OS's ephemeral range: Linux says so in /proc; elsewhere the IANA range starts at 49152. */
function ephemeralRangeStart(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    if (Number.isInteger(low) && low > 1024) return low;
  } catch {
    // Not Linux: fall through to the IANA default.
  }
  return 49_152;
}

/** Whether `port` can be listened on at 127.0.0.1 right now. */
function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/**
 * A port free on 127.0.0.1 right now, drawn at random from below the OS's ephemeral range and never handed out before
 * by this process.
 */
export async function freePort(): Promise<number> {
  if (POOL_END - POOL_LOW < 1_000) {
    throw new Error(
      `the OS's ephemeral ports start at ${POOL_END}: too low to leave free ports below them (raise net.ipv4.ip_local_port_range)`,
    );
  }
  for (let attempt = 0; attempt < 500; attempt += 1) {
    const port = POOL_LOW + Math.floor(Math.random() * (POOL_END - POOL_LOW));
    if (handedOut.has(port)) continue;
    if (await canListen(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error(`no free port found between ${POOL_LOW} and ${POOL_END - 1}`);
}
