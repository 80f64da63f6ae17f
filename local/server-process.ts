/**
 * The life of a local server run as a child process: spawn with its output kept, a readiness wait that races the
 * process's exit, and a stop with a grace period. Every server still running is SIGKILLed when Node exits.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';

const STOP_GRACE_MS = 10_000;
const OUTPUT_LINES_KEPT = 40;
const RETRY_EVERY_MS = 200;

/** How a server process ended. */
export interface ProcessExit {
  /** Exit code, or null when a signal ended it (or it never started). */
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Set when the process could not be spawned at all (missing binary, no permission). */
  error?: Error;
}

/** Options of {@link spawnServer}. */
export interface SpawnServerOptions {
  /** Receives every line the server prints. */
  log?: (line: string) => void;
  /** Environment of the process (default `process.env`). */
  env?: NodeJS.ProcessEnv;
  /** Working folder of the process (default the current one). */
  cwd?: string;
  /** Run as this user and group (only a root parent may). */
  uid?: number;
  gid?: number;
}

/** A spawned server process. */
export interface ServerProcess {
  /** Process id, or -1 when it could not be spawned. */
  pid: number;
  /** The server's last output lines, oldest first (a live view). */
  output: readonly string[];
  /** Resolves once the process is gone (or could not be spawned); never rejects. */
  exited: Promise<ProcessExit>;
  /** Stops the process: SIGTERM, then SIGKILL if it is still there after 10 s. Safe to call more than once. */
  stop: () => Promise<void>;
  /** Sends a signal to the process, without waiting (fault tests). */
  kill: (signal: NodeJS.Signals) => void;
}

/** Every server process still running; killed if this process exits without stopping them. */
const running = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Exit handlers cannot wait, so the last resort is an immediate SIGKILL.
  process.on('exit', () => {
    for (const child of running) child.kill('SIGKILL');
  });
}

/** Spawns a server, keeping its last output lines and tracking it for the exit hook. */
export function spawnServer(
  command: string,
  args: readonly string[],
  options: SpawnServerOptions = {},
): ServerProcess {
  const log = options.log ?? (() => undefined);
  const child = spawn(command, args, {
    env: options.env,
    cwd: options.cwd,
    uid: options.uid,
    gid: options.gid,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  installExitHook();
  running.add(child);

  const output: string[] = [];
  const onLine = (line: string): void => {
    output.push(line);
    if (output.length > OUTPUT_LINES_KEPT) output.shift();
    log(line);
  };
  createInterface({ input: child.stdout }).on('line', onLine);
  createInterface({ input: child.stderr }).on('line', onLine);

  // 'close' waits for the output pipes too, so the last lines are in `output`; 'error' without 'close' means the
  // process never started.
  const exited = new Promise<ProcessExit>((resolve) => {
    child.once('close', (code, signal) => {
      running.delete(child);
      resolve({ code, signal });
    });
    child.once('error', (error) => {
      running.delete(child);
      resolve({ code: null, signal: null, error });
    });
  });

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      if (child.pid === undefined || !running.has(child)) return;
      child.kill('SIGTERM');
      const forced = sleep(STOP_GRACE_MS, 'timeout' as const, { ref: false });
      if ((await Promise.race([exited.then(() => 'exited' as const), forced])) === 'timeout') {
        child.kill('SIGKILL');
        await exited;
      }
    })();
    return stopping;
  };

  return {
    pid: child.pid ?? -1,
    output,
    exited,
    stop,
    kill: (signal) => {
      child.kill(signal);
    },
  };
}

/** How {@link waitUntilReady} probes a server and words its failures. */
export interface ReadinessWait {
  /** Epoch milliseconds after which the wait fails. */
  deadline: number;
  /** Resolves when the server is ready; rejects (with the reason) while it is not yet. */
  probe: (remainingMs: number) => Promise<void>;
  /** The error for a server that exited before it was ready. */
  exitedError: (exit: ProcessExit) => Error;
  /** The error for a server still not ready at the deadline; `lastError` is the last probe's rejection. */
  timeoutError: (lastError: unknown) => Error;
}

/**
 * Probes the server until it is ready, every 200 ms. Each probe races the process's exit, so a server that dies is
 * reported at once instead of at the deadline.
 */
export async function waitUntilReady(server: ServerProcess, wait: ReadinessWait): Promise<void> {
  let lastError: unknown;
  let exit: ProcessExit | undefined;
  void server.exited.then((result) => {
    exit = result;
  });
  for (;;) {
    if (exit) throw wait.exitedError(exit);
    const remaining = wait.deadline - Date.now();
    if (remaining <= 0) throw wait.timeoutError(lastError);
    const attempt = wait.probe(remaining).then(() => true);
    attempt.catch(() => undefined); // also observed below; this keeps a late rejection after exit quiet
    try {
      if (await Promise.race([attempt, server.exited.then(() => false)])) return;
    } catch (error) {
      lastError = error;
    }
    if (!exit) await Promise.race([sleep(RETRY_EVERY_MS), server.exited]);
  }
}

/** Resolves once a TCP connection to host:port is accepted (then closes it); rejects with the connect error. */
export function tcpAccepts(host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve();
    });
    socket.once('error', (error) => {
      socket.destroy();
      reject(error);
    });
  });
}

/** Describes how a process ended, for error messages ("exited with code 1", "was killed by SIGKILL"). */
export function describeExit(exit: ProcessExit): string {
  if (exit.error) return `could not be started: ${exit.error.message}`;
  if (exit.signal) return `was killed by ${exit.signal}`;
  return `exited with code ${exit.code}`;
}
